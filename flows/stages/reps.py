"""The reps stage: every recording segmented into reps, with tempo feedback and per-frame
angles and moment arms (what a coach sees), one task per set after validation."""

from __future__ import annotations

import json

import pandas as pd
from prefect import flow, get_run_logger

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import (
    exercise_predictions,
    gated_features,
    registered_sets,
    run_per_set,
    stage_task,
)
from formset.params import RepsParams
from formset.stage_result import why_skipped
from formset.storage import read_table, write_table
from formset.tasks.reps import named_otherwise, reps_for_samples

#: The tables the reps stage writes per set, in the order it writes them: recordings last, as
#: its partition carries the key that marks the set as done.
REPS_WRITE_ORDER: tuple[catalog.Table, ...] = (catalog.KINEMATICS, catalog.REPS, catalog.RECORDINGS)


@stage_task
def reps_one_set(project: Project, set_id: str, params: RepsParams, prov: dict) -> dict:
    samples = read_table(project.path(catalog.SAMPLES) / f"{set_id}.parquet", catalog.SAMPLES.schema)
    features = gated_features(project, set_id)
    quarantine = pd.concat(
        [
            read_table(project.path(catalog.quarantine_of(stage)) / f"{set_id}.parquet", catalog.QUARANTINE.schema)
            for stage in ("keypoints", "normalize", "validate")
        ],
        ignore_index=True,
    )
    recognized = exercise_predictions(project, set_id)
    kinematics, reps, recordings = reps_for_samples(features, samples, quarantine, params, recognized)
    for table, rows in zip(REPS_WRITE_ORDER, (kinematics, reps, recordings)):
        write_table(rows, project.path(table) / f"{set_id}.parquet", table.schema, prov)
    return {"set_id": set_id, "reps": len(reps), "recordings_without_reps": int((recordings["status"] != "ok").sum())}


@flow(name="reps", log_prints=True)
def reps_flow(root: str | None = None) -> dict:
    """Segment every recording into reps; tempo feedback; per-frame angles and moment arms.
    A sample exercise recognition names as another exercise is ``wrong_exercise``."""
    project = Project.find(root)
    tables_dirs = [project.path(table) for table in REPS_WRITE_ORDER]
    inputs = [project.path(catalog.FEATURES), project.path(catalog.SAMPLES), project.path(catalog.quarantine_of("validate"))]
    # A set's reps depend on recognition's verdicts on its samples, not on every probability:
    # a set added elsewhere leaves them, and this set's reps, as they were.
    min_margin = project.params().reps.recognition_min_margin
    verdicts = {
        set_id: {"exercise_verdicts": provenance.params_digest(named_otherwise(exercise_predictions(project, set_id), min_margin)
                                                               .to_dict("records"))}
        for set_id in registered_sets(project)
    }  # fmt: skip
    work = run_per_set(project, "reps", reps_one_set, inputs, tables_dirs[-1], tables_dirs[:-1], verdicts)
    recognition = json.loads(project.path(catalog.EXERCISE_METRICS).read_text())
    if (skipped := why_skipped(recognition)) is not None:
        work["exercise_check"] = f"trunk posture only: exercise recognition skipped ({skipped})"
        get_run_logger().info("reps: wrong_exercise from the %s", work["exercise_check"])
    return work
