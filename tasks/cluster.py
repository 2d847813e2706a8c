"""Per-joint form scores against clusters of correct executions (Smart Fitness Trainer, docs/methods.md).

For every exercise, view and core joint, the normalized positions of all frames of
*correct* executions are clustered with DBSCAN; each cluster's mean is a centroid of where
that joint goes when the exercise is done right. A sample is scored per joint: in every
frame the distance ``d`` (torso lengths) from the joint to the nearest centroid gives the
frame score ``clip(1 - d / max_distance, 0, 1)``; the joint's score is the mean over frames.

Positions are the ``FEATURES`` columns ``<joint>_x``, ``<joint>_y`` and, where the view has
depth (the kinect view), ``<joint>_z``. A frame in which the joint is missing is not scored.
An (exercise, view, joint) without correct frames, or whose frames DBSCAN labels all
noise, has no centroid and scores NaN, never 0: "unknown" is not "wrong".

``params`` is the ``cluster`` group of ``params.yaml``: ``views``, ``eps`` and
``max_distance`` (torso lengths), ``min_samples`` (points), ``max_fit_points``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN

from formset.params import ClusterParams, plain
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.tables import SCORES
from formset.storage import write_json

#: Axes of a view without depth, and of one with depth.
PLANAR_AXES: tuple[str, ...] = ("x", "y")
SPATIAL_AXES: tuple[str, ...] = ("x", "y", "z")

SAMPLE_KEY: list[str] = ["set_id", "sample_id"]
GROUP_KEY: list[str] = ["exercise", "view"]

#: DBSCAN's label of points in no cluster.
NOISE = -1

#: Frames compared with the centroids at once; bounds the (frame, cluster, axis) temporary.
DISTANCE_CHUNK_FRAMES = 65_536

#: File format tag of saved clusters, checked on load.
FILE_FORMAT = "formset.joint_clusters/1"

ClusterKey = tuple[str, str, str]


@dataclass(frozen=True)
class JointClusters:
    """Centroids of correct executions per (exercise, view, joint).

    Attributes
    ----------
    centroids
        ``(exercise, view, joint) -> array (cluster, axis)`` of float64 centroids in torso
        lengths, ``axis`` over ``PLANAR_AXES`` or ``SPATIAL_AXES``. A key with zero rows
        means DBSCAN found only noise; a missing key means no correct frames.
    params
        The ``cluster`` parameters the centroids were fitted with (``formset.params.plain``:
        as the clusters file records them).
    subjects
        The subjects whose executions were used, sorted; None when all were.
    """

    centroids: dict[ClusterKey, np.ndarray]
    params: dict
    subjects: tuple[str, ...] | None = None


def cluster_centroids(points: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN ``points`` and return the mean of each cluster, noise dropped.

    Parameters
    ----------
    points
        float, shape ``(point, axis)``, no NaN.
    eps
        DBSCAN neighbourhood radius, in the units of ``points``.
    min_samples
        Points (the point itself included) within ``eps`` that make a core point.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(cluster, axis)``, in DBSCAN's label order; zero rows when every
        point is noise.
    """
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(points)
    clustered = labels != NOISE
    n_clusters = labels.max() + 1 if clustered.any() else 0
    sums = np.zeros((n_clusters, points.shape[1]))
    np.add.at(sums, labels[clustered], points[clustered])
    counts = np.bincount(labels[clustered], minlength=n_clusters)
    return sums / counts[:, np.newaxis]


def nearest_distance(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to its nearest centroid.

    Parameters
    ----------
    points
        float, shape ``(frame, axis)``.
    centroids
        float, shape ``(cluster, axis)`` with at least one cluster.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(frame,)``, in the units of the inputs.
    """
    chunks = [
        np.sqrt(((chunk[:, np.newaxis, :] - centroids[np.newaxis, :, :]) ** 2).sum(axis=-1)).min(axis=1)
        for chunk in np.split(points, np.arange(DISTANCE_CHUNK_FRAMES, len(points), DISTANCE_CHUNK_FRAMES))
    ]
    return np.concatenate(chunks) if chunks else np.empty(0)


def frame_scores(distance: np.ndarray, max_distance: float) -> np.ndarray:
    """Score per frame: 1 on a centroid, falling linearly to 0 at ``max_distance``.

    Parameters
    ----------
    distance
        float, any shape: distance to the nearest centroid, torso lengths.
    max_distance
        Distance (torso lengths) at and beyond which a frame scores 0.
    """
    return np.clip(1.0 - distance / max_distance, 0.0, 1.0)


def even_subsample(points: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` rows of ``points``, evenly spaced over its order (deterministic).

    Rows are in (sample, frame) order, so even spacing keeps every sample and every phase of
    the movement represented.
    """
    if len(points) <= max_points:
        return points
    return points[np.linspace(0, len(points) - 1, max_points).round().astype(np.intp)]


def _position_columns(joint: str, axes: tuple[str, ...]) -> list[str]:
    return [f"{joint}_{axis}" for axis in axes]


def _view_axes(rows: pd.DataFrame) -> tuple[str, ...]:
    """``SPATIAL_AXES`` when any core joint of ``rows`` has a depth value, else ``PLANAR_AXES``."""
    depth = rows[[f"{joint}_z" for joint in CORE_JOINTS]].to_numpy()
    return SPATIAL_AXES if np.isfinite(depth).any() else PLANAR_AXES


def _with_catalog(features: pd.DataFrame, samples: pd.DataFrame, views: Iterable[str]) -> pd.DataFrame:
    """Frames of ``views`` with the sample's exercise, label and subject, in (sample, view, frame) order.

    Frames of samples absent from the catalog are dropped (they have no exercise).
    """
    columns = [*SAMPLE_KEY, "view", "frame", *[c for j in CORE_JOINTS for c in _position_columns(j, SPATIAL_AXES)]]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"the features table lacks the columns {missing}")
    frames = features.loc[features["view"].isin(list(views)), columns]
    catalog = samples[[*SAMPLE_KEY, "subject_id", "exercise", "label"]]
    rows = frames.merge(catalog, on=SAMPLE_KEY, how="inner", validate="many_to_one")
    return rows.sort_values([*SAMPLE_KEY, "view", "frame"], ignore_index=True)


def fit_joint_clusters(
    features: pd.DataFrame,
    samples: pd.DataFrame,
    params: ClusterParams,
    subjects: Iterable[str] | None = None,
) -> JointClusters:
    """Cluster the positions of correct executions per exercise, view and core joint.

    Parameters
    ----------
    features
        ``FEATURES`` rows (one per sample x view x frame); only the key columns and the
        core joints' positions are read.
    samples
        The ``SAMPLES`` catalog: ``subject_id``, ``exercise`` and ``label`` per sample.
    params
        The ``cluster`` group: ``views``, ``eps``, ``min_samples``, ``max_fit_points``.
    subjects
        Fit on these subjects' executions only (e.g. the training subjects, so that scores
        of held-out people are not flattered by their own frames); None for all.

    Returns
    -------
    JointClusters
    """
    rows = _with_catalog(features, samples, params.views)
    correct = rows[rows["label"] == "correct"]
    if subjects is not None:
        subjects = tuple(sorted(set(subjects)))
        correct = correct[correct["subject_id"].isin(subjects)]
    centroids: dict[ClusterKey, np.ndarray] = {}
    for (exercise, view), group in correct.groupby(GROUP_KEY, sort=True):
        axes = _view_axes(group)
        for joint in CORE_JOINTS:
            points = group[_position_columns(joint, axes)].to_numpy(dtype=np.float64)
            points = points[np.isfinite(points).all(axis=1)]
            if len(points):
                points = even_subsample(points, params.max_fit_points)
                centroids[(exercise, view, joint)] = cluster_centroids(points, params.eps, params.min_samples)
    return JointClusters(centroids=centroids, params=plain(params), subjects=subjects)


def _score_joint(
    positions: np.ndarray, sample_code: np.ndarray, n_samples: int, centroids: np.ndarray | None, max_distance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample mean score, mean distance and scored frame count of one joint.

    Parameters
    ----------
    positions
        float, shape ``(frame, axis)``; NaN where the joint is missing.
    sample_code
        int, shape ``(frame,)``: the sample (0 .. n_samples-1) each frame belongs to.
    centroids
        float, shape ``(cluster, axis)``, or None when there are none.

    Returns
    -------
    tuple of numpy.ndarray
        ``(score, mean_distance, n_frames)``, each of shape ``(n_samples,)``; score and
        distance NaN where there are no centroids or no frames with the joint.
    """
    valid = np.isfinite(positions).all(axis=1)
    n_frames = np.bincount(sample_code[valid], minlength=n_samples)
    if centroids is None or len(centroids) == 0:
        unknown = np.full(n_samples, np.nan)
        return unknown, unknown, n_frames
    distance = nearest_distance(positions[valid], centroids)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_distance = np.bincount(sample_code[valid], weights=distance, minlength=n_samples) / n_frames
        score = (
            np.bincount(sample_code[valid], weights=frame_scores(distance, max_distance), minlength=n_samples)
            / n_frames
        )
    return score, mean_distance, n_frames


def score_samples(
    features: pd.DataFrame, samples: pd.DataFrame, clusters: JointClusters, params: ClusterParams
) -> pd.DataFrame:
    """Score every sample of the catalog per view and core joint against ``clusters``.

    Parameters
    ----------
    features
        ``FEATURES`` rows of the samples to score (any label, unlabeled included).
    samples
        The ``SAMPLES`` catalog (gives each sample's exercise).
    clusters
        From ``fit_joint_clusters``.
    params
        The ``cluster`` group: ``views``, ``max_distance``.

    Returns
    -------
    pandas.DataFrame
        Exactly the ``SCORES`` columns, one row per sample x view x core joint: ``score``
        (0-1, the mean frame score), ``mean_distance`` (torso lengths) and ``n_frames`` (the
        frames in which the joint was present and scored).
    """
    rows = _with_catalog(features, samples, params.views)
    parts = []
    for (exercise, view), group in rows.groupby(GROUP_KEY, sort=True):
        sample_code = group.groupby(SAMPLE_KEY, sort=False).ngroup().to_numpy()
        first_rows = group.drop_duplicates(SAMPLE_KEY)
        n_samples = len(first_rows)
        view_axes = _view_axes(group)
        for joint in CORE_JOINTS:
            centroids = clusters.centroids.get((exercise, view, joint))
            axes = view_axes if centroids is None else SPATIAL_AXES[: centroids.shape[1]]
            positions = group[_position_columns(joint, axes)].to_numpy(dtype=np.float64)
            score, mean_distance, n_frames = _score_joint(
                positions, sample_code, n_samples, centroids, params.max_distance
            )
            parts.append(
                pd.DataFrame(
                    {
                        "set_id": first_rows["set_id"].to_numpy(),
                        "sample_id": first_rows["sample_id"].to_numpy(),
                        "view": view,
                        "exercise": exercise,
                        "joint": joint,
                        "score": score.astype(np.float32),
                        "mean_distance": mean_distance.astype(np.float32),
                        "n_frames": n_frames.astype(np.int32),
                    }
                )
            )
    if not parts:
        return SCORES.empty_table().to_pandas()
    return pd.concat(parts, ignore_index=True)[SCORES.names]


def exercises_without_clusters(samples: pd.DataFrame, clusters: JointClusters) -> list[str]:
    """Exercises of the catalog with no cluster at all: nothing to score their joints against.

    Parameters
    ----------
    samples
        The ``SAMPLES`` catalog.
    clusters
        From ``fit_joint_clusters``.
    """
    clustered = {exercise for exercise, _, _ in clusters.centroids}
    return sorted(set(samples["exercise"].dropna()) - clustered)


def save_clusters(clusters: JointClusters, path: str | os.PathLike) -> None:
    """Write ``clusters`` as JSON (atomically), centroids as nested lists."""
    write_json(
        {
            "format": FILE_FORMAT,
            "params": clusters.params,
            "subjects": None if clusters.subjects is None else list(clusters.subjects),
            "groups": [
                {
                    "exercise": exercise,
                    "view": view,
                    "joint": joint,
                    "n_axes": int(centroids.shape[1]),
                    "centroids": centroids.tolist(),
                }
                for (exercise, view, joint), centroids in sorted(clusters.centroids.items())
            ],
        },
        path,
    )


def load_clusters(path: str | os.PathLike) -> JointClusters:
    """Read clusters written by ``save_clusters``.

    Raises
    ------
    ValueError
        The file is not a formset clusters file of this version.
    """
    content = json.loads(Path(path).read_text())
    if content.get("format") != FILE_FORMAT:
        raise ValueError(f"{path} is not a {FILE_FORMAT} file (format {content.get('format')!r})")
    centroids = {
        (group["exercise"], group["view"], group["joint"]): np.asarray(group["centroids"], dtype=np.float64).reshape(
            -1, group["n_axes"]
        )
        for group in content["groups"]
    }
    subjects = content["subjects"]
    return JointClusters(
        centroids=centroids, params=content["params"], subjects=None if subjects is None else tuple(subjects)
    )
