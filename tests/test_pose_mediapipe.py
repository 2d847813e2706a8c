"""The MediaPipe backend: the real model on the bundled real squat video, bad videos, and the
landmark-to-pixel conversion on synthetic landmarks.

The real run processes every second frame, downscaled to at most 480 px (``REAL_PARAMS``),
to keep the module well under 30 s on a shared CPU; the model sees the same person, only
fewer frames.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CUT_DECODED_FRAMES, REAL_FRAMES, cut_real_video
from scipy.signal import find_peaks

from formset.quarantine import Rejection, SampleError
from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.tasks.keypoints import read_view_outcome
from formset.tasks.pose.mediapipe_backend import (
    LANDMARK_COUNT,
    MediaPipeBackend,
    _StartUpNoiseHidden,
    check_detections,
    landmarks_to_series,
)
from formset.tasks.readers.video import iter_frames

pytest.importorskip("mediapipe")

REAL_VIDEO = Path(__file__).resolve().parent.parent / "samples" / "real-squat" / "squat_side.mp4"
REAL_SIZE, REAL_FPS = (608, 1080), 30000 / 1001
REAL_PARAMS = {"video_stride": 2, "video_max_side": 480, "min_detection_confidence": 0.5, "min_frames": 10}
#: data/README.md: two squats, bottoms near 10.5 s and 17.5 s, the hip dropping by about
#: 0.12 of the frame height.
SQUAT_BOTTOMS_S, HIP_DROP = (10.5, 17.5), 0.12


@pytest.fixture(scope="module")
def backend() -> MediaPipeBackend:
    return MediaPipeBackend(REAL_PARAMS)


@pytest.fixture(scope="module")
def real_series(backend):
    return backend.extract(REAL_VIDEO, "diagonal")


def test_real_video_series_has_one_row_per_processed_frame_with_container_times(real_series):
    kept = np.arange(0, REAL_FRAMES, REAL_PARAMS["video_stride"])
    np.testing.assert_array_equal(real_series.frame, kept)
    np.testing.assert_allclose(real_series.time_s, kept / REAL_FPS, atol=1e-3)
    assert real_series.image_size == REAL_SIZE
    assert (real_series.units, real_series.source, real_series.view) == ("px", "mediapipe_blazepose33", "diagonal")


def test_person_is_found_in_nearly_every_frame_inside_the_full_size_image(real_series):
    hips = real_series.points[:, JOINT_INDEX["mid_hip"], :2]
    found = np.isfinite(hips).all(axis=1)
    assert found.mean() >= 0.98
    width, height = REAL_SIZE
    # Pixels of the full-size frame although the model saw frames of at most 480 px.
    assert np.all((hips[found] > 0) & (hips[found] < [width, height]))
    assert hips[found, 1].max() > 480
    assert np.isnan(real_series.points[:, :, 2]).all()
    confidence = real_series.confidence[found][:, JOINT_INDEX["left_hip"]]
    assert np.all((confidence >= 0) & (confidence <= 1))


def test_mid_hip_height_shows_exactly_two_squats(real_series):
    hip_y = real_series.points[:, JOINT_INDEX["mid_hip"], 1] / REAL_SIZE[1]  # image y, down
    found = np.isfinite(hip_y)
    bottoms, shape = find_peaks(hip_y[found], prominence=HIP_DROP / 2)
    assert len(bottoms) == 2
    np.testing.assert_allclose(real_series.time_s[found][bottoms], SQUAT_BOTTOMS_S, atol=0.6)
    np.testing.assert_allclose(shape["prominences"], HIP_DROP, atol=0.04)


def test_video_with_nobody_in_it_is_no_person_detected(backend, tmp_path):
    # Synthetic: 3 s of plain frames slowly changing colour, nobody in view.
    levels = np.linspace(40, 200, 45).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (45, 240, 320, 3)).copy()
    video = _write(tmp_path / "nobody.mp4", frames, fps=15)
    with pytest.raises(SampleError) as raised:
        backend.extract(video, "front")
    assert raised.value.reason == "no_person_detected"
    assert "nobody.mp4" in raised.value.detail


def test_video_shorter_than_the_reference_window_is_too_few_frames(tmp_path):
    # The first 4 frames of the real video: the person is there, but 4 < min_frames (10)
    # and < the normalize stage's reference window (5).
    frames = np.stack([f.image for f, _ in zip(iter_frames(REAL_VIDEO), range(4))])
    video = _write(tmp_path / "short.mp4", frames, fps=REAL_FPS)
    with pytest.raises(SampleError) as raised:
        MediaPipeBackend({**REAL_PARAMS, "video_stride": 1}).extract(video, "front")
    assert raised.value.reason == "too_few_frames"
    assert "only 4 of the 4" in raised.value.detail
    assert "min_frames" in raised.value.detail


def test_a_video_cut_off_in_transfer_is_quarantined_by_the_keypoints_stage(backend, tmp_path):
    # The whole video goes through (real_series); cut at 1/7 of its bytes with its index
    # first, it opens, declares 614 frames and decodes 64: the reader's check rejects it.
    cut_real_video(tmp_path / "set" / "squat_side.mp4", index_at="first")
    sample = {"set_id": "real", "sample_id": "squat_side", "fps": REAL_FPS, "kinect_units": "m", "diagonal_video": "squat_side.mp4"}
    outcome = read_view_outcome(sample, "diagonal_video", tmp_path / "set", {"min_frames": 10}, backend)
    assert isinstance(outcome, Rejection)
    assert (outcome.stage, outcome.sample_id, outcome.reason) == ("keypoints", "squat_side", "video_truncated")
    assert outcome.detail.startswith(f"squat_side.mp4: decoded {CUT_DECODED_FRAMES} of {REAL_FRAMES} frames")
    assert "Deliver the whole file again" in outcome.detail


def test_unreadable_video_keeps_the_reader_reason(backend, tmp_path):
    video = tmp_path / "notes.mp4"
    video.write_text("not a video\n")
    with pytest.raises(SampleError) as raised:
        backend.extract(video, "front")
    assert raised.value.reason == "unreadable_video"


def test_mediapipe_start_up_noise_stays_out_of_stderr(tmp_path, capfd):
    frames = np.stack([f.image for f, _ in zip(iter_frames(REAL_VIDEO), range(12))])
    video = _write(tmp_path / "clip.mp4", frames, fps=REAL_FPS)
    series = MediaPipeBackend({**REAL_PARAMS, "video_stride": 1}).extract(video, "front")
    assert series.n_frames == 12
    assert capfd.readouterr().err == ""


def test_noise_filter_passes_on_other_stderr_lines(capfd):
    with _StartUpNoiseHidden():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"W0000 00:00:1.5   7915 inference_feedback_manager.cc:114] Feedback manager ...\n")
        os.write(2, b"E0000 00:00:1.6   7915 graph.cc:1] a real error\n")
        print("a warning from Python", file=sys.stderr)
    # pytest captures Python's sys.stderr apart from descriptor 2, hence no order.
    assert sorted(capfd.readouterr().err.splitlines()) == [
        "E0000 00:00:1.6   7915 graph.cc:1] a real error",
        "a warning from Python",
    ]


def test_landmarks_become_pixels_of_the_canonical_skeleton():
    # Synthetic landmarks: landmark i at (i / 40, i / 80) of the image, visibility i / 100;
    # frame 1 has nobody.
    fractions = np.arange(LANDMARK_COUNT, dtype=np.float32)
    frame_landmarks = np.stack([fractions / 40, fractions / 80, fractions / 100], axis=1)
    normalized = np.stack([frame_landmarks, np.full_like(frame_landmarks, np.nan)])
    series = landmarks_to_series(normalized, np.array([0, 2]), np.array([0.0, 0.1]), (400, 800), "front")

    left_hip = JOINT_INDEX["left_hip"]  # BlazePose landmark 23
    np.testing.assert_allclose(series.points[0, left_hip], [23 / 40 * 400, 23 / 80 * 800, np.nan])
    np.testing.assert_allclose(series.confidence[0, left_hip], 0.23, rtol=1e-6)
    np.testing.assert_allclose(series.points[0, JOINT_INDEX["mid_hip"], :2], [23.5 / 40 * 400, 23.5 / 80 * 800])
    assert np.isnan(series.points[0, JOINT_INDEX["spine_mid"]]).all()  # BlazePose has none
    assert np.isnan(series.points[1]).all() and np.isnan(series.confidence[1]).all()
    assert series.points.shape == (2, len(JOINTS), 3)


def test_check_detections_counts_frames_with_a_person():
    nobody = np.full((12, LANDMARK_COUNT, 3), np.nan)
    with pytest.raises(SampleError, match="nobody in any of the 12") as raised:
        check_detections(nobody, min_frames=10, video_name="v.mp4")
    assert raised.value.reason == "no_person_detected"

    some = nobody.copy()
    some[:9] = 0.5
    with pytest.raises(SampleError, match="only 9 of the 12") as raised:
        check_detections(some, min_frames=10, video_name="v.mp4")
    assert raised.value.reason == "too_few_frames"

    some[9] = 0.5
    check_detections(some, min_frames=10, video_name="v.mp4")


def test_out_of_range_params_are_rejected():
    with pytest.raises(ValueError, match="video_stride"):
        MediaPipeBackend({"video_stride": 0})
    with pytest.raises(ValueError, match="video_max_side"):
        MediaPipeBackend({"video_max_side": 0})
    with pytest.raises(ValueError, match="min_detection_confidence"):
        MediaPipeBackend({"min_detection_confidence": 1.5})


def _write(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Write BGR frames ``(frame, height, width, 3)`` as an MPEG-4 part 2 MP4."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for image in frames:
        writer.write(image)
    writer.release()
    return path
