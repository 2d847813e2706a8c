"""The ingest stage: every delivered set checked against the input contract and registered.

A set's catalog partitions (samples, files, the set's row) are reused while its file
listing (paths, sizes, modification times) is unchanged; a changed set is re-read whole.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from formset import catalog, provenance
from formset.config import Project
from formset.flows.runner import set_runner
from formset.flows.stages.partitions import drop_stale_partitions, plan_sets, stage_task, work_summary, write_quarantine
from formset.storage import write_table
from formset.tasks.ingest import ingest_set


def listing_fingerprint(set_dir: Path) -> str:
    """sha256 over the relative path, size and modification time of every file in a set.

    Ingest hashes every file's content; this cheap stand-in decides whether it must: an
    unchanged listing means unchanged content, so the set's catalog partitions are reused.
    """
    lines = sorted(
        f"{p.relative_to(set_dir).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n"
        for p in set_dir.rglob("*")
        if (st := p.lstat()) and not p.is_dir()
    )
    return provenance.params_digest(lines)


def register_set(project: Project, set_dir: Path, exercises: tuple[str, ...], prov: dict) -> dict:
    """Ingest one set and write its catalog and quarantine partitions (``sets`` last, as it
    carries the key that says the others are complete)."""
    result = ingest_set(set_dir, exercises)
    set_id = set_dir.name
    write_quarantine(project, "ingest", set_id, result.rejections)
    if result.set_row is None:
        for table in catalog.CATALOG.parts:
            (project.path(table) / f"{set_id}.parquet").unlink(missing_ok=True)
    else:
        for table, rows in ((catalog.SAMPLES, result.samples), (catalog.FILES, result.files), (catalog.SETS, pd.DataFrame([result.set_row]))):
            write_table(rows, project.path(table) / f"{set_id}.parquet", table.schema, prov)
    return {"set_id": set_id, "accepted": len(result.samples), "quarantined": len(result.rejections)}


def ingest_records(project: Project, set_dirs: list[Path], exercises: tuple[str, ...]) -> tuple[dict[str, dict], list[str]]:
    """Provenance record per set dir name, and the sets whose catalog partitions are current."""
    inputs = {d.name: {"listing": listing_fingerprint(d)} for d in set_dirs}
    records, current = plan_sets(project, "ingest", {"exercises": exercises}, inputs, project.path(catalog.SETS))
    return records, [s for s in current if all((project.path(t) / f"{s}.parquet").is_file() for t in (catalog.SAMPLES, catalog.FILES))]


@stage_task
def ingest_one_set(project: Project, set_dir: Path, exercises: tuple[str, ...], prov: dict) -> dict:
    return register_set(project, set_dir, exercises, prov)


@flow(name="ingest", log_prints=True)
def ingest_flow(root: str | None = None) -> dict:
    """Validate every set under ``data/sets`` against the contract and register it."""
    project = Project.find(root)
    all_params = project.params()
    exercises = all_params.exercises
    set_dirs = project.set_dirs()
    records, current = ingest_records(project, set_dirs, exercises)
    with set_runner(all_params.runner) as runner:
        futures = [
            runner.submit(ingest_one_set, {"project": project, "set_dir": d, "exercises": exercises, "prov": records[d.name]})
            for d in set_dirs
            if d.name not in current
        ]
        summaries = [f.result() for f in futures]
    keep = {d.name for d in set_dirs}
    for table in catalog.CATALOG.parts:
        drop_stale_partitions(project.path(table), keep)
    drop_stale_partitions(project.path(catalog.quarantine_of("ingest")), keep)
    get_run_logger().info("ingest: %s", summaries)
    return work_summary(summaries, current)
