"""One Prefect flow per pipeline stage: the wiring, nothing else.

Each stage flow reads the tables an earlier stage declared (``dvc.yaml`` lists the same
paths as deps and outs), runs the pure functions of ``formset.tasks`` once per labeled set
(a Prefect task each, so sets run in parallel through the task runner; the keypoints stage
also runs one task per video, on the runner of ``params.yaml: runner``), and writes one
Parquet partition per set, atomically. ``formset stage <name>`` runs one of them (that is
what ``dvc repro`` calls); ``flows.build.build_dataset`` runs them all in order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from formset import provenance
from formset.config import Project
from formset.quarantine import Rejection, to_frame
from formset.schemas import tables
from formset.storage import atomic_path, read_table, write_json, write_table

# Stage tasks pass paths and small summaries, never whole tables: Prefect would otherwise
# hash and hold every DataFrame. Incremental reuse is decided by content keys, not by
# Prefect's run-scoped cache.
stage_task = task(cache_policy=NO_CACHE, retries=0)


class ValidationFailed(RuntimeError):
    """A critical expectation failed: nothing downstream runs and nothing is published."""


def _write_quarantine(project: Project, stage: str, set_id: str, rejections: list[Rejection]) -> None:
    write_table(to_frame(rejections), project.quarantine_dir(stage) / f"{set_id}.parquet", tables.QUARANTINE)


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
    return sorted(p.stem for p in (project.catalog_dir / "sets").glob("*.parquet"))


def _run_per_set(project: Project, stage: str, one_set, out_dir: Path) -> list[dict]:
    """Submit ``one_set`` for every registered set (in parallel through the task runner),
    then drop the partitions of sets no longer in the catalog."""
    params = project.params()[stage]
    set_ids = _set_ids(project)
    summaries = [f.result() for f in [one_set.submit(project, s, params) for s in set_ids]]
    _drop_stale_partitions(out_dir, set(set_ids))
    _drop_stale_partitions(project.quarantine_dir(stage), set(set_ids))
    return summaries


# ---------------------------------------------------------------- ingest
@stage_task
def ingest_one_set(project: Project, set_dir: Path, exercises: list[str]) -> dict:
    from formset.tasks.ingest import ingest_set

    result = ingest_set(set_dir, exercises)
    set_id = set_dir.name
    catalog = project.catalog_dir
    prov = provenance.record("ingest", {"exercises": exercises}, {"set": result.set_row and result.set_row["set_hash"]})
    if result.set_row is not None:
        write_table(pd.DataFrame([result.set_row]), catalog / "sets" / f"{set_id}.parquet", tables.SETS, prov)
    else:
        for sub in ("sets", "samples", "files"):
            (catalog / sub / f"{set_id}.parquet").unlink(missing_ok=True)
    write_table(result.samples, catalog / "samples" / f"{set_id}.parquet", tables.SAMPLES, prov)
    write_table(result.files, catalog / "files" / f"{set_id}.parquet", tables.FILES, prov)
    _write_quarantine(project, "ingest", set_id, result.rejections)
    return {"set_id": set_id, "accepted": len(result.samples), "quarantined": len(result.rejections)}


@flow(name="ingest", log_prints=True)
def ingest_flow(root: str | None = None) -> list[dict]:
    """Validate every set under ``data/sets`` against the contract and register it."""
    project = Project.find(root)
    params = project.params()
    set_dirs = sorted(d for d in project.sets_dir.iterdir() if d.is_dir()) if project.sets_dir.is_dir() else []
    futures = [ingest_one_set.submit(project, d, params["exercises"]) for d in set_dirs]
    summaries = [f.result() for f in futures]
    keep = {d.name for d in set_dirs}
    for sub in ("sets", "samples", "files"):
        _drop_stale_partitions(project.catalog_dir / sub, keep)
    _drop_stale_partitions(project.quarantine_dir("ingest"), keep)
    get_run_logger().info("ingest: %s", summaries)
    return summaries


# ---------------------------------------------------------------- keypoints
# One task per video (the costly unit: seconds to minutes of pose model each) and one per set
# for its file sources (Kinect / OpenPose, fast), all through the task runner of params.yaml
# ``runner``; each set's partition is assembled in the flow from the tasks' outcomes.
@stage_task
def keypoints_one_video(project: Project, sample: dict, column: str, params: dict):
    """One video view of one sample through the pose backend: ``KeypointSeries`` or ``Rejection``."""
    from formset.tasks.keypoints import read_view_outcome
    from formset.tasks.pose import get_backend

    backend = get_backend(params["pose_backend"], params)
    return read_view_outcome(sample, column, project.sets_dir / sample["set_id"], params, backend)


@stage_task
def keypoints_one_set(project: Project, samples: list[dict], params: dict) -> dict:
    """The file-sourced views of a set's samples: sample_id -> view -> series or ``Rejection``."""
    from formset.tasks.keypoints import is_video_column, read_view_outcome, source_columns

    return {
        sample["sample_id"]: {
            view: read_view_outcome(sample, column, project.sets_dir / sample["set_id"], params, None)
            for view, column in source_columns(sample).items()
            if not is_video_column(column)
        }
        for sample in samples
    }


def _write_keypoints_set(project: Project, set_id: str, samples: pd.DataFrame, outcomes: dict, params: dict) -> dict:
    from formset.tasks.keypoints import assemble_samples

    keypoints, rejections = assemble_samples(samples, outcomes)
    prov = provenance.record("keypoints", params, dict(zip(samples["sample_id"], samples["content_key"])))
    write_table(keypoints, project.keypoints_dir / f"{set_id}.parquet", tables.KEYPOINTS, prov)
    _write_quarantine(project, "keypoints", set_id, rejections)
    return {"set_id": set_id, "frames": len(keypoints), "quarantined": len(rejections)}


def _video_views(samples: dict[str, pd.DataFrame]):
    """``(set_id, sample, view, column)`` of every view read from a video, sample as a dict."""
    from formset.tasks.keypoints import is_video_column, source_columns

    for set_id, set_samples in samples.items():
        for sample in set_samples.to_dict("records"):
            for view, column in source_columns(sample).items():
                if is_video_column(column):
                    yield set_id, sample, view, column


@flow(name="keypoints", log_prints=True)
def keypoints_flow(root: str | None = None) -> list[dict]:
    """Read every accepted sample's keypoint sources into the canonical skeleton."""
    from formset.flows.runner import task_runner

    project = Project.find(root)
    all_params = project.params()
    params = all_params["keypoints"]
    set_ids = _set_ids(project)
    samples = {s: read_table(project.catalog_dir / "samples" / f"{s}.parquet", tables.SAMPLES) for s in set_ids}
    with task_runner(all_params.get("runner")) as runner:
        # Videos first: they are the long tasks, so every worker starts on one at once.
        videos = [
            (set_id, sample["sample_id"], view, runner.submit(
                keypoints_one_video, {"project": project, "sample": sample, "column": column, "params": params}
            ))
            for set_id, sample, view, column in _video_views(samples)
        ]
        files = {
            s: runner.submit(
                keypoints_one_set, {"project": project, "samples": samples[s].to_dict("records"), "params": params}
            )
            for s in set_ids
        }
        outcomes = {set_id: future.result() for set_id, future in files.items()}
        for set_id, sample_id, view, future in videos:
            outcomes[set_id][sample_id][view] = future.result()
    summaries = [_write_keypoints_set(project, s, samples[s], outcomes[s], params) for s in set_ids]
    _drop_stale_partitions(project.keypoints_dir, set(set_ids))
    _drop_stale_partitions(project.quarantine_dir("keypoints"), set(set_ids))
    return summaries


# ---------------------------------------------------------------- normalize
@stage_task
def normalize_one_set(project: Project, set_id: str, params: dict) -> dict:
    from formset.tasks.normalize import features_for_samples

    keypoints = read_table(project.keypoints_dir / f"{set_id}.parquet", tables.KEYPOINTS)
    features, rejections = features_for_samples(keypoints, params)
    prov = provenance.record("normalize", params, {"keypoints": provenance.file_digest(project.keypoints_dir / f"{set_id}.parquet")})
    write_table(features, project.features_dir / f"{set_id}.parquet", tables.FEATURES, prov)
    _write_quarantine(project, "normalize", set_id, rejections)
    return {"set_id": set_id, "frames": len(features), "quarantined": len(rejections)}


@flow(name="normalize", log_prints=True)
def normalize_flow(root: str | None = None) -> list[dict]:
    """Normalize keypoints to the torso (seed 003), smooth, and add deltas and angles."""
    project = Project.find(root)
    return _run_per_set(project, "normalize", normalize_one_set, project.features_dir)


# ---------------------------------------------------------------- validate
@flow(name="validate", log_prints=True)
def validate_flow(root: str | None = None) -> dict:
    """Run the expectation suites; raise ``ValidationFailed`` on a critical failure."""
    from formset.tasks.validate import sample_warnings, validate_tables

    project = Project.find(root)
    all_params = project.params()
    samples = read_table(project.catalog_dir / "samples", tables.SAMPLES)
    keypoints = read_table(project.keypoints_dir, tables.KEYPOINTS)
    features = read_table(project.features_dir, tables.FEATURES)
    report = validate_tables(samples, keypoints, features, all_params["validate"], all_params["exercises"])
    out = project.validation_dir
    write_json(report.to_dict(), out / "report.json")
    write_json(report.summary(), out / "summary.json")
    write_table(to_frame(sample_warnings(report)), out / "warnings.parquet", tables.QUARANTINE)
    logger = get_run_logger()
    for line in report.summary_lines():
        logger.info(line)
    if not report.passed_critical:
        raise ValidationFailed("critical expectations failed:\n" + "\n".join(report.summary_lines()))
    return report.summary()


# ---------------------------------------------------------------- cluster
@flow(name="cluster", log_prints=True)
def cluster_flow(root: str | None = None) -> dict:
    """Fit DBSCAN joint clusters on correct executions; score every sample per joint."""
    from formset.tasks.cluster import fit_joint_clusters, save_clusters, score_samples

    project = Project.find(root)
    params = project.params()["cluster"]
    samples = read_table(project.catalog_dir / "samples", tables.SAMPLES)
    features = read_table(project.features_dir, tables.FEATURES)
    clusters = fit_joint_clusters(features, samples, params)
    save_clusters(clusters, project.models_dir / "clusters.json")
    scores = score_samples(features, samples, clusters, params)
    write_table(scores, project.scores_dir / "joint_scores.parquet", tables.SCORES, provenance.record("cluster", params, {}))
    return {"rows": len(scores)}


# ---------------------------------------------------------------- train
@flow(name="train", log_prints=True)
def train_flow(root: str | None = None) -> dict:
    """Train the Conv1D + BiLSTM classifier; evaluate on held-out subjects."""
    from formset.tasks.train import save_model, train_and_evaluate

    project = Project.find(root)
    params = project.params()["train"]
    samples = read_table(project.catalog_dir / "samples", tables.SAMPLES)
    features = read_table(project.features_dir, tables.FEATURES)
    model, metrics, confusion = train_and_evaluate(features, samples, params)
    save_model(model, project.models_dir / "classifier.pt", {"params": params, "provenance": provenance.record("train", params, {})})
    write_json(metrics, project.metrics_dir / "train.json")
    with atomic_path(project.plots_dir / "confusion.csv") as tmp:
        confusion.to_csv(tmp, index=False)
    return metrics


# ================================================================ coaching: reps and comparison
# What a coach sees (tasks/reps.py, tasks/compare.py): reps, tempo and per-frame kinematics
# per set after validation; DTW comparison with correct executions and per-rep joint scores
# over the whole dataset after clustering.
REP_TABLES = {"kinematics": tables.KINEMATICS, "reps": tables.REPS, "recordings": tables.RECORDINGS}


@stage_task
def reps_one_set(project: Project, set_id: str, params: dict) -> dict:
    from formset.tasks.reps import reps_for_samples

    features_file = project.features_dir / f"{set_id}.parquet"
    samples = read_table(project.catalog_dir / "samples" / f"{set_id}.parquet", tables.SAMPLES)
    features = read_table(features_file, tables.FEATURES)
    quarantine = pd.concat(
        [read_table(project.quarantine_dir(stage) / f"{set_id}.parquet", tables.QUARANTINE) for stage in ("keypoints", "normalize")],
        ignore_index=True,
    )
    kinematics, reps, recordings = reps_for_samples(features, samples, quarantine, params)
    prov = provenance.record("reps", params, {"features": provenance.file_digest(features_file)})
    for name, table in zip(REP_TABLES, (kinematics, reps, recordings)):
        write_table(table, project.reps_dir / name / f"{set_id}.parquet", REP_TABLES[name], prov)
    return {"set_id": set_id, "reps": len(reps), "recordings_without_reps": int((recordings["status"] != "ok").sum())}


@flow(name="reps", log_prints=True)
def reps_flow(root: str | None = None) -> list[dict]:
    """Segment every recording into reps; tempo feedback; per-frame angles and moment arms."""
    project = Project.find(root)
    summaries = _run_per_set(project, "reps", reps_one_set, project.reps_dir / "reps")
    for name in REP_TABLES:
        _drop_stale_partitions(project.reps_dir / name, {s["set_id"] for s in summaries})
    return summaries


@flow(name="compare", log_prints=True)
def compare_flow(root: str | None = None) -> dict:
    """DTW against correct executions with learned thresholds; per-rep joint scores."""
    from formset.tasks.cluster import load_clusters
    from formset.tasks.compare import compare_executions, json_safe, rep_joint_scores

    project = Project.find(root)
    all_params = project.params()
    params = all_params["compare"]
    samples = read_table(project.catalog_dir / "samples", tables.SAMPLES)
    features = read_table(project.features_dir, tables.FEATURES)
    kinematics = read_table(project.reps_dir / "kinematics", tables.KINEMATICS)
    distances, verdicts, metrics = compare_executions(features, kinematics, samples, params)
    clusters = load_clusters(project.models_dir / "clusters.json")
    scores = rep_joint_scores(features, kinematics, samples, clusters, all_params["cluster"]["max_distance"])
    prov = provenance.record("compare", params, {"clusters": provenance.file_digest(project.models_dir / "clusters.json")})
    out = project.compare_dir
    write_table(distances, out / "distances.parquet", tables.DISTANCES, prov)
    write_table(verdicts, out / "verdicts.parquet", tables.VERDICTS, prov)
    write_table(scores, out / "rep_scores.parquet", tables.REP_SCORES, prov)
    write_json(json_safe(metrics), project.metrics_dir / "compare.json")
    return {scope: metrics[scope]["auc_mean"] for scope in metrics}


STAGES = {
    "ingest": ingest_flow,
    "keypoints": keypoints_flow,
    "normalize": normalize_flow,
    "validate": validate_flow,
    "reps": reps_flow,
    "cluster": cluster_flow,
    "compare": compare_flow,
    "train": train_flow,
}
