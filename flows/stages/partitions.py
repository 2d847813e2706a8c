"""How the stage flows read and write their tables: the wiring every stage shares.

Tables are folders of per-set Parquet partitions (``formset.catalog``). A per-set stage
plans which sets' partitions are current (their provenance key: the stage's params, code and
the set's inputs) and submits one Prefect task per other set on the task runner of
``params.yaml: runner``; a whole-dataset stage reads the features validation let through
and writes its outputs as one partition per set. Tasks pass paths and small summaries,
never whole tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from formset import catalog, provenance
from formset.config import Project
from formset.flows.runner import set_runner
from formset.incremental import code_digest, is_current
from formset.quarantine import Rejection, to_frame
from formset.stage_result import COMPUTED, REUSED, SKIPPED
from formset.storage import atomic_path, read_table, write_table

# Stage tasks pass paths and small summaries, never whole tables: Prefect would otherwise
# hash and hold every DataFrame. Incremental reuse is decided by content keys, not by
# Prefect's run-scoped cache.
stage_task = task(cache_policy=NO_CACHE, retries=0)


def write_quarantine(project: Project, stage: str, set_id: str, rejections: list[Rejection]) -> None:
    write_table(to_frame(rejections), project.path(catalog.quarantine_of(stage)) / f"{set_id}.parquet", catalog.QUARANTINE.schema)


def drop_stale_partitions(directory: Path, keep: set[str]) -> list[str]:
    """Remove ``<set_id>.parquet`` partitions of sets that are no longer in the dataset."""
    removed = []
    if directory.is_dir():
        for part in directory.glob("*.parquet"):
            if part.stem not in keep:
                part.unlink()
                removed.append(part.stem)
    return removed


def registered_sets(project: Project) -> list[str]:
    return sorted(p.stem for p in project.path(catalog.SETS).glob("*.parquet"))


def write_per_set(project: Project, rows: pd.DataFrame, table: catalog.Table, prov: dict) -> None:
    """A whole-dataset stage's table written as one partition per set of the dataset (empty
    for a set without rows), partitions of sets no longer there removed."""
    set_ids = registered_sets(project)
    directory = project.path(table)
    for set_id in set_ids:
        write_table(rows[rows["set_id"] == set_id], directory / f"{set_id}.parquet", table.schema, prov)
    drop_stale_partitions(directory, set(set_ids))


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """A plot's CSV for ``dvc plots``, written atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def plan_sets(
    project: Project, stage: str, params: object, inputs: dict[str, dict], out_dir: Path, companion_dirs: list[Path] | None = None
) -> tuple[dict[str, dict], list[str]]:
    """The provenance record each set's partition gets, and the sets whose partition is
    already current (same key: same params, code and inputs) and is not recomputed.

    ``companion_dirs`` hold what a set's task writes before its ``out_dir`` partition (by
    default its quarantine partition); a set missing one of them is recomputed."""
    code = code_digest(project, stage)
    companion_dirs = [project.path(catalog.quarantine_of(stage))] if companion_dirs is None else companion_dirs
    records = {s: provenance.record(stage, params, set_inputs, code) for s, set_inputs in inputs.items()}
    current = [
        s for s, rec in records.items()
        if is_current(out_dir / f"{s}.parquet", rec["key"], *(d / f"{s}.parquet" for d in companion_dirs))
    ]
    return records, current


def partition_digests(directory: Path) -> dict[str, str]:
    """sha256 of every partition of a table directory, by file name: a global stage's inputs."""
    return {p.name: provenance.file_digest(p) for p in sorted(directory.glob("*.parquet"))}


def partition_digests_in(project: Project, table: catalog.Table) -> dict[str, str]:
    """``partition_digests`` of a table, each named ``<table folder>/<partition>``
    (``kinematics/<set_id>.parquet``): a global stage's inputs of one table."""
    return {f"{table.file_name}/{name}": digest for name, digest in partition_digests(project.path(table)).items()}


def gated_digests(project: Project) -> dict[str, str]:
    """The inputs of ``gated_features``: every features and validation quarantine partition."""
    return {
        f"{directory.parent.name}/{directory.name}/{name}": digest
        for directory in (project.path(catalog.FEATURES), project.path(catalog.quarantine_of("validate")))
        for name, digest in partition_digests(directory).items()
    }


def work_summary(summaries: list[dict], reused: list[str]) -> dict:
    """A per-set stage's summary: what it computed (per set) and which sets it reused."""
    return {COMPUTED: summaries, REUSED: sorted(reused)}


def run_per_set(
    project: Project,
    stage: str,
    one_set,
    input_dirs: list[Path],
    out_dir: Path,
    companion_dirs: list[Path] | None = None,
    derived_inputs: dict[str, dict[str, str]] | None = None,
) -> dict:
    """Submit ``one_set`` for every registered set whose ``out_dir`` partition is not current
    (in parallel through the task runner), then drop the partitions of sets no longer in
    the catalog. A set's inputs are its partitions in ``input_dirs``, identified by sha256,
    and its entry of ``derived_inputs`` (name -> digest of what the set's task reads of a
    dataset-wide table)."""
    all_params = project.params()
    params = getattr(all_params, stage)
    set_ids = registered_sets(project)
    derived_inputs = derived_inputs or {}
    inputs = {
        s: {**{d.name: provenance.file_digest(d / f"{s}.parquet") for d in input_dirs}, **derived_inputs.get(s, {})}
        for s in set_ids
    }
    companion_dirs = [project.path(catalog.quarantine_of(stage))] if companion_dirs is None else companion_dirs
    records, current = plan_sets(project, stage, params, inputs, out_dir, companion_dirs)
    todo = [s for s in set_ids if s not in current]
    with set_runner(all_params.runner) as runner:
        futures = [
            runner.submit(one_set, {"project": project, "set_id": s, "params": params, "prov": records[s]}) for s in todo
        ]
        summaries = [f.result() for f in futures]
    for directory in [out_dir, *companion_dirs]:
        drop_stale_partitions(directory, set(set_ids))
    return work_summary(summaries, current)


def without_quarantined(features: pd.DataFrame, quarantined: pd.DataFrame) -> pd.DataFrame:
    """``features`` less the rows of the samples in ``quarantined`` (``QUARANTINE`` rows)."""
    keys = ["set_id", "sample_id"]
    if quarantined.empty:
        return features
    gone = pd.MultiIndex.from_frame(quarantined[keys].drop_duplicates())
    return features[~pd.MultiIndex.from_frame(features[keys]).isin(gone)].reset_index(drop=True)


def gated_features(project: Project, set_id: str | None = None) -> pd.DataFrame:
    """The features of the samples validation let through (of one set, or of all): what the
    stages after validate read."""
    suffix = f"{set_id}.parquet" if set_id else ""
    features = read_table(project.path(catalog.FEATURES) / suffix, catalog.FEATURES.schema)
    return without_quarantined(features, read_table(project.path(catalog.quarantine_of("validate")) / suffix, catalog.QUARANTINE.schema))


def skipped(stage: str, reason: str, **figures) -> dict:
    """A stage's summary when the dataset does not allow its work: why, and what it did write."""
    get_run_logger().warning("%s skipped: %s", stage, reason)
    return {SKIPPED: reason, **figures}



#: The key of a sample.
SAMPLE_COLUMNS: list[str] = ["set_id", "sample_id"]


def exercise_predictions(project: Project, set_id: str | None = None) -> pd.DataFrame:
    """Exercise recognition's out-of-fold predictions (of one set, or of all)."""
    return read_table(project.path(catalog.EXERCISE_PREDICTIONS) / (f"{set_id}.parquet" if set_id else ""), catalog.EXERCISE_PREDICTIONS.schema)
