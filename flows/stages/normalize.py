"""The normalize stage: keypoints to torso-normalized, smoothed features, one task per set."""

from __future__ import annotations

from prefect import flow

from formset import catalog
from formset.config import Project
from formset.flows.stages.partitions import run_per_set, stage_task, write_quarantine
from formset.params import NormalizeParams
from formset.storage import read_table, write_table
from formset.tasks.normalize import features_for_samples


@stage_task
def normalize_one_set(project: Project, set_id: str, params: NormalizeParams, prov: dict) -> dict:
    keypoints = read_table(project.path(catalog.KEYPOINTS) / f"{set_id}.parquet", catalog.KEYPOINTS.schema)
    features, rejections = features_for_samples(keypoints, params)
    write_quarantine(project, "normalize", set_id, rejections)
    write_table(features, project.path(catalog.FEATURES) / f"{set_id}.parquet", catalog.FEATURES.schema, prov)
    return {"set_id": set_id, "frames": len(features), "quarantined": len(rejections)}


@flow(name="normalize", log_prints=True)
def normalize_flow(root: str | None = None) -> dict:
    """Normalize keypoints to the torso (Park 2020), smooth, and add deltas and angles."""
    project = Project.find(root)
    return run_per_set(project, "normalize", normalize_one_set, [project.path(catalog.KEYPOINTS)], project.path(catalog.FEATURES))
