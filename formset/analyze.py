"""One recording, analyzed on demand, by the pipeline's own stage functions.

``formset analyze`` and ``formset serve`` call ``analyze``: the recording goes through the
same ``formset.tasks`` functions as a dataset build (pose backend or reader, normalize,
reps and kinematics, DTW comparison, joint scores, the classifier, overlay, report), as a
one-sample catalog of its own (set ``analysis``, sample ``recording``), and is judged with
what a published version holds (``Version``: its correct executions as references, their
learned thresholds, its joint clusters and its models). Nothing is written into the
project's datasets: every file goes to the output folder.

A verdict is given only against comparable references: correct executions of the same
exercise, filmed from the same view with the same kind of source (video, OpenPose, Kinect).
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from formset import models, provenance, pull
from formset.catalog import CLUSTERS, COMPARE_METRICS, FEATURES, KINEMATICS, SAMPLES, TRAIN_METRICS
from formset.params import CompareParams, KeypointsParams, NormalizeParams, Params, plain
from formset.quarantine import SampleError, StageSkipped
from formset.schemas import tables
from formset.schemas.series import KeypointSeries
from formset.schemas.vocab import FAULTS, SOURCE_COLUMNS, VIDEO_VIEWS
from formset.tasks.cluster import load_clusters, score_samples
from formset.tasks.compare import compare_group, rep_joint_scores
from formset.tasks.keypoints import VIDEO_KIND, is_video_column, read_view, series_to_frame, source_columns
from formset.tasks.normalize import features_for_samples
from formset.tasks.pose.backends import PoseBackend, get_backend
from formset.tasks.readers.video import Frame, FrameSpool
from formset.tasks.render.overlay import write_overlay
from formset.tasks.render.report import RecordingData, render_recording
from formset.tasks.reps import reps_for_samples, tempo_sentence

ANALYSIS_SET, ANALYSIS_SAMPLE = "analysis", "recording"
#: The analyzed person is nobody in the version: every reference is someone else.
ANALYZED_SUBJECT = "analyzed-person"
KEY = (ANALYSIS_SET, ANALYSIS_SAMPLE)
#: ``--exercise auto``: the exercise model of the version names the exercise.
AUTO = "auto"
#: Frame rate of a Kinect CSV or OpenPose folder that does not carry one (videos carry theirs).
DEFAULT_FPS = 30.0
#: The fault columns in plain words: the body part, for any exercise ...
FAULT_WORDS: dict[str, str] = {
    "fault_base_of_support": "base of support (feet or hands)",
    "fault_left_knee": "left knee",
    "fault_right_knee": "right knee",
    "fault_torso": "trunk",
    "fault_hip_joint": "hips",
    "fault_neck": "neck and head",
}
#: ... and what it is in the exercises whose faults the input contract describes.
EXERCISE_FAULT_WORDS: dict[str, dict[str, str]] = {
    "squat": {
        "fault_base_of_support": "narrow base or heels lift", "fault_left_knee": "left knee caves in",
        "fault_right_knee": "right knee caves in", "fault_torso": "trunk leans forward",
        "fault_hip_joint": "hips shift or squat too shallow", "fault_neck": "neck bends",
    },
    "push_up": {
        "fault_base_of_support": "hands too narrow", "fault_left_knee": "left knee bends",
        "fault_right_knee": "right knee bends", "fault_torso": "hips sag", "fault_hip_joint": "hips pike up",
        "fault_neck": "head drops",
    },
}  # fmt: skip
assert set(FAULT_WORDS) == set(FAULTS) and all(set(words) == set(FAULTS) for words in EXERCISE_FAULT_WORDS.values())


def fault_words(exercise: str) -> dict[str, str]:
    """Fault column -> its plain words for ``exercise`` (the body part where none are known)."""
    return EXERCISE_FAULT_WORDS.get(exercise, FAULT_WORDS)
NO_VERSION = "none"
#: The scratch file a video's frames are kept in while it is analyzed (deleted after).
SPOOL_FILE = ".frames.bgr"


class AnalysisRefused(Exception):
    """The recording cannot be analyzed; ``reason`` is a quarantine reason (``docs/bad-input.md``)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Version:
    """What a published version contributes to an analysis.

    Attributes
    ----------
    label
        The tag, ``workspace``, or ``none`` (no version: no model, no references).
    references
        ``FEATURES`` rows of the version's correct executions, with ``rep`` (of its
        ``KINEMATICS``), ``subject_id``, ``exercise``, ``label`` and ``source`` (the kind
        of source of that view: ``video``, ``openpose``, ``kinect_csv``).
    thresholds
        ``metrics/compare.json`` of the version (learned DTW thresholds per exercise/view).
    clusters
        Its joint clusters (``tasks.cluster.JointClusters``), or None.
    models
        Its models (``formset.models.Models``: classifier, exercise model, fault heads),
        or None; ``notes`` says why a part is missing.
    train_metrics
        ``metrics/train.json`` of the version.
    """

    label: str
    references: pd.DataFrame
    thresholds: dict = field(default_factory=dict)
    clusters: object | None = None
    models: object | None = None
    train_metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, why: str) -> "Version":
        return cls(NO_VERSION, pd.DataFrame(), notes=[why])

    def summary(self) -> dict:
        """The version as a result names it: tag, model family and its cross-validated figures."""
        metrics = {k: self.train_metrics.get(k) for k in ("accuracy", "f1", "auc", "n_samples", "n_subjects")}
        return {
            "dataset_version": self.label,
            "model": self.models.train_params.model if self.models else None,
            "model_metrics": metrics if self.models else None,
            "references": int(self.references[["set_id", "sample_id"]].drop_duplicates().shape[0]) if len(self.references) else 0,
            "notes": self.notes,
        }


def source_column(path: Path, view: str) -> str:
    """The samples.csv source column a recording at ``path`` fills, seen from ``view``.

    A folder is OpenPose JSON of that view, a ``.csv`` a Kinect skeleton (view ``kinect``),
    anything else a video of that view.

    Raises
    ------
    AnalysisRefused
        ``unknown_view``: no such column (a Kinect-only view for a video, ...).
    """
    if path.is_dir():
        column = f"openpose_{view}"
    elif path.suffix.lower() == ".csv":
        column = "kinect_csv"
    else:
        column = f"{view}_video"
    if column not in SOURCE_COLUMNS:
        raise AnalysisRefused("unknown_view", f"a {path.name} recording cannot be the {view} view: use one of {', '.join(VIDEO_VIEWS)}")
    return column


def one_sample_catalog(column: str, file_name: str, exercise: str, fps: float) -> pd.DataFrame:
    """A ``SAMPLES`` catalog of one unlabeled sample whose source is ``file_name`` in ``column``."""
    row = {name: None for name in tables.SAMPLES.names}
    row.update({"set_id": ANALYSIS_SET, "sample_id": ANALYSIS_SAMPLE, "subject_id": ANALYZED_SUBJECT,
                "exercise": exercise, "label": None, "fps": float(fps), "kinect_units": "m",
                column: file_name, "content_key": "", "metadata": "{}"})  # fmt: skip
    return pd.DataFrame([row], columns=tables.SAMPLES.names)


# ------------------------------------------------------------------ the version
def load_version(rev: str | None = None, repo: str | None = None) -> Version:
    """The references, thresholds, clusters and classifier of a published version.

    Parameters
    ----------
    rev
        A tag (default: the latest published one), ``workspace`` (the project's working
        tree) or any git revision.
    repo
        The project (default: this one).

    Returns
    -------
    Version
        ``Version.empty`` with the reason when there is no published version; a part the
        version lacks (training skipped, no correct executions) is left empty and ``notes``
        says why.
    """
    try:
        source = pull.resolve(rev, repo)
        fs = pull.version_fs(source)
        samples = pull.read_table(SAMPLES.name, rev, repo)
    except pull.PullError as error:
        return Version.empty(f"no published version to compare with ({error})")
    correct = samples[samples["label"] == "correct"]
    kind_of = {
        (s["set_id"], s["sample_id"], view): SOURCE_COLUMNS[column][1]
        for s in correct.to_dict("records")
        for view, column in source_columns(s).items()
    }
    features = pull.read_table(FEATURES.name, rev, repo)
    features = features.merge(correct[["set_id", "sample_id", "subject_id", "exercise", "label"]], on=["set_id", "sample_id"])
    kinematics = pull.read_table(KINEMATICS.name, rev, repo, columns=["set_id", "sample_id", "view", "frame", "rep"])
    references = features.merge(kinematics, on=["set_id", "sample_id", "view", "frame"], how="left")
    references["source"] = [kind_of.get(k) for k in zip(references["set_id"], references["sample_id"], references["view"])]
    version = Version(source.label, references.reset_index(drop=True))
    for name, attribute in ((COMPARE_METRICS.path, "thresholds"), (TRAIN_METRICS.path, "train_metrics")):
        if fs.exists(name):
            setattr(version, attribute, json.loads(fs.read_text(name)))
    with tempfile.TemporaryDirectory() as scratch:
        try:
            pull.pull_file(CLUSTERS.name, Path(scratch) / CLUSTERS.file_name, rev, repo)
            version.clusters = load_clusters(Path(scratch) / CLUSTERS.file_name)
        except pull.PullError as error:
            version.notes.append(str(error))
    try:
        version.models = models.load(rev, repo)
        version.notes.extend(version.models.missing.values())
    except (pull.PullError, StageSkipped) as error:
        version.notes.append(str(getattr(error, "reason", error)))
    return version


# ------------------------------------------------------------------ stages, one sample
def extract_keypoints(
    path: Path, column: str, catalog: pd.DataFrame, params: KeypointsParams, on_frame: Callable[[Frame], None] | None = None
) -> pd.DataFrame:
    """The ``KEYPOINTS`` rows of the recording, by the keypoints stage's readers and pose backend.

    ``on_frame`` receives each frame the pose backend decodes (a ``FrameSpool`` keeping them
    for the overlay); other sources decode no frames.

    Raises
    ------
    AnalysisRefused
        The stage's quarantine reason (``unreadable_video``, ``no_person_detected`` ...).
    """
    backend = get_backend(params.pose_backend, plain(params)) if is_video_column(column) else None
    if backend is not None and on_frame is not None:
        backend = FrameTappedBackend(backend, on_frame)
    try:
        series = read_view(catalog.iloc[0].to_dict(), column, path.parent, params, backend)
    except SampleError as error:
        raise AnalysisRefused(error.reason, error.detail) from error
    return series_to_frame(series, ANALYSIS_SET, ANALYSIS_SAMPLE)


@dataclass(frozen=True)
class FrameTappedBackend:
    """A pose backend whose decoded frames are also handed to ``on_frame``."""

    backend: PoseBackend
    on_frame: Callable[[Frame], None]

    @property
    def name(self) -> str:
        return self.backend.name

    def extract(self, video: Path, view: str) -> KeypointSeries:
        return self.backend.extract(video, view, on_frame=self.on_frame)


def normalized_features(keypoints: pd.DataFrame, params: NormalizeParams) -> pd.DataFrame:
    """``FEATURES`` rows by the normalize stage; its rejection refuses the recording."""
    features, rejections = features_for_samples(keypoints, params)
    if rejections:
        raise AnalysisRefused(rejections[0].reason, rejections[0].detail)
    return features


def comparable_references(version: Version, exercise: str, view: str, source: str) -> pd.DataFrame:
    """The version's correct executions of ``exercise`` seen from ``view`` through ``source``."""
    refs = version.references
    if refs.empty:
        return refs
    return refs[(refs["exercise"] == exercise) & (refs["view"] == view) & (refs["source"] == source)]


def compare_with_version(
    features: pd.DataFrame, kinematics: pd.DataFrame, catalog: pd.DataFrame, references: pd.DataFrame,
    version: Version, params: CompareParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """DTW of the recording and its reps against ``references`` (the compare stage's
    ``compare_group``), judged by the version's learned thresholds.

    Returns
    -------
    distances, verdicts : pandas.DataFrame
        ``DISTANCES`` and ``VERDICTS`` rows of the recording; empty without references.
    """
    if references.empty:
        return tables.DISTANCES.empty_table().to_pandas(), tables.VERDICTS.empty_table().to_pandas()
    sample = catalog.iloc[0]
    own = features.merge(kinematics[["set_id", "sample_id", "view", "frame", "rep"]], on=["set_id", "sample_id", "view", "frame"])
    own = own.assign(subject_id=sample["subject_id"], exercise=sample["exercise"], label=None)
    frames = pd.concat([references.drop(columns=["source"]), own], ignore_index=True)
    view = str(own["view"].iloc[0])
    distances, verdicts = compare_group(frames, sample["exercise"], view, params, measured={KEY})
    for scope, rows in (("recording", verdicts["rep"].isna()), ("rep", verdicts["rep"].notna())):
        learned = ((version.thresholds.get(scope) or {}).get("groups") or {}).get(f"{sample['exercise']}/{view}") or {}
        verdicts.loc[rows, "threshold"] = learned.get("threshold", np.nan)
    known = verdicts["distance"].notna() & verdicts["threshold"].notna()
    verdicts["beyond_threshold"] = pd.array(np.where(known, verdicts["distance"] > verdicts["threshold"], None), dtype="boolean")
    return distances, verdicts


def joint_scores(
    features: pd.DataFrame, kinematics: pd.DataFrame, catalog: pd.DataFrame, version: Version, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cluster stage's per-joint scores of the recording and of each rep (``SCORES``,
    ``REP_SCORES`` rows); empty when the version has no clusters."""
    if version.clusters is None:
        return tables.SCORES.empty_table().to_pandas(), tables.REP_SCORES.empty_table().to_pandas()
    return (
        score_samples(features, catalog, version.clusters, params.cluster),
        rep_joint_scores(features, kinematics, catalog, version.clusters, params.cluster.max_distance),
    )


def trained_views(version: Version) -> list[str]:
    """The views the version's models learned from: those its cross-validation scored
    (``metrics/train.json: per_view``), else those ``train.views`` allowed. A view the
    params allow but no training sample had is not one."""
    per_view = version.train_metrics.get("per_view")
    return sorted(per_view) if per_view else list(version.models.train_params.views)


def model_answer(features: pd.DataFrame, catalog: pd.DataFrame, version: Version) -> dict:
    """The version's models on the recording (``formset.models.Models.predict``).

    Returns
    -------
    dict
        ``available`` (bool), ``p_correct``, ``p_incorrect``, ``predicted`` (correct /
        incorrect), ``faults`` (plain words -> probability, where the version has fault
        models; ``faults_why`` otherwise), ``predicted_exercise`` and ``p_exercise`` with an
        exercise model; ``why`` when not available.
    """
    if version.models is None:
        return {"available": False, "why": "; ".join(version.notes) or f"version {version.label} holds no trained classifier"}
    views = trained_views(version)
    view = str(features["view"].iloc[0])
    if view not in views:
        return {"available": False, "why": f"the models of {version.label} were trained on the {', '.join(views)} views, not on the {view} view"}
    row = version.models.predict(features, catalog).iloc[0]
    p_incorrect = float(row["p_incorrect"])
    answer = {"available": True, "p_incorrect": p_incorrect, "p_correct": 1.0 - p_incorrect, "predicted": str(row["predicted"])}
    words_of = fault_words(str(catalog["exercise"].iloc[0]))
    faults = {words: float(row[f"p_{fault}"]) for fault, words in words_of.items() if f"p_{fault}" in row.index}
    answer["faults"] = faults
    if not faults:
        answer["faults_why"] = version.models.missing.get("fault_model", f"version {version.label} has no fault models")
    if "predicted_exercise" in row.index:
        answer.update(predicted_exercise=str(row["predicted_exercise"]), p_exercise=float(row["p_exercise"]))
    return answer


def recognise_exercise(features: pd.DataFrame, version: Version) -> tuple[str, float]:
    """``--exercise auto``: the version's exercise model names the exercise, with its probability.

    Raises
    ------
    AnalysisRefused
        ``no_exercise_model``: the version has none (or none for this view).
    """
    models = version.models
    if models is None or models.exercise_model is None:
        why = (models.missing.get("exercise_model") if models else None) or "; ".join(version.notes) or "it has none"
        raise AnalysisRefused("no_exercise_model", f"version {version.label} cannot recognise the exercise ({why}): name it with --exercise")
    if str(features["view"].iloc[0]) not in trained_views(version):
        raise AnalysisRefused("no_exercise_model", f"the exercise model of {version.label} does not read the {features['view'].iloc[0]} view: name the exercise")
    row = models.predict(features).iloc[0]
    return str(row["predicted_exercise"]), float(row["p_exercise"])


def worst_joint(distances: pd.DataFrame, scores: pd.DataFrame) -> dict:
    """The joint each method finds farthest from correct executions, and whether they agree.

    DTW names the joint whose movement over time differs most (its farthest feature, a
    joint and axis); the clusters name the joint whose positions lie farthest from any
    position seen in correct executions (lowest score).
    """
    whole = distances[distances["rep"].isna()].dropna(subset=["distance"])
    dtw_feature = str(whole.sort_values("distance").iloc[-1]["feature"]) if len(whole) else None
    dtw_joint = dtw_feature.rsplit("_", 1)[0] if dtw_feature else None
    scored = scores.dropna(subset=["score"])
    cluster_joint = str(scored.sort_values("score").iloc[0]["joint"]) if len(scored) else None
    return {
        "dtw": dtw_joint, "dtw_feature": dtw_feature, "cluster": cluster_joint,
        "cluster_score": float(scored["score"].min()) if len(scored) else None,
        "agree": dtw_joint is not None and dtw_joint == cluster_joint,
    }  # fmt: skip


# ------------------------------------------------------------------ the result
def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    shown = frame[columns].astype(object).where(frame[columns].notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in shown.to_dict("records")]


def verdict_text(verdicts: pd.DataFrame, n_references: int) -> dict:
    """The DTW verdict of the whole recording as a result states it."""
    whole = verdicts[verdicts["rep"].isna()]
    if not n_references or whole.empty or pd.isna(whole["distance"].iloc[0]):
        return {"said": "no comparable references", "distance": None, "threshold": None, "references": n_references}
    row = whole.iloc[0]
    beyond = row["beyond_threshold"]
    said = "no threshold" if pd.isna(beyond) else ("unlike correct" if beyond else "like correct")
    threshold = None if pd.isna(row["threshold"]) else float(row["threshold"])
    return {"said": said, "distance": float(row["distance"]), "threshold": threshold, "references": n_references}


def analyze(
    recording: str | Path, out_dir: str | Path, params: Params, version: Version, view: str = "front",
    exercise: str | None = None, fps: float = DEFAULT_FPS, overlay_formats: tuple[str, ...] = (".mp4",),
    on_stage=None, overlay_max_side: int | None = None,
) -> dict:  # fmt: skip
    """Analyze one recording and write ``result.json``, the overlay and ``report.html`` to ``out_dir``.

    Parameters
    ----------
    recording
        A video, a Kinect CSV, or a folder of OpenPose JSON frames.
    out_dir
        Where the results go (created).
    params
        The project's ``params.yaml``.
    version
        From ``load_version``.
    view
        The camera's view (``front``, ``diagonal``, ``side``); a Kinect CSV is ``kinect``.
    exercise
        A name of ``params.exercises``, or None / ``auto`` for the version's exercise model.
    fps
        Frame rate of a Kinect CSV or OpenPose folder.
    overlay_formats
        Containers of the overlay video (``.mp4``: MPEG-4 part 2; ``.webm``: VP8, which
        browsers play); a recording that is not a video gets none.
    on_stage
        Called with each stage's name as it starts (a progress display), or None.
    overlay_max_side
        Longer side of the overlay, pixels (default ``analyze.overlay_max_side``); it is
        drawn on the frames the pose backend decoded, never larger than they are.

    Returns
    -------
    dict
        The content of ``result.json``.

    Raises
    ------
    AnalysisRefused
        Why the recording cannot be analyzed (the stage's quarantine reason).
    """
    path, out = Path(recording), Path(out_dir)
    started = on_stage or (lambda stage: None)
    if exercise not in (None, AUTO, *params.exercises):
        raise AnalysisRefused("unknown_exercise", f"{exercise!r} is not one of {', '.join(params.exercises)}")
    column = source_column(path, view)
    view, source = SOURCE_COLUMNS[column]
    catalog = one_sample_catalog(column, path.name, exercise or AUTO, fps)
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        # The pose backend's frames are kept for the overlay, which then decodes nothing.
        spool = None
        if source == VIDEO_KIND:
            spool = stack.enter_context(FrameSpool(out / SPOOL_FILE, overlay_max_side or params.analyze.overlay_max_side))
        started("keypoints")
        keypoints = extract_keypoints(path, column, catalog, params.keypoints, on_frame=spool)
        result, tables_of_result = judge(path, keypoints, catalog, view, source, exercise, version, params, started)
        started("overlay and report")
        result["files"] = write_outputs(path, out, result, keypoints, catalog, *tables_of_result, params.reps.tempo,
                                        overlay_formats, spool)  # fmt: skip
    (out / "result.json").write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    return result


def judge(
    path: Path, keypoints: pd.DataFrame, catalog: pd.DataFrame, view: str, source: str, exercise: str | None,
    version: Version, params: Params, started: Callable[[str], None],
) -> tuple[dict, tuple[pd.DataFrame, ...]]:  # fmt: skip
    """The recording's keypoints through normalize, recognition, reps, compare and the models.

    Returns
    -------
    result : dict
        ``result.json`` without ``files``.
    tables : tuple of pandas.DataFrame
        ``recordings, reps, kinematics, verdicts, distances, rep_scores, scores`` of the
        recording, for the report and the overlay.
    """
    started("normalize")
    features = normalized_features(keypoints, params.normalize)
    exercise_probability = None
    if exercise in (None, AUTO):
        exercise, exercise_probability = recognise_exercise(features, version)
        catalog["exercise"] = exercise
    no_quarantine = tables.QUARANTINE.empty_table().to_pandas()
    started("reps")
    kinematics, reps, recordings = reps_for_samples(features, catalog, no_quarantine, params.reps)
    started("compare")
    references = comparable_references(version, exercise, view, source)
    n_references = int(references[["set_id", "sample_id"]].drop_duplicates().shape[0]) if len(references) else 0
    distances, verdicts = compare_with_version(features, kinematics, catalog, references, version, params.compare)
    # Joint clusters of other views or sources are not comparable either.
    scored_by = version if n_references else Version.empty("no comparable references")
    scores, rep_scores = joint_scores(features, kinematics, catalog, scored_by, params)
    recording_row = recordings.iloc[0]
    result = {
        "recording": path.name, "view": view, "source": source, "exercise": exercise, "exercise_probability": exercise_probability,
        "status": recording_row["status"], "detail": recording_row["detail"],
        "rep_count": int(recording_row["rep_count"]),
        "reps": _records(reps, ["rep", "start_frame", "bottom_frame", "end_frame", "start_s", "bottom_s", "end_s", "duration_s", "depth"]),
        "tempo": {"feedback": recording_row["tempo_feedback"], "sentence": tempo_sentence(reps["duration_s"].to_numpy(dtype=np.float64), params.reps.tempo)},
        "model": model_answer(features, catalog, version),
        "dtw": verdict_text(verdicts, n_references),
        "joint_scores": _records(scores.sort_values("score"), ["joint", "score"]) if len(scores) else [],
        "worst_joint": worst_joint(distances, scores),
        "version": version.summary(),
        "code_version": provenance.code_version(),
    }  # fmt: skip
    return result, (recordings, reps, kinematics, verdicts, distances, rep_scores, scores)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value)}")


def write_outputs(path, out, result, keypoints, catalog, recordings, reps, kinematics, verdicts, distances, rep_scores, scores,
                  tempo, overlay_formats, frames: FrameSpool | None) -> dict:  # fmt: skip
    """Write the overlay (videos only, drawn on ``frames``) and the report, side by side;
    the file names written, by kind."""
    files = {}
    # The overlay (OpenCV, outside the GIL) is drawn in a thread while the report is rendered.
    painter = ThreadPoolExecutor(max_workers=1)
    drawing = None
    if frames is not None:
        targets = [out / f"overlay{suffix}" for suffix in overlay_formats]
        drawing = painter.submit(write_overlay, path, keypoints, targets, reps=reps, banner=overlay_banner(result), frames=frames)
        files["overlay"] = [t.name for t in targets]
    data = RecordingData(
        sample=catalog.iloc[0], recordings=recordings.assign(primary_view=True), reps=reps, kinematics=kinematics,
        verdicts=verdicts, distances=distances, rep_scores=rep_scores, joint_scores=scores,
        quarantine=tables.QUARANTINE.empty_table().to_pandas(), assessment=result, made_by=made_by(result),
    )  # fmt: skip
    try:
        (out / "report.html").write_text(render_recording(data, tempo), encoding="utf-8")
        files["report"] = "report.html"
        if drawing is not None:
            drawing.result()
    finally:
        painter.shutdown(wait=True)
    return files


def made_by(result: dict) -> str:
    """Which dataset version, models, references and code produced an analysis, in one line."""
    version = result["version"]
    model = f"its {version['model']} models" if version["model"] else "no model"
    return (f"dataset version {version['dataset_version']}, {model}, {result['dtw']['references']} comparable correct "
            f"executions as DTW references; {result['code_version']}")  # fmt: skip


def overlay_banner(result: dict) -> str:
    """The verdict lines drawn on every overlay frame (ASCII: OpenCV's fonts have no other glyphs)."""
    model = result["model"]
    said = f"model: {model['predicted']} (p {model['p_' + model['predicted']]:.2f})" if model["available"] else "model: no answer"
    return f"{said}\nDTW: {result['dtw']['said']}"
