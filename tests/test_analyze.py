"""``formset.analyze``'s own logic on small synthetic tables: which source column a recording
fills, the verdict only against comparable references, and the worst joint by each method.
The video is decoded once: the overlay is drawn on the frames the pose backend decoded.
(The analysis end to end with MediaPipe: ``test_serve_browser.py`` and ``test_pipeline.py``.)"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULTS

from formset.analyze import (
    AnalysisRefused,
    Version,
    analyze,
    comparable_references,
    one_sample_catalog,
    source_column,
    verdict_text,
    worst_joint,
)
from formset.schemas import tables
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.tasks.pose.backends import BACKENDS
from formset.tasks.readers.video import iter_frames, tap


def test_faults_are_said_in_the_exercise_s_words_else_as_the_body_part():
    from formset.analyze import fault_words

    assert fault_words("squat")["fault_left_knee"] == "left knee caves in"
    assert fault_words("push_up")["fault_torso"] == "hips sag"
    assert fault_words("deadlift")["fault_torso"] == "trunk" and len(fault_words("deadlift")) == 6


def test_the_models_judge_only_views_they_learned_from():
    from formset.analyze import trained_views

    class Models:
        train_params = replace(DEFAULTS.train, views=("front", "diagonal", "side", "kinect"))

    version = Version("v1", pd.DataFrame(), models=Models(), train_metrics={"per_view": {"front": {}, "kinect": {}}})
    assert trained_views(version) == ["front", "kinect"]
    version.train_metrics = {}  # one view only: no per-view figures
    assert trained_views(version) == ["front", "diagonal", "side", "kinect"]


def test_a_recording_fills_the_source_column_of_its_kind_and_view(tmp_path):
    (tmp_path / "openpose").mkdir()
    assert source_column(tmp_path / "clip.MP4", "side") == "side_video"
    assert source_column(tmp_path / "skeleton.CSV", "front") == "kinect_csv"
    assert source_column(tmp_path / "openpose", "diagonal") == "openpose_diagonal"
    with pytest.raises(AnalysisRefused, match="cannot be the kinect view") as refused:
        source_column(tmp_path / "clip.mp4", "kinect")
    assert refused.value.reason == "unknown_view"


def test_the_one_sample_catalog_is_unlabeled_and_names_only_its_source():
    catalog = one_sample_catalog("side_video", "upload.mp4", "squat", 25.0)
    row = catalog.iloc[0]
    assert list(catalog.columns) == tables.SAMPLES.names and len(catalog) == 1
    assert (row["set_id"], row["sample_id"], row["exercise"], row["fps"], row["side_video"]) == ("analysis", "recording", "squat", 25.0, "upload.mp4")
    assert row["label"] is None and row["front_video"] is None and row["kinect_csv"] is None


def references(rows: list[tuple]) -> Version:
    frame = pd.DataFrame(rows, columns=["set_id", "sample_id", "exercise", "view", "source"])
    return Version("data-2026-12-01", frame)


def test_only_the_same_exercise_view_and_source_are_comparable():
    version = references([
        ("a", "s1", "squat", "side", "video"), ("a", "s2", "squat", "diagonal", "openpose"),
        ("a", "s3", "squat", "side", "openpose"), ("a", "s4", "lunge", "side", "video"),
    ])  # fmt: skip
    assert comparable_references(version, "squat", "side", "video")["sample_id"].tolist() == ["s1"]
    assert comparable_references(version, "squat", "front", "video").empty
    assert comparable_references(Version.empty("none"), "squat", "side", "video").empty


def verdicts(distance: float, threshold: float, beyond) -> pd.DataFrame:
    return pd.DataFrame({"rep": pd.array([pd.NA, 1], dtype="Int16"), "distance": [distance, 9.0],
                         "threshold": [threshold, 1.0], "beyond_threshold": pd.array([beyond, True], dtype="boolean")})  # fmt: skip


def test_the_verdict_needs_comparable_references_and_names_the_threshold():
    assert verdict_text(verdicts(2.74, 0.49, True), 0) == {"said": "no comparable references", "distance": None, "threshold": None, "references": 0}
    assert verdict_text(verdicts(2.74, 0.49, True), 12) == {"said": "unlike correct", "distance": pytest.approx(2.74), "threshold": pytest.approx(0.49), "references": 12}
    assert verdict_text(verdicts(0.3, 0.49, False), 12)["said"] == "like correct"
    assert verdict_text(verdicts(0.3, np.nan, pd.NA), 3)["said"] == "no threshold"
    assert verdict_text(verdicts(np.nan, 0.49, pd.NA), 3)["said"] == "no comparable references"


def test_the_worst_joint_by_dtw_and_by_clusters_side_by_side_or_agreed():
    distances = pd.DataFrame({"rep": pd.array([pd.NA, pd.NA, pd.NA, 1], dtype="Int16"),
                              "feature": ["left_ankle_y", "left_knee_x", "neck_y", "neck_x"],
                              "distance": [0.9, 0.4, np.nan, 5.0]})  # fmt: skip
    scores = pd.DataFrame({"joint": ["left_shoulder", "left_ankle", "neck"], "score": [0.2, 0.5, np.nan]})
    assert worst_joint(distances, scores) == {"dtw": "left_ankle", "dtw_feature": "left_ankle_y", "cluster": "left_shoulder",
                                              "cluster_score": pytest.approx(0.2), "agree": False}  # fmt: skip
    agreed = worst_joint(distances, scores.assign(score=[0.6, 0.1, 0.7]))
    assert (agreed["cluster"], agreed["agree"]) == ("left_ankle", True)
    assert worst_joint(distances.iloc[:0], scores.iloc[:0]) == {"dtw": None, "dtw_feature": None, "cluster": None, "cluster_score": None, "agree": False}


CLIP_FRAMES = 40  # conftest's real_clip


class SpoolingTestBackend:
    """Test double of a pose backend: decodes the video as a backend does (handing each frame to
    ``on_frame``) and returns a SYNTHETIC standing performer, hips swaying, in every frame."""

    name = "spooling-test"

    def extract(self, video, view, on_frame=None):
        frames = list(tap(iter_frames(video, max_side=540), on_frame))
        width, height = 608, 1080
        standing = {"nose": (300, 150), "neck": (300, 250), "left_shoulder": (300, 250), "right_shoulder": (300, 250),
                    "mid_hip": (300, 550), "left_hip": (300, 550), "right_hip": (300, 550), "left_knee": (310, 750),
                    "right_knee": (310, 750), "left_ankle": (300, 950), "right_ankle": (300, 950)}  # fmt: skip
        points = np.full((len(frames), len(JOINTS), 3), np.nan, dtype=np.float32)
        for joint, (x, y) in standing.items():
            points[:, JOINT_INDEX[joint], :2] = (x, y)
        points[:, :, 0] += 20 * np.sin(np.arange(len(frames)) / 3)[:, np.newaxis]
        confidence = np.where(np.isnan(points[:, :, 0]), np.nan, 0.9).astype(np.float32)
        index = np.array([f.index for f in frames])
        time_s = np.array([f.time_s for f in frames])
        return KeypointSeries(points, confidence, index, time_s, view, "mediapipe_blazepose33", "px", (width, height))


def test_a_video_is_decoded_once_its_overlay_drawn_on_the_pose_backend_s_frames(real_clip, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, SpoolingTestBackend.name, lambda params: SpoolingTestBackend())

    def no_second_decoding(*args, **kwargs):
        raise AssertionError("the overlay decoded the video again")

    monkeypatch.setattr("formset.tasks.render.overlay.iter_frames", no_second_decoding)
    params = replace(DEFAULTS, keypoints=replace(DEFAULTS.keypoints, pose_backend=SpoolingTestBackend.name))
    out = tmp_path / "out"
    result = analyze(real_clip, out, params, Version.empty("test"), view="side", exercise="squat", overlay_max_side=320)
    assert result["files"]["overlay"] == ["overlay.mp4"]
    assert sorted(p.name for p in out.iterdir()) == ["overlay.mp4", "report.html", "result.json"], "no frames left behind"
    capture = cv2.VideoCapture(str(out / "overlay.mp4"))
    found = (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    assert found == (CLIP_FRAMES, 180, 320), "every frame, at the overlay's size (the spool downscales the backend's 540)"
