"""Tests of the DBSCAN per-joint scoring stage on synthetic points whose answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from formset.params import ClusterParams
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.tables import SCORES
from formset.storage import to_arrow
from formset.tasks.cluster import (
    cluster_centroids,
    even_subsample,
    fit_joint_clusters,
    frame_scores,
    load_clusters,
    nearest_distance,
    save_clusters,
    score_samples,
)

PARAMS = ClusterParams(views=("front", "kinect"), eps=0.08, min_samples=5, max_distance=0.5, max_fit_points=5000)

#: Two poses every synthetic correct execution alternates between (torso lengths).
STAND = np.array([0.0, 0.0, 0.0])
SQUAT = np.array([0.0, -1.0, 0.0])


def synthetic_frames(set_id: str, sample_id: str, view: str, positions: np.ndarray) -> pd.DataFrame:
    """Synthetic FEATURES rows: every core joint at ``positions`` (frame, xyz); z NaN unless kinect."""
    positions = np.array(positions, dtype=np.float32)
    if view != "kinect":
        positions[:, 2] = np.nan
    columns = {"set_id": set_id, "sample_id": sample_id, "view": view, "frame": np.arange(len(positions))}
    for joint in CORE_JOINTS:
        for axis, name in enumerate("xyz"):
            columns[f"{joint}_{name}"] = positions[:, axis]
    return pd.DataFrame(columns)


def synthetic_catalog(rows: list[tuple[str, str, str, str, str | None]]) -> pd.DataFrame:
    """Synthetic SAMPLES rows from (set_id, sample_id, subject_id, exercise, label)."""
    return pd.DataFrame(rows, columns=["set_id", "sample_id", "subject_id", "exercise", "label"])


def alternating(n_frames: int, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Frames alternating between STAND and SQUAT, shifted by ``offset``."""
    return np.where((np.arange(n_frames) % 2 == 0)[:, None], STAND, SQUAT) + np.asarray(offset)


def test_two_tight_blobs_give_their_means_and_noise_is_dropped():
    rng = np.random.default_rng(0)
    blob_a = rng.normal([0.0, 0.0], 0.005, size=(40, 2))
    blob_b = rng.normal([1.0, 1.0], 0.005, size=(30, 2))
    isolated = np.array([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0]])
    centroids = cluster_centroids(np.vstack([blob_a, isolated, blob_b]), eps=0.08, min_samples=5)
    centroids = centroids[np.argsort(centroids[:, 0])]
    np.testing.assert_allclose(centroids, [blob_a.mean(axis=0), blob_b.mean(axis=0)])


def test_all_noise_gives_no_centroid():
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), axis=-1).reshape(-1, 2)
    assert cluster_centroids(grid, eps=0.08, min_samples=5).shape == (0, 2)


def test_frame_score_is_one_on_a_centroid_and_zero_beyond_max_distance():
    centroids = np.array([[0.0, 0.0], [1.0, 0.0]])
    points = np.array([[1.0, 0.0], [0.0, 0.25], [0.0, 0.5], [0.0, 3.0]])
    distance = nearest_distance(points, centroids)
    np.testing.assert_allclose(distance, [0.0, 0.25, 0.5, 3.0])
    np.testing.assert_allclose(frame_scores(distance, 0.5), [1.0, 0.5, 0.0, 0.0])


def test_even_subsample_is_deterministic_and_keeps_both_ends():
    points = np.arange(100.0)[:, None]
    picked = even_subsample(points, 10)
    assert len(picked) == 10 and picked[0, 0] == 0 and picked[-1, 0] == 99
    np.testing.assert_array_equal(picked, even_subsample(points, 10))
    assert even_subsample(points, 500) is points


def synthetic_set() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two correct squatters, one squatter off by 0.25 in y, one unlabeled on the centroids, one
    lunge (no correct lunges), in the front and kinect views; the kinect faulty one is off in z."""
    features = pd.concat(
        [
            synthetic_frames("s1", "good1", "front", alternating(20)),
            synthetic_frames("s1", "good1", "kinect", alternating(20)),
            synthetic_frames("s1", "good2", "front", alternating(30)),
            synthetic_frames("s1", "good2", "kinect", alternating(30)),
            synthetic_frames("s1", "bad", "front", alternating(20, offset=(0.0, 0.25, 0.0))),
            synthetic_frames("s1", "bad", "kinect", alternating(20, offset=(0.0, 0.0, 0.25))),
            synthetic_frames("s1", "unlabeled", "front", alternating(10)),
            synthetic_frames("s1", "lunge", "front", alternating(20)),
        ],
        ignore_index=True,
    )
    samples = synthetic_catalog(
        [
            ("s1", "good1", "p1", "squat", "correct"),
            ("s1", "good2", "p2", "squat", "correct"),
            ("s1", "bad", "p3", "squat", "incorrect"),
            ("s1", "unlabeled", "p4", "squat", None),
            ("s1", "lunge", "p1", "lunge", "incorrect"),
        ]
    )
    return features, samples


def test_fit_finds_the_two_poses_per_joint_in_2d_and_3d():
    features, samples = synthetic_set()
    clusters = fit_joint_clusters(features, samples, PARAMS)
    assert set(clusters.centroids) == {("squat", view, joint) for view in ("front", "kinect") for joint in CORE_JOINTS}
    front = clusters.centroids[("squat", "front", "neck")]
    kinect = clusters.centroids[("squat", "kinect", "neck")]
    np.testing.assert_allclose(sorted(map(tuple, front)), [SQUAT[:2], STAND[:2]], atol=1e-6)
    np.testing.assert_allclose(sorted(map(tuple, kinect)), [SQUAT, STAND], atol=1e-6)


def test_scores_known_answers_and_nan_where_unknown():
    features, samples = synthetic_set()
    clusters = fit_joint_clusters(features, samples, PARAMS)
    scores = score_samples(features, samples, clusters, PARAMS)
    assert list(scores.columns) == SCORES.names
    to_arrow(scores, SCORES)  # the table fits its schema
    assert len(scores) == len(CORE_JOINTS) * 8  # sample-views: 2 + 2 + 2 + 1 + 1
    by = scores.set_index(["sample_id", "view", "joint"])
    good = by.loc[("good1", "front", "left_knee")]
    assert good["score"] == pytest.approx(1.0) and good["mean_distance"] == pytest.approx(0.0, abs=1e-6)
    assert good["n_frames"] == 20
    for view in ("front", "kinect"):  # 0.25 off (y in front, z in kinect) with max_distance 0.5
        bad = by.loc[("bad", view, "left_knee")]
        assert bad["score"] == pytest.approx(0.5) and bad["mean_distance"] == pytest.approx(0.25)
    assert by.loc[("unlabeled", "front", "neck"), "score"] == pytest.approx(1.0)
    lunge = scores[scores["exercise"] == "lunge"]
    assert lunge["score"].isna().all() and lunge["mean_distance"].isna().all()
    assert (lunge["n_frames"] == 20).all()


def test_frames_without_the_joint_are_not_scored():
    features, samples = synthetic_set()
    clusters = fit_joint_clusters(features, samples, PARAMS)
    holes = features.copy()
    bad_front = (holes["sample_id"] == "bad") & (holes["view"] == "front")
    holes.loc[bad_front & (holes["frame"] < 5), "neck_x"] = np.nan
    holes.loc[bad_front, "mid_hip_y"] = np.nan
    by = score_samples(holes, samples, clusters, PARAMS).set_index(["sample_id", "view", "joint"])
    assert by.loc[("bad", "front", "neck"), "n_frames"] == 15
    assert by.loc[("bad", "front", "neck"), "score"] == pytest.approx(0.5)
    missing = by.loc[("bad", "front", "mid_hip")]
    assert missing["n_frames"] == 0 and np.isnan(missing["score"])


def test_all_noise_joint_scores_nan_not_zero():
    features, samples = synthetic_set()
    clusters = fit_joint_clusters(features, samples, replace(PARAMS, min_samples=1000))
    assert all(len(c) == 0 for c in clusters.centroids.values())
    scores = score_samples(features, samples, clusters, PARAMS)
    assert scores["score"].isna().all() and (scores["n_frames"] > 0).all()


def test_fit_on_a_subset_of_subjects_uses_only_their_frames():
    features, samples = synthetic_set()
    shifted = features["sample_id"] == "good2"
    features.loc[shifted, [f"{j}_x" for j in CORE_JOINTS]] += 3.0
    both = fit_joint_clusters(features, samples, PARAMS)
    only_p1 = fit_joint_clusters(features, samples, PARAMS, subjects=["p1"])
    assert len(both.centroids[("squat", "front", "neck")]) == 4
    assert len(only_p1.centroids[("squat", "front", "neck")]) == 2
    assert only_p1.subjects == ("p1",)
    by = score_samples(features, samples, only_p1, PARAMS).set_index(["sample_id", "view", "joint"])
    assert by.loc[("good2", "front", "neck"), "score"] == 0.0


def test_save_and_load_round_trip(tmp_path):
    features, samples = synthetic_set()
    clusters = fit_joint_clusters(features, samples, PARAMS, subjects=["p1", "p2"])
    noise_only = fit_joint_clusters(features, samples, replace(PARAMS, min_samples=1000))
    clusters.centroids[("lunge", "front", "neck")] = noise_only.centroids[("squat", "front", "neck")]
    save_clusters(clusters, tmp_path / "clusters.json")
    loaded = load_clusters(tmp_path / "clusters.json")
    assert loaded.params == clusters.params and loaded.subjects == clusters.subjects
    assert loaded.centroids.keys() == clusters.centroids.keys()
    for key, centroids in clusters.centroids.items():
        np.testing.assert_array_equal(loaded.centroids[key], centroids)
    assert loaded.centroids[("lunge", "front", "neck")].shape == (0, 2)
    pd.testing.assert_frame_equal(
        score_samples(features, samples, loaded, PARAMS), score_samples(features, samples, clusters, PARAMS)
    )


def test_load_refuses_other_files(tmp_path):
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a formset.joint_clusters"):
        load_clusters(tmp_path / "other.json")


def test_a_view_with_depth_in_some_frames_is_clustered_in_3d():
    positions = alternating(30, offset=(0.0, 0.0, 0.5))
    features = synthetic_frames("s1", "deep", "kinect", positions)
    features.loc[:4, [f"{joint}_z" for joint in CORE_JOINTS]] = np.nan  # depth lost for a moment
    clusters = fit_joint_clusters(features, synthetic_catalog([("s1", "deep", "p1", "squat", "correct")]), PARAMS)
    centroids = clusters.centroids[("squat", "kinect", "neck")]
    np.testing.assert_allclose(sorted(map(tuple, centroids)), [SQUAT + [0, 0, 0.5], STAND + [0, 0, 0.5]], atol=1e-6)


def test_scores_come_grouped_by_exercise_and_view_in_sorted_order():
    features, samples = synthetic_set()
    # "a-squat" sorts before "lunge" by sample, after it by exercise.
    features = features.replace({"sample_id": {"good1": "a-squat"}})
    samples = samples.replace({"sample_id": {"good1": "a-squat"}})
    scores = score_samples(features, samples, fit_joint_clusters(features, samples, PARAMS), PARAMS)
    groups = scores[["exercise", "view"]].drop_duplicates().apply(tuple, axis=1).tolist()
    assert groups == [("lunge", "front"), ("squat", "front"), ("squat", "kinect")]
