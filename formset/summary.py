"""The end-of-run summary people read: what went where, from the tables on disk."""

from __future__ import annotations

import json

import pandas as pd

from formset.config import Project
from formset.schemas import tables
from formset.storage import read_table


def build_summary(project: Project) -> dict:
    """Counts per stage, quarantine reasons, frames per view, validation and test metrics."""
    samples = read_table(project.catalog_dir / "samples", tables.SAMPLES)
    quarantine = read_table(project.quarantine_dir(), tables.QUARANTINE)
    keypoints = read_table(project.keypoints_dir, tables.KEYPOINTS)
    features = read_table(project.features_dir, tables.FEATURES)
    featured = features[["set_id", "sample_id"]].drop_duplicates()
    validation = project.validation_dir / "summary.json"
    metrics = project.metrics_dir / "train.json"
    reasons = (
        quarantine.groupby(["stage", "reason"]).size().rename("samples").reset_index().to_dict("records")
        if len(quarantine)
        else []
    )
    return {
        "sets": int(samples["set_id"].nunique()),
        "samples_ingested": int(len(samples)),
        "samples_with_features": int(len(featured)),
        "samples_quarantined": int(quarantine[["set_id", "sample_id"]].drop_duplicates().shape[0]),
        "quarantine_by_reason": reasons,
        "frames_by_view": {k: int(v) for k, v in keypoints.groupby("view").size().items()},
        "validation": json.loads(validation.read_text()) if validation.exists() else None,
        "test_metrics": json.loads(metrics.read_text()) if metrics.exists() else None,
        "tables": {
            "catalog": str(project.catalog_dir.relative_to(project.root)),
            "quarantine": str(project.quarantine_dir().relative_to(project.root)),
            "keypoints": str(project.keypoints_dir.relative_to(project.root)),
            "features": str(project.features_dir.relative_to(project.root)),
            "validation": str(project.validation_dir.relative_to(project.root)),
            "dataset_card": str(project.dataset_card.relative_to(project.root)),
            "data_docs": str(project.data_docs_index.relative_to(project.root)),
            "joint_scores": str(project.scores_dir.relative_to(project.root)),
            "reps, tempo, kinematics": str(project.reps_dir.relative_to(project.root)),
            "DTW comparisons, rep scores": str(project.compare_dir.relative_to(project.root)),
            "model": str((project.models_dir / "classifier.pt").relative_to(project.root)),
            "metrics": str(metrics.relative_to(project.root)),
        },
    }


#: The stages whose metrics file (``metrics/<stage>.json``) says when, and why, they skipped.
METRICS_STAGES: tuple[str, ...] = ("cluster", "compare", "train")


def skipped_stages(project: Project) -> dict[str, str]:
    """Stage -> why it skipped its work in the build on disk (from its versioned metrics file)."""
    skipped = {}
    for stage in METRICS_STAGES:
        path = project.metrics_dir / f"{stage}.json"
        if path.is_file() and (reason := json.loads(path.read_text()).get("skipped")):
            skipped[stage] = reason
    return skipped


def quarantine_listing(project: Project) -> pd.DataFrame:
    """Every quarantined sample with its stage, reason and detail."""
    return read_table(project.quarantine_dir(), tables.QUARANTINE).sort_values(["set_id", "sample_id", "stage"])
