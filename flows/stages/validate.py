"""The validate stage: the expectation suites over the built tables, and the quality report.

A critical failure confined to a few samples quarantines them; one that reaches most of the
dataset raises ``ValidationFailed`` after every report is written, so whoever reads them
sees why the build was refused.
"""

from __future__ import annotations

import json

from prefect import flow, get_run_logger

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import drop_stale_partitions, registered_sets, without_quarantined
from formset.quarantine import to_frame
from formset.stage_result import ValidationFailed
from formset.storage import atomic_path, read_table, write_json, write_table
from formset.tasks.quality import build_data_docs, card_markdown, dataset_card, validation_pages
from formset.tasks.validate import ValidationReport, ephemeral_context, sample_warnings, validate_tables


def validate_and_report(project: Project) -> ValidationReport:
    """Run the expectation suites; write their report, the per-sample warnings and the quality
    report (Data Docs and dataset card), all of them also when a critical expectation fails,
    so whoever reads them sees why the build was refused. The Data Docs are kept as they are
    when their ``provenance.json`` matches this build's inputs, params and code."""
    all_params = project.params()
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    keypoints = read_table(project.path(catalog.KEYPOINTS), catalog.KEYPOINTS.schema)
    features = read_table(project.path(catalog.FEATURES), catalog.FEATURES.schema)
    context = ephemeral_context()
    report = validate_tables(samples, keypoints, features, all_params.validate, all_params.exercises, context)
    warnings = to_frame(sample_warnings(report))
    write_json(report.to_dict(), project.path(catalog.VALIDATION_REPORT))
    write_json(report.summary(), project.path(catalog.VALIDATION_SUMMARY))
    write_table(warnings, project.path(catalog.VALIDATION_WARNINGS), catalog.VALIDATION_WARNINGS.schema)
    # One partition per set, empty ones included: the per-set reps stage keys on it.
    rejected = to_frame(report.rejections)
    for set_id in registered_sets(project):
        write_table(rejected[rejected["set_id"] == set_id], project.path(catalog.quarantine_of("validate")) / f"{set_id}.parquet", catalog.QUARANTINE.schema)
    drop_stale_partitions(project.path(catalog.quarantine_of("validate")), set(registered_sets(project)))

    # GX stamps its pages with the run time: rebuilt only when what they show can have changed,
    # so re-running with nothing changed leaves the DVC-tracked docs (and dvc.lock) as they were.
    docs_provenance = provenance.record(
        "validate",
        {"exercises": all_params.exercises, "validate": all_params.validate},
        {
            str(path.relative_to(project.root)): provenance.file_digest(path)
            for directory in (project.path(catalog.SAMPLES), project.path(catalog.KEYPOINTS), project.path(catalog.FEATURES))
            for path in sorted(directory.rglob("*.parquet"))
        },
    )
    recorded = project.path(catalog.DATA_DOCS) / "provenance.json"
    if not recorded.is_file() or json.loads(recorded.read_text()) != docs_provenance:
        with atomic_path(project.path(catalog.DATA_DOCS)) as docs:
            build_data_docs(context, docs)
            write_json(docs_provenance, docs / recorded.name)
    card = dataset_card(
        samples,
        keypoints,
        without_quarantined(features, rejected),
        read_table(project.path(catalog.QUARANTINE), catalog.QUARANTINE.schema),
        warnings,
        report.summary(),
        data_docs=str(project.path(catalog.DATA_DOCS_INDEX).relative_to(project.path(catalog.DATASET_CARD).parent)),
        suite_pages=validation_pages(project.path(catalog.DATA_DOCS), project.path(catalog.DATASET_CARD).parent),
    )
    write_json(card, project.path(catalog.DATASET_CARD).with_suffix(".json"))
    with atomic_path(project.path(catalog.DATASET_CARD)) as tmp:
        tmp.write_text(card_markdown(card))
    return report


@flow(name="validate", log_prints=True)
def validate_flow(root: str | None = None) -> dict:
    """Run the expectation suites and write the quality report; raise ``ValidationFailed`` on a
    critical failure."""
    project = Project.find(root)
    report = validate_and_report(project)
    lines = [
        *report.summary_lines(),
        f"quality report: {project.path(catalog.DATASET_CARD).relative_to(project.root)} (formset card), "
        f"Data Docs: {project.path(catalog.DATA_DOCS_INDEX).relative_to(project.root)}",
    ]
    logger = get_run_logger()
    for line in lines:
        logger.info(line)
    if not report.passed_critical:
        raise ValidationFailed("critical expectations failed:\n" + "\n".join(lines))
    return report.summary()
