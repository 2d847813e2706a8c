"""One Prefect flow per pipeline stage: the wiring, nothing else.

Each stage flow reads the tables an earlier stage declared (``dvc.yaml`` lists the same
paths as deps and outs), runs the pure functions of ``formset.tasks`` once per labeled set
(a Prefect task each, so sets run in parallel on the runner of ``params.yaml: runner``; the
keypoints stage runs one task per video and one per ``runner.samples_per_task`` samples of
file-sourced views), and writes one
Parquet partition per set, atomically. ``formset stage <name>`` runs one of them (that is
what ``dvc repro`` calls); ``flows.build.build_dataset`` runs them all in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from formset import catalog, provenance
from formset.config import Project
from formset.flows import registry
from formset.flows.runner import DEFAULT_SETTINGS, batches, set_runner, task_runner
from formset.incremental import code_digest, is_current
from formset.quarantine import Rejection, StageSkipped, to_frame
from formset.schemas.series import KeypointSeries
from formset.stage_result import COMPUTED, REUSED, SKIPPED, why_skipped
from formset.storage import atomic_path, read_table, write_json, write_table

if TYPE_CHECKING:
    from formset.tasks.validate import ValidationReport

# Stage tasks pass paths and small summaries, never whole tables: Prefect would otherwise
# hash and hold every DataFrame. Incremental reuse is decided by content keys, not by
# Prefect's run-scoped cache.
stage_task = task(cache_policy=NO_CACHE, retries=0)


class ValidationFailed(RuntimeError):
    """A critical expectation failed: nothing downstream runs and nothing is published."""


def _write_quarantine(project: Project, stage: str, set_id: str, rejections: list[Rejection]) -> None:
    write_table(to_frame(rejections), project.quarantine_dir(stage) / f"{set_id}.parquet", catalog.QUARANTINE.schema)


def _drop_stale_partitions(directory: Path, keep: set[str]) -> list[str]:
    """Remove ``<set_id>.parquet`` partitions of sets that are no longer in the dataset."""
    removed = []
    if directory.is_dir():
        for part in directory.glob("*.parquet"):
            if part.stem not in keep:
                part.unlink()
                removed.append(part.stem)
    return removed


def _set_ids(project: Project) -> list[str]:
    return sorted(p.stem for p in project.path(catalog.SETS).glob("*.parquet"))


def _write_per_set(project: Project, rows: pd.DataFrame, table: catalog.Table, prov: dict) -> None:
    """A whole-dataset stage's table written as one partition per set of the dataset (empty
    for a set without rows), partitions of sets no longer there removed."""
    set_ids = _set_ids(project)
    directory = project.path(table)
    for set_id in set_ids:
        write_table(rows[rows["set_id"] == set_id], directory / f"{set_id}.parquet", table.schema, prov)
    _drop_stale_partitions(directory, set(set_ids))


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    """A plot's CSV for ``dvc plots``, written atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _plan_sets(
    project: Project, stage: str, params: dict, inputs: dict[str, dict], out_dir: Path, companion_dirs: list[Path] | None = None
) -> tuple[dict[str, dict], list[str]]:
    """The provenance record each set's partition gets, and the sets whose partition is
    already current (same key: same params, code and inputs) and is not recomputed.

    ``companion_dirs`` hold what a set's task writes before its ``out_dir`` partition (by
    default its quarantine partition); a set missing one of them is recomputed."""
    code = code_digest(project, stage)
    companion_dirs = [project.quarantine_dir(stage)] if companion_dirs is None else companion_dirs
    records = {s: provenance.record(stage, params, set_inputs, code) for s, set_inputs in inputs.items()}
    current = [
        s for s, rec in records.items()
        if is_current(out_dir / f"{s}.parquet", rec["key"], *(d / f"{s}.parquet" for d in companion_dirs))
    ]
    return records, current


def _partition_digests(directory: Path) -> dict[str, str]:
    """sha256 of every partition of a table directory, by file name: a global stage's inputs."""
    return {p.name: provenance.file_digest(p) for p in sorted(directory.glob("*.parquet"))}


def _partition_digests_in(project: Project, table: catalog.Table) -> dict[str, str]:
    """``_partition_digests`` of a table, each named ``<table folder>/<partition>``
    (``kinematics/<set_id>.parquet``): a global stage's inputs of one table."""
    return {f"{table.file_name}/{name}": digest for name, digest in _partition_digests(project.path(table)).items()}


def _gated_digests(project: Project) -> dict[str, str]:
    """The inputs of ``gated_features``: every features and validation quarantine partition."""
    return {
        f"{directory.parent.name}/{directory.name}/{name}": digest
        for directory in (project.features_dir, project.quarantine_dir("validate"))
        for name, digest in _partition_digests(directory).items()
    }


def _work(summaries: list[dict], reused: list[str]) -> dict:
    """A per-set stage's summary: what it computed (per set) and which sets it reused."""
    return {COMPUTED: summaries, REUSED: sorted(reused)}


def _run_per_set(
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
    params = all_params[stage]
    set_ids = _set_ids(project)
    derived_inputs = derived_inputs or {}
    inputs = {
        s: {**{d.name: provenance.file_digest(d / f"{s}.parquet") for d in input_dirs}, **derived_inputs.get(s, {})}
        for s in set_ids
    }
    companion_dirs = [project.quarantine_dir(stage)] if companion_dirs is None else companion_dirs
    records, current = _plan_sets(project, stage, params, inputs, out_dir, companion_dirs)
    todo = [s for s in set_ids if s not in current]
    with set_runner(all_params.get("runner")) as runner:
        futures = [
            runner.submit(one_set, {"project": project, "set_id": s, "params": params, "prov": records[s]}) for s in todo
        ]
        summaries = [f.result() for f in futures]
    for directory in [out_dir, *companion_dirs]:
        _drop_stale_partitions(directory, set(set_ids))
    return _work(summaries, current)


def _without_quarantined(features: pd.DataFrame, quarantined: pd.DataFrame) -> pd.DataFrame:
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
    features = read_table(project.features_dir / suffix, catalog.FEATURES.schema)
    return _without_quarantined(features, read_table(project.quarantine_dir("validate") / suffix, catalog.QUARANTINE.schema))


def _skipped(stage: str, reason: str, **figures) -> dict:
    """A stage's summary when the dataset does not allow its work: why, and what it did write."""
    get_run_logger().warning("%s skipped: %s", stage, reason)
    return {SKIPPED: reason, **figures}


# ---------------------------------------------------------------- ingest
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


def register_set(project: Project, set_dir: Path, exercises: list[str], prov: dict) -> dict:
    """Ingest one set and write its catalog and quarantine partitions (``sets`` last, as it
    carries the key that says the others are complete)."""
    from formset.tasks.ingest import ingest_set

    result = ingest_set(set_dir, exercises)
    set_id = set_dir.name
    _write_quarantine(project, "ingest", set_id, result.rejections)
    if result.set_row is None:
        for table in catalog.CATALOG.parts:
            (project.path(table) / f"{set_id}.parquet").unlink(missing_ok=True)
    else:
        for table, rows in ((catalog.SAMPLES, result.samples), (catalog.FILES, result.files), (catalog.SETS, pd.DataFrame([result.set_row]))):
            write_table(rows, project.path(table) / f"{set_id}.parquet", table.schema, prov)
    return {"set_id": set_id, "accepted": len(result.samples), "quarantined": len(result.rejections)}


def ingest_records(project: Project, set_dirs: list[Path], exercises: list[str]) -> tuple[dict[str, dict], list[str]]:
    """Provenance record per set dir name, and the sets whose catalog partitions are current."""
    inputs = {d.name: {"listing": listing_fingerprint(d)} for d in set_dirs}
    records, current = _plan_sets(project, "ingest", {"exercises": exercises}, inputs, project.path(catalog.SETS))
    return records, [s for s in current if all((project.path(t) / f"{s}.parquet").is_file() for t in (catalog.SAMPLES, catalog.FILES))]


@stage_task
def ingest_one_set(project: Project, set_dir: Path, exercises: list[str], prov: dict) -> dict:
    return register_set(project, set_dir, exercises, prov)


@flow(name="ingest", log_prints=True)
def ingest_flow(root: str | None = None) -> dict:
    """Validate every set under ``data/sets`` against the contract and register it."""
    project = Project.find(root)
    all_params = project.params()
    exercises = all_params["exercises"]
    set_dirs = project.set_dirs()
    records, current = ingest_records(project, set_dirs, exercises)
    with set_runner(all_params.get("runner")) as runner:
        futures = [
            runner.submit(ingest_one_set, {"project": project, "set_dir": d, "exercises": exercises, "prov": records[d.name]})
            for d in set_dirs
            if d.name not in current
        ]
        summaries = [f.result() for f in futures]
    keep = {d.name for d in set_dirs}
    for table in catalog.CATALOG.parts:
        _drop_stale_partitions(project.path(table), keep)
    _drop_stale_partitions(project.quarantine_dir("ingest"), keep)
    get_run_logger().info("ingest: %s", summaries)
    return _work(summaries, current)


# ---------------------------------------------------------------- keypoints
# One task per video (the costly unit: seconds to minutes of pose model each) and one per
# ``runner.samples_per_task`` samples of a set for their file sources (Kinect / OpenPose, fast),
# all through the task runner of params.yaml ``runner``; each set's partition is assembled in
# the flow from the tasks' outcomes.
@stage_task
def keypoints_one_video(project: Project, sample: dict, column: str, params: dict):
    """One video view of one sample through the pose backend: ``KeypointSeries`` or ``Rejection``."""
    from formset.tasks.keypoints import read_view_outcome
    from formset.tasks.pose.backends import get_backend

    backend = get_backend(params["pose_backend"], params)
    return read_view_outcome(sample, column, project.sets_dir / sample["set_id"], params, backend)


@stage_task
def keypoints_some_samples(project: Project, samples: list[dict], params: dict) -> dict:
    """The file-sourced views of some samples of one set: sample_id -> view -> series or ``Rejection``."""
    from formset.tasks.keypoints import is_video_column, read_view_outcome, source_columns

    return {
        sample["sample_id"]: {
            view: read_view_outcome(sample, column, project.sets_dir / sample["set_id"], params, None)
            for view, column in source_columns(sample).items()
            if not is_video_column(column)
        }
        for sample in samples
    }


def _write_keypoints_set(project: Project, set_id: str, samples: pd.DataFrame, outcomes: dict, prov: dict) -> dict:
    from formset.tasks.keypoints import assemble_samples

    keypoints, rejections = assemble_samples(samples, outcomes)
    # What the readers corrected (e.g. OpenPose scores above 1), per sample/view, travels with
    # the partition; it is not part of the key.
    notes = {
        f"{sample_id}/{view}": outcome.read_notes
        for sample_id, views in outcomes.items()
        for view, outcome in views.items()
        if isinstance(outcome, KeypointSeries) and outcome.read_notes
    }
    _write_quarantine(project, "keypoints", set_id, rejections)
    write_table(keypoints, project.keypoints_dir / f"{set_id}.parquet", catalog.KEYPOINTS.schema, {**prov, "read_notes": notes})
    return {"set_id": set_id, "frames": len(keypoints), "quarantined": len(rejections)}


def keypoints_inputs(samples: pd.DataFrame) -> dict[str, str]:
    """What a set's keypoints are made from: per sample, its files' content key and the
    frame rate and Kinect units they are read with (labels are not inputs: a relabel
    does not redo pose extraction)."""
    made_from = samples["content_key"] + " fps=" + samples["fps"].astype(str) + " units=" + samples["kinect_units"]
    return dict(zip(samples["sample_id"], made_from))


def _video_views(samples: dict[str, pd.DataFrame]):
    """``(set_id, sample, view, column)`` of every view read from a video, sample as a dict."""
    from formset.tasks.keypoints import is_video_column, source_columns

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
    params = all_params["keypoints"]
    set_ids = _set_ids(project)
    samples = {s: read_table(project.path(catalog.SAMPLES) / f"{s}.parquet", catalog.SAMPLES.schema) for s in set_ids}
    records, current = _plan_sets(
        project, "keypoints", params, {s: keypoints_inputs(samples[s]) for s in set_ids}, project.keypoints_dir
    )
    todo = {s: samples[s] for s in set_ids if s not in current}
    runner_params = {**DEFAULT_SETTINGS, **(all_params.get("runner") or {})}
    with task_runner(runner_params) as runner:
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
                for batch in batches(todo[s].to_dict("records"), int(runner_params["samples_per_task"]))
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
    _drop_stale_partitions(project.keypoints_dir, set(set_ids))
    _drop_stale_partitions(project.quarantine_dir("keypoints"), set(set_ids))
    return _work(summaries, current)


# ---------------------------------------------------------------- normalize
@stage_task
def normalize_one_set(project: Project, set_id: str, params: dict, prov: dict) -> dict:
    from formset.tasks.normalize import features_for_samples

    keypoints = read_table(project.keypoints_dir / f"{set_id}.parquet", catalog.KEYPOINTS.schema)
    features, rejections = features_for_samples(keypoints, params)
    _write_quarantine(project, "normalize", set_id, rejections)
    write_table(features, project.features_dir / f"{set_id}.parquet", catalog.FEATURES.schema, prov)
    return {"set_id": set_id, "frames": len(features), "quarantined": len(rejections)}


@flow(name="normalize", log_prints=True)
def normalize_flow(root: str | None = None) -> dict:
    """Normalize keypoints to the torso (Park 2020), smooth, and add deltas and angles."""
    project = Project.find(root)
    return _run_per_set(project, "normalize", normalize_one_set, [project.keypoints_dir], project.features_dir)


# ---------------------------------------------------------------- validate
def validate_and_report(project: Project) -> ValidationReport:
    """Run the expectation suites; write their report, the per-sample warnings and the quality
    report (Data Docs and dataset card), all of them also when a critical expectation fails,
    so whoever reads them sees why the build was refused. The Data Docs are kept as they are
    when their ``provenance.json`` matches this build's inputs, params and code."""
    from formset.tasks.quality import build_data_docs, card_markdown, dataset_card, validation_pages
    from formset.tasks.validate import ephemeral_context, sample_warnings, validate_tables

    all_params = project.params()
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    keypoints = read_table(project.keypoints_dir, catalog.KEYPOINTS.schema)
    features = read_table(project.features_dir, catalog.FEATURES.schema)
    context = ephemeral_context()
    report = validate_tables(samples, keypoints, features, all_params["validate"], all_params["exercises"], context)
    warnings = to_frame(sample_warnings(report))
    write_json(report.to_dict(), project.path(catalog.VALIDATION_REPORT))
    write_json(report.summary(), project.path(catalog.VALIDATION_SUMMARY))
    write_table(warnings, project.path(catalog.VALIDATION_WARNINGS), catalog.VALIDATION_WARNINGS.schema)
    # One partition per set, empty ones included: the per-set reps stage keys on it.
    rejected = to_frame(report.rejections)
    for set_id in _set_ids(project):
        write_table(rejected[rejected["set_id"] == set_id], project.quarantine_dir("validate") / f"{set_id}.parquet", catalog.QUARANTINE.schema)
    _drop_stale_partitions(project.quarantine_dir("validate"), set(_set_ids(project)))

    # GX stamps its pages with the run time: rebuilt only when what they show can have changed,
    # so re-running with nothing changed leaves the DVC-tracked docs (and dvc.lock) as they were.
    docs_provenance = provenance.record(
        "validate",
        {name: all_params[name] for name in ("exercises", "validate")},
        {
            str(path.relative_to(project.root)): provenance.file_digest(path)
            for directory in (project.path(catalog.SAMPLES), project.keypoints_dir, project.features_dir)
            for path in sorted(directory.rglob("*.parquet"))
        },
    )
    recorded = project.data_docs_dir / "provenance.json"
    if not recorded.is_file() or json.loads(recorded.read_text()) != docs_provenance:
        with atomic_path(project.data_docs_dir) as docs:
            build_data_docs(context, docs)
            write_json(docs_provenance, docs / recorded.name)
    card = dataset_card(
        samples,
        keypoints,
        _without_quarantined(features, rejected),
        read_table(project.quarantine_dir(), catalog.QUARANTINE.schema),
        warnings,
        report.summary(),
        data_docs=str(project.data_docs_index.relative_to(project.dataset_card.parent)),
        suite_pages=validation_pages(project.data_docs_dir, project.dataset_card.parent),
    )
    write_json(card, project.dataset_card.with_suffix(".json"))
    with atomic_path(project.dataset_card) as tmp:
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
        f"quality report: {project.dataset_card.relative_to(project.root)} (formset card), "
        f"Data Docs: {project.data_docs_index.relative_to(project.root)}",
    ]
    logger = get_run_logger()
    for line in lines:
        logger.info(line)
    if not report.passed_critical:
        raise ValidationFailed("critical expectations failed:\n" + "\n".join(lines))
    return report.summary()


# ---------------------------------------------------------------- cluster
@flow(name="cluster", log_prints=True)
def cluster_flow(root: str | None = None) -> dict:
    """Fit DBSCAN joint clusters on correct executions; score every sample per joint."""
    from formset.tasks.cluster import exercises_without_clusters, fit_joint_clusters, save_clusters, score_samples

    project = Project.find(root)
    params = project.params()["cluster"]
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    clusters = fit_joint_clusters(features, samples, params)
    save_clusters(clusters, project.path(catalog.CLUSTERS))
    scores = score_samples(features, samples, clusters, params)
    prov = provenance.record("cluster", params, _gated_digests(project), code_digest(project, "cluster"))
    write_table(scores, project.path(catalog.JOINT_SCORES), catalog.JOINT_SCORES.schema, prov)
    summary = {"rows": len(scores), "exercises_without_correct_executions": exercises_without_clusters(samples, clusters)}
    if not clusters.centroids:
        summary = _skipped("cluster", "no correct executions to cluster: every joint score is empty", **summary)
    write_json(summary, project.path(catalog.CLUSTER_METRICS))
    return summary


# ---------------------------------------------------------------- exercise
#: The key of a sample.
SAMPLE_COLUMNS: list[str] = ["set_id", "sample_id"]


def _exercise_predictions(project: Project, set_id: str | None = None) -> pd.DataFrame:
    """Exercise recognition's out-of-fold predictions (of one set, or of all)."""
    return read_table(project.exercise_predictions_dir / (f"{set_id}.parquet" if set_id else ""), catalog.EXERCISE_PREDICTIONS.schema)


@flow(name="exercise", log_prints=True)
def exercise_flow(root: str | None = None) -> dict:
    """Judge exercise recognition by people (leave-people-out), fit it on every sample, and
    write the model, its metrics, its out-of-fold predictions (one partition per set, what
    the reps stage checks) and the confusion plot."""
    from formset.tasks.exercise import recognition_params, recognize_exercises
    from formset.tasks.sequences import build_sequences
    from formset.tasks.train import save_model, save_skipped

    project = Project.find(root)
    params = recognition_params(project.params())
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    prov = provenance.record("exercise", params, _gated_digests(project), code_digest(project, "exercise"))
    meta = {"params": params, "provenance": prov}
    try:
        # Every sample, labeled correct / incorrect or not.
        result = recognize_exercises(build_sequences(features, samples, params, labeled_only=False), params)
    except StageSkipped as skip:
        save_skipped(project.path(catalog.EXERCISE_MODEL), skip.reason, meta)
        metrics = _skipped("exercise", skip.reason)
        predictions = catalog.EXERCISE_PREDICTIONS.schema.empty_table().to_pandas()
    else:
        save_model(result.model, project.path(catalog.EXERCISE_MODEL), meta)
        metrics, predictions = result.metrics, result.predictions
    # Empty for a set without samples: the per-set reps stage reads its set's partition.
    _write_per_set(project, predictions, catalog.EXERCISE_PREDICTIONS, prov)
    write_json(metrics, project.path(catalog.EXERCISE_METRICS))
    confusion = predictions.rename(columns={"exercise": "actual", "predicted_exercise": "predicted"})[["actual", "predicted"]]
    _write_csv(confusion, project.path(catalog.EXERCISE_CONFUSION))
    return metrics


# ---------------------------------------------------------------- train
@flow(name="train", log_prints=True)
def train_flow(root: str | None = None) -> dict:
    """Cross-validate the model family of ``train.model`` by people, fit it on everyone, and
    write the model, its metrics, the out-of-fold predictions (one partition per set, with
    the exercise stage's out-of-fold exercise) and the confusion and ROC plots."""
    from formset.tasks.faults import evaluate_faults
    from formset.tasks.sequences import build_sequences
    from formset.tasks.train import CONFUSION_COLUMNS, ROC_COLUMNS, save_model, save_skipped, train_and_evaluate

    project = Project.find(root)
    params = project.params()["train"]
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    inputs = {**_gated_digests(project), **_partition_digests_in(project, catalog.EXERCISE_PREDICTIONS)}
    prov = provenance.record("train", params, inputs, code_digest(project, "train"))
    meta = {"params": params, "provenance": prov}
    try:
        result = train_and_evaluate(features, samples, params)
    except StageSkipped as skip:
        # Every output is written, saying why there is no model: the version is still recorded.
        save_skipped(project.path(catalog.CLASSIFIER), skip.reason, meta)
        metrics = _skipped("train", skip.reason)
        predictions = catalog.PREDICTIONS.schema.empty_table().to_pandas()
        confusion, roc = pd.DataFrame(columns=list(CONFUSION_COLUMNS)), pd.DataFrame(columns=list(ROC_COLUMNS))
    else:
        save_model(result.model, project.path(catalog.CLASSIFIER), meta)
        metrics, predictions, confusion, roc = result.metrics, result.predictions, result.confusion, result.roc
    named = _exercise_predictions(project)[[*SAMPLE_COLUMNS, "predicted_exercise", "p_exercise"]]
    predictions = predictions.drop(columns=["predicted_exercise", "p_exercise"], errors="ignore").merge(
        named, on=SAMPLE_COLUMNS, how="left"
    )
    # Fault heads: the labeled samples, the fault columns as targets.
    try:
        faults = evaluate_faults(build_sequences(features, samples, params), samples, params)
    except StageSkipped as skip:
        save_skipped(project.path(catalog.FAULT_MODEL), skip.reason, meta)
        fault_metrics = _skipped("fault heads", skip.reason)
    else:
        save_model(faults.model, project.path(catalog.FAULT_MODEL), meta)
        fault_metrics = faults.metrics
    # Empty for a set without labeled samples: `formset pull predictions`.
    _write_per_set(project, predictions, catalog.PREDICTIONS, prov)
    write_json(metrics, project.path(catalog.TRAIN_METRICS))
    write_json(fault_metrics, project.path(catalog.FAULT_METRICS))
    for plot, table in ((catalog.CONFUSION, confusion), (catalog.ROC, roc)):
        _write_csv(table, project.path(plot))
    return metrics


# ================================================================ coaching: reps and comparison
# What a coach sees (tasks/reps.py, tasks/compare.py): reps, tempo and per-frame kinematics
# per set after validation; DTW comparison with correct executions and per-rep joint scores
# over the whole dataset after clustering.
#: The tables the reps stage writes per set, in the order it writes them: recordings last, as
#: its partition carries the key that marks the set as done.
REPS_WRITE_ORDER: tuple[catalog.Table, ...] = (catalog.KINEMATICS, catalog.REPS, catalog.RECORDINGS)


@stage_task
def reps_one_set(project: Project, set_id: str, params: dict, prov: dict) -> dict:
    from formset.tasks.reps import reps_for_samples

    samples = read_table(project.path(catalog.SAMPLES) / f"{set_id}.parquet", catalog.SAMPLES.schema)
    features = gated_features(project, set_id)
    quarantine = pd.concat(
        [
            read_table(project.quarantine_dir(stage) / f"{set_id}.parquet", catalog.QUARANTINE.schema)
            for stage in ("keypoints", "normalize", "validate")
        ],
        ignore_index=True,
    )
    recognized = _exercise_predictions(project, set_id)
    kinematics, reps, recordings = reps_for_samples(features, samples, quarantine, params, recognized)
    for table, rows in zip(REPS_WRITE_ORDER, (kinematics, reps, recordings)):
        write_table(rows, project.path(table) / f"{set_id}.parquet", table.schema, prov)
    return {"set_id": set_id, "reps": len(reps), "recordings_without_reps": int((recordings["status"] != "ok").sum())}


@flow(name="reps", log_prints=True)
def reps_flow(root: str | None = None) -> dict:
    """Segment every recording into reps; tempo feedback; per-frame angles and moment arms.
    A sample exercise recognition names as another exercise is ``wrong_exercise``."""
    from formset.tasks.reps import named_otherwise

    project = Project.find(root)
    tables_dirs = [project.path(table) for table in REPS_WRITE_ORDER]
    inputs = [project.features_dir, project.path(catalog.SAMPLES), project.quarantine_dir("validate")]
    # A set's reps depend on recognition's verdicts on its samples, not on every probability:
    # a set added elsewhere leaves them, and this set's reps, as they were.
    min_margin = project.params()["reps"]["recognition_min_margin"]
    verdicts = {
        set_id: {"exercise_verdicts": provenance.params_digest(named_otherwise(_exercise_predictions(project, set_id), min_margin)
                                                               .to_dict("records"))}
        for set_id in _set_ids(project)
    }  # fmt: skip
    work = _run_per_set(project, "reps", reps_one_set, inputs, tables_dirs[-1], tables_dirs[:-1], verdicts)
    recognition = json.loads(project.path(catalog.EXERCISE_METRICS).read_text())
    if (skipped := why_skipped(recognition)) is not None:
        work["exercise_check"] = f"trunk posture only: exercise recognition skipped ({skipped})"
        get_run_logger().info("reps: wrong_exercise from the %s", work["exercise_check"])
    return work


@flow(name="compare", log_prints=True)
def compare_flow(root: str | None = None) -> dict:
    """DTW against correct executions with learned thresholds; per-rep joint scores."""
    from formset.tasks.cluster import load_clusters
    from formset.tasks.compare import compare_executions, json_safe, rep_joint_scores, skip_reason

    project = Project.find(root)
    all_params = project.params()
    params = all_params["compare"]
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    kinematics = read_table(project.path(catalog.KINEMATICS), catalog.KINEMATICS.schema)
    distances, verdicts, metrics = compare_executions(features, kinematics, samples, params)
    clusters = load_clusters(project.path(catalog.CLUSTERS))
    scores = rep_joint_scores(features, kinematics, samples, clusters, all_params["cluster"]["max_distance"])
    inputs = {
        catalog.CLUSTERS.file_name: provenance.file_digest(project.path(catalog.CLUSTERS)),
        **_gated_digests(project),
        **_partition_digests_in(project, catalog.KINEMATICS),
    }
    prov = provenance.record("compare", params, inputs, code_digest(project, "compare"))
    for table, rows in ((catalog.DISTANCES, distances), (catalog.VERDICTS, verdicts), (catalog.REP_SCORES, scores)):
        write_table(rows, project.path(table), table.schema, prov)
    summary = {f"auc_mean_{scope}": metrics[scope]["auc_mean"] for scope in metrics}
    if reason := skip_reason(verdicts, params["views"]):
        metrics[SKIPPED] = reason
        summary = _skipped("compare", reason, **summary)
    write_json(json_safe(metrics), project.path(catalog.COMPARE_METRICS))
    return json_safe(summary)


# The flows by stage name, in pipeline order (the registry's order).
STAGES = {stage.name: globals()[stage.flow] for stage in registry.STAGES}
