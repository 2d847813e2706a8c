"""The keypoints stage: every accepted sample's views read into the canonical skeleton.

One task per video (the costly unit: seconds to minutes of pose model each) and one per
``runner.samples_per_task`` samples of a set for their file sources (Kinect, OpenPose),
all through the task runner of ``params.yaml: runner``; each set's partition is assembled
in the flow from the tasks' outcomes.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow

from formset import catalog
from formset.config import Project
from formset.flows.runner import batches, task_runner
from formset.flows.stages.partitions import (
    drop_stale_partitions,
    plan_sets,
    registered_sets,
    stage_task,
    work_summary,
    write_quarantine,
)
from formset.params import KeypointsParams, plain
from formset.schemas.series import KeypointSeries
from formset.storage import read_table, write_table
from formset.tasks.keypoints import assemble_samples, is_video_column, read_view_outcome, source_columns
from formset.tasks.pose.backends import get_backend


@stage_task
def keypoints_one_video(project: Project, sample: dict, column: str, params: KeypointsParams):
    """One video view of one sample through the pose backend: ``KeypointSeries`` or ``Rejection``."""
    backend = get_backend(params.pose_backend, plain(params))
    return read_view_outcome(sample, column, project.path(catalog.DELIVERED_SETS) / sample["set_id"], params, backend)


@stage_task
def keypoints_some_samples(project: Project, samples: list[dict], params: KeypointsParams) -> dict:
    """The file-sourced views of some samples of one set: sample_id -> view -> series or ``Rejection``."""
    return {
        sample["sample_id"]: {
            view: read_view_outcome(sample, column, project.path(catalog.DELIVERED_SETS) / sample["set_id"], params, None)
            for view, column in source_columns(sample).items()
            if not is_video_column(column)
        }
        for sample in samples
    }


def _write_keypoints_set(project: Project, set_id: str, samples: pd.DataFrame, outcomes: dict, prov: dict) -> dict:
    keypoints, rejections = assemble_samples(samples, outcomes)
    # What the readers corrected (e.g. OpenPose scores above 1), per sample/view, travels with
    # the partition; it is not part of the key.
    notes = {
        f"{sample_id}/{view}": outcome.read_notes
        for sample_id, views in outcomes.items()
        for view, outcome in views.items()
        if isinstance(outcome, KeypointSeries) and outcome.read_notes
    }
    write_quarantine(project, "keypoints", set_id, rejections)
    write_table(keypoints, project.path(catalog.KEYPOINTS) / f"{set_id}.parquet", catalog.KEYPOINTS.schema, {**prov, "read_notes": notes})
    return {"set_id": set_id, "frames": len(keypoints), "quarantined": len(rejections)}


def keypoints_inputs(samples: pd.DataFrame) -> dict[str, str]:
    """What a set's keypoints are made from: per sample, its files' content key and the
    frame rate and Kinect units they are read with (labels are not inputs: a relabel
    does not redo pose extraction)."""
    made_from = samples["content_key"] + " fps=" + samples["fps"].astype(str) + " units=" + samples["kinect_units"]
    return dict(zip(samples["sample_id"], made_from))


def _video_views(samples: dict[str, pd.DataFrame]):
    """``(set_id, sample, view, column)`` of every view read from a video, sample as a dict."""
    for set_id, set_samples in samples.items():
        for sample in set_samples.to_dict("records"):
            for view, column in source_columns(sample).items():
                if is_video_column(column):
                    yield set_id, sample, view, column


@flow(name="keypoints", log_prints=True)
def keypoints_flow(root: str | None = None) -> dict:
    """Read every accepted sample's keypoint sources into the canonical skeleton."""
    project = Project.find(root)
    all_params = project.params()
    params = all_params.keypoints
    set_ids = registered_sets(project)
    samples = {s: read_table(project.path(catalog.SAMPLES) / f"{s}.parquet", catalog.SAMPLES.schema) for s in set_ids}
    records, current = plan_sets(
        project, "keypoints", params, {s: keypoints_inputs(samples[s]) for s in set_ids}, project.path(catalog.KEYPOINTS)
    )
    todo = {s: samples[s] for s in set_ids if s not in current}
    with task_runner(all_params.runner) as runner:
        # Videos first: they are the long tasks, so every worker starts on one at once.
        videos = {s: [] for s in todo}
        for set_id, sample, view, column in _video_views(todo):
            future = runner.submit(
                keypoints_one_video, {"project": project, "sample": sample, "column": column, "params": params}
            )
            videos[set_id].append((sample["sample_id"], view, future))
        files = {
            s: [
                runner.submit(keypoints_some_samples, {"project": project, "samples": batch, "params": params})
                for batch in batches(todo[s].to_dict("records"), all_params.runner.samples_per_task)
            ]
            for s in todo
        }
        # Each set is written as soon as its tasks are done, and its outcomes let go: memory
        # holds a few sets' keypoints, not the whole dataset's.
        summaries = []
        for set_id in todo:
            outcomes = {}
            for future in files.pop(set_id):
                outcomes.update(future.result())
            for sample_id, view, future in videos.pop(set_id):
                outcomes[sample_id][view] = future.result()
            summaries.append(_write_keypoints_set(project, set_id, todo[set_id], outcomes, records[set_id]))
    drop_stale_partitions(project.path(catalog.KEYPOINTS), set(set_ids))
    drop_stale_partitions(project.path(catalog.quarantine_of("keypoints")), set(set_ids))
    return work_summary(summaries, current)
