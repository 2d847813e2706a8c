"""Comparison with correct executions: DTW distances (Calamea 2020) and per-rep joint scores
(Smart Fitness Trainer; both in docs/methods.md).

DTW (Calamea 2020, with ``dtaidistance``'s C implementation): an execution is compared with
reference executions feature by feature, a feature being one axis of one joint's normalized
position (``params.compare.joints`` x ``axes``; ``z`` only where the view has depth). Per
reference, the overall distance is the median over features (as 001); per execution, each
feature's distance and the overall distance are the median over references. The same is done
per rep, against every rep of the references. References are the correct executions of the
same exercise and view by *other* people (so nobody is compared with themselves), or the one
execution ``params.compare.references`` names for the exercise.

Segments: the whole recording (``rep`` null) and each rep (the frames of ``KINEMATICS`` with
that rep number). A feature missing in a frame is linearly interpolated over the segment's
time; a feature missing in a whole segment has no distance.

Threshold: per exercise, view and scope (recording or rep), the distance that best separates
correct from incorrect labeled executions (largest balanced accuracy, midway between two
observed distances), with its ROC AUC (incorrect = positive, higher distance = more likely
incorrect) so one can see how well DTW separates them at all. Reps take their recording's
label.

Per-rep joint scores: the DBSCAN centroids of the cluster stage (``tasks.cluster``) score each
frame of a rep per core joint; the rep's score per joint is the mean frame score and
``deviation_rank`` 1 marks the joint farthest from correct executions in that rep.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from dtaidistance import dtw
from sklearn.metrics import roc_auc_score

from formset.params import CompareParams
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.tables import DISTANCES, REP_SCORES, VERDICTS
from formset.tasks.cluster import JointClusters, frame_scores, nearest_distance

SAMPLE_KEY: list[str] = ["set_id", "sample_id"]
SEGMENT_KEY: list[str] = ["set_id", "sample_id", "view", "rep"]
#: Scopes of a comparison: a whole recording, or one rep.
RECORDING, REP = "recording", "rep"


def feature_columns(joints: list[str], axes: list[str], has_depth: bool) -> list[str]:
    """The DTW features of a view: ``<joint>_<axis>``, ``z`` only where the view has depth."""
    return [f"{joint}_{axis}" for joint in joints for axis in axes if axis != "z" or has_depth]


def interpolate_columns(values: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Fill NaN in each column by linear interpolation over ``time_s`` (ends held).

    Parameters
    ----------
    values
        float, shape ``(frame, feature)``.
    time_s
        float, shape ``(frame,)``, increasing.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``values``; columns without any value stay NaN.
    """
    filled = np.array(values, dtype=np.float64)
    for column in range(filled.shape[1]):  # loop over features, vectorized over frames
        known = np.isfinite(filled[:, column])
        if known.any() and not known.all():
            filled[:, column] = np.interp(time_s, time_s[known], filled[known, column])
    return filled


def segments(frames: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Whole recordings and reps of one exercise x view as DTW-ready arrays.

    Parameters
    ----------
    frames
        ``FEATURES`` rows with the ``rep`` column of ``KINEMATICS`` (null outside reps), one
        exercise and view, any number of samples.
    features
        Columns to compare.

    Returns
    -------
    index : pandas.DataFrame
        One row per segment: ``set_id``, ``sample_id``, ``view``, ``rep`` (null: whole
        recording), ``subject_id``, ``label``.
    arrays : list of numpy.ndarray
        float64, shape ``(frame, feature)`` per segment, gaps interpolated.
    """
    rows, arrays = [], []
    for key, group in frames.groupby(["set_id", "sample_id", "view"], sort=True):
        group = group.sort_values("frame")
        values = interpolate_columns(group[features].to_numpy(dtype=np.float64), group["time_s"].to_numpy())
        info = {"subject_id": group["subject_id"].iloc[0], "label": group["label"].iloc[0]}
        rows.append({**dict(zip(["set_id", "sample_id", "view"], key)), "rep": pd.NA, **info})
        arrays.append(values)
        rep = group["rep"].to_numpy(dtype=np.float64, na_value=np.nan)
        for number in np.unique(rep[np.isfinite(rep)]).astype(int):
            rows.append({**dict(zip(["set_id", "sample_id", "view"], key)), "rep": number, **info})
            arrays.append(values[rep == number])
    index = pd.DataFrame(rows, columns=[*SEGMENT_KEY, "subject_id", "label"])
    index["rep"] = index["rep"].astype("Int16")
    return index, arrays


def dtw_to_references(arrays: list[np.ndarray], references: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """DTW distance of every segment (or of ``targets`` only) to every reference segment, per feature.

    Parameters
    ----------
    arrays
        Segments, float64 arrays of shape ``(frame, feature)`` (same features).
    references
        int, indices into ``arrays`` of the references.
    targets
        int, indices into ``arrays`` of the segments to measure, none of them a reference
        (one new recording against a dataset's references); None: every segment.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(segment, reference, feature)``, in the features' units (torso
        lengths: the square root of the summed squared differences along the warping path);
        NaN where a segment or reference lacks the feature, and in the rows not in ``targets``.
    """
    n_features = arrays[0].shape[1] if arrays else 0
    n_references = len(references)
    others = np.setdiff1d(np.arange(len(arrays)), references) if targets is None else np.asarray(targets, dtype=np.intp)
    # References first: then the block "reference rows x the columns measured" holds every pair needed.
    order = np.concatenate([references, others]).astype(np.intp)
    first_column = 0 if targets is None else n_references
    distances = np.full((len(arrays), n_references, n_features), np.nan)
    if not n_references:
        return distances
    for feature in range(n_features):  # the C library does every pair of one feature at once
        series = [np.ascontiguousarray(arrays[i][:, feature]) for i in order]
        missing = np.array([not np.isfinite(s).all() for s in series])
        series = [np.zeros(1) if gone else s for s, gone in zip(series, missing)]
        # dtaidistance fails on a one-series matrix; a series is at distance 0 from itself.
        matrix = (
            dtw.distance_matrix_fast(series, block=((0, n_references), (first_column, len(series))))
            if len(series) > 1
            else np.zeros((1, 1))
        )
        block = matrix[:, :n_references].copy()  # (segment in `order`, reference)
        block[missing] = np.nan
        block[:, missing[:n_references]] = np.nan
        distances[order[first_column:], :, feature] = block[first_column:]
    return distances


def _pick_references(index: pd.DataFrame, chosen: str | None) -> np.ndarray:
    """Indices of the reference segments of ``index`` (same scope): the one execution
    ``chosen`` (``set_id/sample_id``), else every correct one."""
    if chosen:
        set_id, _, sample_id = chosen.partition("/")
        mask = (index["set_id"] == set_id) & (index["sample_id"] == sample_id)
    else:
        mask = index["label"] == "correct"
    return np.flatnonzero(mask.to_numpy())


def compare_group(
    frames: pd.DataFrame, exercise: str, view: str, params: CompareParams, measured: set[tuple[str, str]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Distances of every recording and rep of one exercise x view (or of the ``measured``
    samples only) to its references.

    Parameters
    ----------
    frames
        As ``segments``, with ``subject_id`` and ``label`` of the catalog.
    exercise, view
        The group.
    params
        The ``compare`` group of ``params.yaml``: ``joints``, ``axes``, ``references``.
    measured
        ``(set_id, sample_id)`` of the samples to measure, never references themselves (a new
        recording analyzed against a version's correct executions); None: every sample.

    Returns
    -------
    distances : pandas.DataFrame
        ``DISTANCES`` columns (of the measured samples).
    verdicts : pandas.DataFrame
        ``VERDICTS`` columns, ``threshold`` and ``beyond_threshold`` still empty.
    """
    has_depth = bool(np.isfinite(frames[[f"{j}_z" for j in params.joints]].to_numpy(dtype=np.float64)).any())
    features = feature_columns(params.joints, params.axes, has_depth)
    index, arrays = segments(frames, features)
    distance_parts, verdict_parts = [], []
    for is_rep in (False, True):
        scope = np.flatnonzero(index["rep"].notna().to_numpy() == is_rep)
        if not len(scope):
            continue
        scoped = index.iloc[scope].reset_index(drop=True)
        targets = None
        if measured is not None:
            is_measured = np.array([key in measured for key in zip(scoped["set_id"], scoped["sample_id"])], dtype=bool)
            scoped.loc[is_measured, "label"] = None  # a measured sample is never its own reference
            targets = np.flatnonzero(is_measured)
        references = _pick_references(scoped, params.references.get(exercise))
        reference_subjects = scoped["subject_id"].to_numpy()[references]
        per_pair = dtw_to_references([arrays[i] for i in scope], references, targets)  # (segment, reference, feature)
        if targets is not None:
            per_pair, scoped = per_pair[targets], scoped.iloc[targets].reset_index(drop=True)
        # Nobody is compared with themselves (their own other reps included).
        same_person = scoped["subject_id"].to_numpy()[:, None] == reference_subjects[None, :]
        per_pair[same_person] = np.nan
        with warnings.catch_warnings():  # "All-NaN slice": a segment without references is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            per_feature = np.nanmedian(per_pair, axis=1)  # (segment, feature)
            overall = np.nanmedian(np.nanmedian(per_pair, axis=2), axis=1)  # (segment,)
        n_references = np.isfinite(per_pair).any(axis=2).sum(axis=1)
        distance_parts.append(
            scoped[SEGMENT_KEY]
            .loc[np.repeat(np.arange(len(scoped)), len(features))]
            .reset_index(drop=True)
            .assign(
                exercise=exercise,
                feature=np.tile(features, len(scoped)),
                distance=per_feature.reshape(-1).astype(np.float32),
                n_references=np.repeat(n_references, len(features)).astype(np.int32),
            )[DISTANCES.names]
        )
        farthest = np.where(
            np.isfinite(per_feature).any(axis=1), np.argmax(np.nan_to_num(per_feature, nan=-np.inf), axis=1), -1
        )
        verdict_parts.append(
            scoped[SEGMENT_KEY].assign(
                exercise=exercise,
                label=scoped["label"],
                distance=overall.astype(np.float32),
                threshold=np.nan,
                beyond_threshold=pd.NA,
                most_distant_feature=[features[i] if i >= 0 else None for i in farthest],
                n_references=n_references.astype(np.int32),
            )[VERDICTS.names]
        )
    return pd.concat(distance_parts, ignore_index=True), pd.concat(verdict_parts, ignore_index=True)


def learn_threshold(distance: np.ndarray, incorrect: np.ndarray) -> dict:
    """The distance that best separates correct from incorrect, and the ROC AUC.

    Parameters
    ----------
    distance
        float, shape ``(execution,)``; NaN rows are ignored.
    incorrect
        bool, shape ``(execution,)``: the label is ``incorrect``.

    Returns
    -------
    dict
        ``threshold`` (a distance above it says incorrect), ``balanced_accuracy`` at it,
        ``auc``, ``n_correct``, ``n_incorrect``; NaN figures when a class is absent.
    """
    known = np.isfinite(distance)
    distance, incorrect = distance[known], incorrect[known]
    counts = {"n_correct": int((~incorrect).sum()), "n_incorrect": int(incorrect.sum())}
    if not counts["n_correct"] or not counts["n_incorrect"]:
        return {"threshold": float("nan"), "balanced_accuracy": float("nan"), "auc": float("nan"), **counts}
    values = np.unique(distance)
    candidates = np.concatenate([[values[0] - 1e-9], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-9]])
    says_incorrect = distance[None, :] > candidates[:, None]  # (candidate, execution)
    recall = (says_incorrect & incorrect).sum(axis=1) / incorrect.sum()
    specificity = (~says_incorrect & ~incorrect).sum(axis=1) / (~incorrect).sum()
    balanced = (recall + specificity) / 2
    best = int(np.argmax(balanced))
    return {
        "threshold": float(candidates[best]),
        "balanced_accuracy": float(balanced[best]),
        "auc": float(roc_auc_score(incorrect, distance)),
        **counts,
    }


def compare_executions(
    features: pd.DataFrame, kinematics: pd.DataFrame, samples: pd.DataFrame, params: CompareParams
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """DTW distances, learned thresholds and verdicts of every recording and rep.

    Parameters
    ----------
    features
        ``FEATURES`` rows.
    kinematics
        ``KINEMATICS`` rows (only the key columns and ``rep`` are read).
    samples
        The ``SAMPLES`` catalog (``subject_id``, ``exercise``, ``label``).
    params
        The ``compare`` group of ``params.yaml``: ``views``, ``joints``, ``axes``,
        ``references``.

    Returns
    -------
    distances : pandas.DataFrame
        ``DISTANCES`` rows.
    verdicts : pandas.DataFrame
        ``VERDICTS`` rows, with each group's learned threshold.
    metrics : dict
        ``{scope: {"<exercise>/<view>": learn_threshold(...)}}`` for ``recording`` and ``rep``,
        plus ``auc_mean`` per scope (the mean over groups that have an AUC).
    """
    frames = features[features["view"].isin(params.views)].merge(
        kinematics[["set_id", "sample_id", "view", "frame", "rep"]], on=["set_id", "sample_id", "view", "frame"], how="left"
    ).merge(samples[[*SAMPLE_KEY, "subject_id", "exercise", "label"]], on=SAMPLE_KEY, how="inner")
    distance_parts, verdict_parts = [], []
    for (exercise, view), group in frames.groupby(["exercise", "view"], sort=True):
        distances, verdicts = compare_group(group, exercise, view, params)
        distance_parts.append(distances)
        verdict_parts.append(verdicts)
    if not verdict_parts:
        empty = {scope: {"auc_mean": float("nan"), "groups": {}} for scope in (RECORDING, REP)}
        return DISTANCES.empty_table().to_pandas(), VERDICTS.empty_table().to_pandas(), empty
    distances = pd.concat(distance_parts, ignore_index=True)
    verdicts = pd.concat(verdict_parts, ignore_index=True)
    metrics: dict = {}
    scope_of = np.where(verdicts["rep"].isna(), RECORDING, REP)
    for scope in (RECORDING, REP):
        groups = {}
        for (exercise, view), rows in verdicts[scope_of == scope].groupby(["exercise", "view"], sort=True):
            labeled = rows[rows["label"].isin(["correct", "incorrect"])]
            learned = learn_threshold(labeled["distance"].to_numpy(np.float64), (labeled["label"] == "incorrect").to_numpy())
            if not (rows["n_references"] > 0).any():
                learned["skipped"] = (
                    f"no correct {exercise} executions by other people in the {view} view: nothing to compare with"
                )
            groups[f"{exercise}/{view}"] = learned
            verdicts.loc[rows.index, "threshold"] = learned["threshold"]
        aucs = [g["auc"] for g in groups.values() if np.isfinite(g["auc"])]
        metrics[scope] = {"auc_mean": float(np.mean(aucs)) if aucs else float("nan"), "groups": groups}
    known = verdicts["distance"].notna() & verdicts["threshold"].notna()
    verdicts["beyond_threshold"] = pd.array(
        np.where(known, verdicts["distance"] > verdicts["threshold"], None), dtype="boolean"
    )
    return distances, verdicts, metrics


def skip_reason(verdicts: pd.DataFrame, views: list[str]) -> str | None:
    """Why the comparison says nothing about any recording, or None when it compared some.

    Parameters
    ----------
    verdicts
        ``VERDICTS`` rows of ``compare_executions``.
    views
        The compared views (``params.yaml: compare.views``), for the message.
    """
    if verdicts.empty:
        return f"no recordings in the compared views ({', '.join(views)})"
    if not (verdicts["n_references"] > 0).any():
        return (
            "no correct executions by other people to compare with: every distance is empty; "
            "label correct executions of at least two people per exercise"
        )
    return None


def rep_joint_scores(
    features: pd.DataFrame, kinematics: pd.DataFrame, samples: pd.DataFrame, clusters: JointClusters, max_distance: float
) -> pd.DataFrame:
    """The Smart Fitness Trainer's per-joint scores, per rep: which joint strays farthest from correct executions.

    Parameters
    ----------
    features
        ``FEATURES`` rows.
    kinematics
        ``KINEMATICS`` rows (key columns and ``rep``).
    samples
        The ``SAMPLES`` catalog (``exercise``).
    clusters
        The cluster stage's centroids (``tasks.cluster.load_clusters``).
    max_distance
        Torso lengths at which a frame scores 0 (``params.cluster.max_distance``).

    Returns
    -------
    pandas.DataFrame
        ``REP_SCORES`` rows, one per sample x view x rep x core joint: ``score`` 0-1 (NaN
        without centroids or frames), ``mean_distance`` torso lengths, ``n_frames`` scored,
        ``deviation_rank`` 1 for the lowest score of the rep.
    """
    keys = ["set_id", "sample_id", "view", "frame"]
    in_reps = kinematics.loc[kinematics["rep"].notna(), [*keys, "rep"]]
    frames = features.merge(in_reps, on=keys, how="inner").merge(samples[[*SAMPLE_KEY, "exercise"]], on=SAMPLE_KEY)
    parts = []
    for (exercise, view), group in frames.groupby(["exercise", "view"], sort=True):
        rep_keys = group[["set_id", "sample_id", "view", "rep"]]
        for joint in CORE_JOINTS:
            centroids = clusters.centroids.get((exercise, view, joint))
            axes = ("x", "y", "z")[: centroids.shape[1]] if centroids is not None else ("x", "y")
            positions = group[[f"{joint}_{a}" for a in axes]].to_numpy(dtype=np.float64)
            valid = np.isfinite(positions).all(axis=1)
            distance = np.full(len(group), np.nan)
            if centroids is not None and len(centroids) and valid.any():
                distance[valid] = nearest_distance(positions[valid], centroids)
            per_frame = rep_keys.assign(
                distance=distance, score=frame_scores(distance, max_distance), scored=np.isfinite(distance)
            )
            summary = per_frame.groupby(["set_id", "sample_id", "view", "rep"], sort=True).agg(
                score=("score", "mean"), mean_distance=("distance", "mean"), n_frames=("scored", "sum")
            )
            parts.append(summary.reset_index().assign(exercise=exercise, joint=joint))
    if not parts:
        return REP_SCORES.empty_table().to_pandas()
    scores = pd.concat(parts, ignore_index=True)
    rank = scores.groupby(["set_id", "sample_id", "view", "rep"])["score"].rank(method="first", ascending=True)
    scores["deviation_rank"] = pd.array(rank.to_numpy(), dtype="Float64").astype("Int16")
    scores["score"] = scores["score"].astype(np.float32)
    scores["mean_distance"] = scores["mean_distance"].astype(np.float32)
    scores["n_frames"] = scores["n_frames"].astype(np.int32)
    return scores.sort_values(["set_id", "sample_id", "view", "rep", "joint"], ignore_index=True)[REP_SCORES.names]


def json_safe(value):
    """``value`` with every float NaN replaced by None (JSON has no NaN; DVC reads JSON)."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
