"""The end-of-run summary people read: what went where, from the tables on disk."""

from __future__ import annotations

import difflib
import json

import pandas as pd

from formset import catalog
from formset.config import Project
from formset.quarantine import FIXES, SEE_DETAIL, SampleError
from formset.stage_result import why_skipped
from formset.storage import read_table
from formset.tasks.ingest import SAMPLES_FILE, parse_samples_csv, read_set_file

#: How many of the closest sample ids an unknown one suggests.
SUGGESTIONS = 3


def build_summary(project: Project) -> dict:
    """Counts per stage, quarantine reasons, frames per view, validation and cross-validation metrics."""
    samples, quarantine, keypoints, features = (
        read_table(project.path(table), table.schema) for table in (catalog.SAMPLES, catalog.QUARANTINE, catalog.KEYPOINTS, catalog.FEATURES)
    )
    featured = features[["set_id", "sample_id"]].drop_duplicates()
    validation = project.path(catalog.VALIDATION_SUMMARY)
    metrics = project.path(catalog.TRAIN_METRICS)
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
            "catalog": catalog.CATALOG.path,
            "quarantine": catalog.QUARANTINE.path,
            "keypoints": catalog.KEYPOINTS.path,
            "features": catalog.FEATURES.path,
            "validation": catalog.VALIDATION.path,
            "dataset_card": catalog.DATASET_CARD.path,
            "data_docs": project.path(catalog.DATA_DOCS_INDEX).relative_to(project.root).as_posix(),
            "joint_scores": catalog.SCORES.path,
            "reps, tempo, kinematics": catalog.REP_TABLES.path,
            "DTW comparisons, rep scores": catalog.COMPARISONS.path,
            "model": catalog.CLASSIFIER.path,
            "predictions": catalog.PREDICTIONS.path,
            "metrics": catalog.TRAIN_METRICS.path,
        },
    }


#: The stages whose metrics file says when, and why, they skipped, and that file.
METRICS_STAGES: dict[str, catalog.Table] = {
    "cluster": catalog.CLUSTER_METRICS,
    "compare": catalog.COMPARE_METRICS,
    "train": catalog.TRAIN_METRICS,
}


def skipped_stages(project: Project) -> dict[str, str]:
    """Stage -> why it skipped its work in the build on disk (from its versioned metrics file)."""
    skipped = {}
    for stage, metrics in METRICS_STAGES.items():
        path = project.path(metrics)
        if path.is_file() and (reason := why_skipped(json.loads(path.read_text()))):
            skipped[stage] = reason
    return skipped


def quarantine_listing(project: Project) -> pd.DataFrame:
    """Every quarantined sample with its stage, reason, detail, value and what to fix.

    Returns
    -------
    pandas.DataFrame
        The ``QUARANTINE`` columns and ``fix`` (``formset.quarantine.FIXES`` of the reason),
        sorted by set, sample and stage.
    """
    listing = read_table(project.path(catalog.QUARANTINE), catalog.QUARANTINE.schema).sort_values(["set_id", "sample_id", "stage"])
    return listing.assign(fix=listing["reason"].map(FIXES).fillna(SEE_DETAIL))


def flagged_listing(project: Project) -> pd.DataFrame:
    """Every sample-view the last validation flagged (kept in the dataset), with what to check.

    Returns
    -------
    pandas.DataFrame
        The ``QUARANTINE`` columns of the validation warnings (``catalog.VALIDATION_WARNINGS``)
        and ``fix``, sorted by set, sample and reason.
    """
    listing = read_table(project.path(catalog.VALIDATION_WARNINGS), catalog.VALIDATION_WARNINGS.schema)
    return listing.sort_values(["set_id", "sample_id", "reason"]).assign(fix=listing["reason"].map(FIXES).fillna(SEE_DETAIL))


def unknown_sample(project: Project, set_id: str, sample_id: str) -> str | None:
    """Why ``set_id/sample_id`` is not a sample of the last build, saying what to do.

    Parameters
    ----------
    project
        The project.
    set_id, sample_id
        The sample as a person named it.

    Returns
    -------
    str or None
        None when the catalog of the last build has the sample. Otherwise one of: it (or its
        whole set) was quarantined at ingest, with the detail and the fix; it is in
        ``data/sets`` but not built yet (run ``formset run``); there is no such sample, with
        the closest ids that exist (built or delivered) and where the ids are listed.
    """
    reference = f"{set_id}/{sample_id}"
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    built = set(samples["set_id"] + "/" + samples["sample_id"])
    if reference in built:
        return None
    listing = quarantine_listing(project)
    rejected = listing[(listing["set_id"] == set_id) & (listing["sample_id"].isna() | (listing["sample_id"] == sample_id))]
    if len(rejected):
        record = rejected.iloc[0]
        what = f"set {set_id}" if pd.isna(record["sample_id"]) else reference
        return (
            f"{what} was quarantined at {record['stage']} ({record['reason']}): {record['detail'].rstrip('.')}. "
            f"To fix: {record['fix']}. `formset quarantine` lists every quarantined sample."
        )
    delivered = _delivered_samples(project)
    if reference in delivered:
        return f"{reference} is in {project.path(catalog.DELIVERED_SETS).relative_to(project.root)} but not built yet: run `formset run`."
    known = sorted(built | delivered)
    if not known:
        return f"no sample {reference!r}: the project has no set yet (`formset add-set DIR` adds one)."
    closest = difflib.get_close_matches(reference, known, n=SUGGESTIONS)
    if closest:
        others = f"{', '.join(closest[:-1])} or " if len(closest) > 1 else ""
        suggestion = f"did you mean {others}{closest[-1]}?"
    else:
        suggestion = "no sample id is close to it."
    listed_set = set_id if any(ref.startswith(f"{set_id}/") for ref in known) else "<set_id>"
    return (
        f"no sample {reference!r}: {suggestion} `formset sets` lists the sets; the sample ids of a set are in "
        f"{catalog.SAMPLES.path}/{listed_set}.parquet (built) and "
        f"{project.path(catalog.DELIVERED_SETS).relative_to(project.root)}/{listed_set}/{SAMPLES_FILE} (delivered)."
    )


def _delivered_samples(project: Project) -> set[str]:
    """``set_id/sample_id`` of every row of the samples.csv files in ``data/sets`` that can be read."""
    delivered = set()
    for set_dir in project.set_dirs():
        try:
            cells = parse_samples_csv(read_set_file(set_dir / SAMPLES_FILE, "missing_samples_csv", "bad_samples_csv")).cells
        except SampleError:
            continue  # an unreadable samples.csv names no sample; ingest quarantines its set
        delivered |= {f"{set_dir.name}/{sample_id}" for sample_id in cells["sample_id"] if sample_id}
    return delivered
