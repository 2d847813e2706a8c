"""The overlay on synthetic frames and keypoints whose drawing and angles are known by construction,
and on the first frames of the bundled real video with SYNTHETIC keypoints (no pose model runs).

The synthetic performer squats side-on, facing left, in image pixels (x right, y down): trunk
leaning forward by 45 degrees, both knees bent at exactly 90 degrees, hips at 90 degrees.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from formset.quarantine import SampleError
from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.schemas.tables import KEYPOINTS, joint_columns
from formset.tasks.readers.video import FrameSpool, iter_frames, tap
from formset.tasks.render.overlay import (
    MIDLINE_COLOUR,
    NO_PERSON,
    RIGHT_COLOUR,
    annotate_frame,
    choose_view,
    confidence_colours,
    draw_skeleton,
    frame_readout_lines,
    frame_readouts,
    keypoints_by_frame,
    readout_lines,
    save_frame_png,
    write_overlay,
)

REAL_SIZE = (608, 1080)  # (width, height), upright
CLIP_FRAMES = 40  # conftest's real_clip
SYNTHETIC_IMAGE_SIZE = (400, 300)  # (width, height)
BACKGROUND = 40  # gray level of the synthetic frame
SYNTHETIC_CONFIDENCE = 0.9
#: Synthetic pose in pixels (x right, y down); joints not listed are missing.
SYNTHETIC_POSE: dict[str, tuple[float, float]] = {
    "nose": (120.0, 70.0),
    "neck": (150.0, 100.0),
    "left_shoulder": (150.0, 100.0),
    "right_shoulder": (150.0, 100.0),
    "mid_hip": (200.0, 150.0),  # neck - mid_hip leans 45 degrees from vertical
    "left_hip": (200.0, 150.0),
    "right_hip": (200.0, 150.0),
    "left_knee": (150.0, 200.0),  # thigh perpendicular to the trunk: hip angle 90
    "right_knee": (150.0, 200.0),
    "left_ankle": (200.0, 250.0),  # shin perpendicular to the thigh: knee angle 90
    "right_ankle": (200.0, 250.0),
}


def synthetic_pose(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC_POSE as ``(points (joint, 2), confidence (joint,))`` over JOINTS, NaN where missing."""
    points = np.full((len(JOINTS), 2), np.nan)
    confidence = np.full(len(JOINTS), np.nan)
    for name, xy in SYNTHETIC_POSE.items():
        points[JOINT_INDEX[name]] = np.asarray(xy) * scale
        confidence[JOINT_INDEX[name]] = SYNTHETIC_CONFIDENCE
    return points, confidence


def synthetic_keypoint_rows(frames: np.ndarray, points: np.ndarray, confidence: np.ndarray, image_size: tuple[int, int]) -> pd.DataFrame:
    """SYNTHETIC ``KEYPOINTS`` rows of one sample's diagonal view: the same pose in every frame."""
    per_joint = np.concatenate(
        [points, np.full((len(JOINTS), 1), np.nan), confidence[:, np.newaxis]], axis=1
    )  # (joint, x/y/z/conf)
    values = np.broadcast_to(per_joint.reshape(1, -1), (len(frames), per_joint.size))
    rows = pd.DataFrame(values.astype(np.float32), columns=joint_columns())
    rows = rows.assign(
        set_id="synthetic", sample_id="s1", view="diagonal", source="mediapipe_blazepose33", units="px",
        derived_joints="neck,mid_hip", frame=frames.astype(np.int32), time_s=frames / 30.0,
        image_width=image_size[0], image_height=image_size[1],
    )
    return rows[KEYPOINTS.names]


def blank_frame() -> np.ndarray:
    width, height = SYNTHETIC_IMAGE_SIZE
    return np.full((height, width, 3), BACKGROUND, dtype=np.uint8)


def test_skeleton_is_drawn_on_the_keypoints_and_nowhere_else():
    points, confidence = synthetic_pose()
    image = blank_frame()
    drawn = draw_skeleton(image, points, confidence)
    assert (image == BACKGROUND).all(), "the input frame must not be modified"
    joint_colour = confidence_colours(np.array([SYNTHETIC_CONFIDENCE]))[0]
    for name in SYNTHETIC_POSE:
        x, y = np.asarray(SYNTHETIC_POSE[name], dtype=int)
        np.testing.assert_array_equal(drawn[y, x], joint_colour)
    # Mid-points of bones, away from the joint circles: nose - neck is midline, the right shin
    # (drawn after the left one it covers) right-side.
    np.testing.assert_array_equal(drawn[85, 135], MIDLINE_COLOUR)
    np.testing.assert_array_equal(drawn[225, 175], RIGHT_COLOUR)
    changed_rows, changed_cols = np.nonzero((drawn != BACKGROUND).any(axis=-1))
    xy = np.array(list(SYNTHETIC_POSE.values()))
    margin = 15  # joint radius + outline + anti-aliasing, pixels
    assert changed_cols.min() >= xy[:, 0].min() - margin and changed_cols.max() <= xy[:, 0].max() + margin
    assert changed_rows.min() >= xy[:, 1].min() - margin and changed_rows.max() <= xy[:, 1].max() + margin


def test_missing_joints_draw_nothing():
    points, confidence = synthetic_pose()
    points[:] = np.nan
    assert (draw_skeleton(blank_frame(), points, confidence) == BACKGROUND).all()


def test_confidence_colours_run_red_yellow_green_and_grey_when_unknown():
    colours = confidence_colours(np.array([0.0, 0.5, 1.0, np.nan, 1.7]))
    np.testing.assert_array_equal(colours, [[0, 0, 255], [0, 255, 255], [0, 255, 0], [160, 160, 160], [0, 255, 0]])


def test_readout_shows_right_angle_knees_and_45_degree_trunk():
    points, confidence = synthetic_pose()
    confidence[JOINT_INDEX["left_knee"]] = 0.6  # mean over the 11 known joints: (10 * 0.9 + 0.6) / 11
    readout = {name: float(values[0]) for name, values in frame_readouts(points[np.newaxis], confidence[np.newaxis]).items()}
    assert readout["angle_left_knee"] == pytest.approx(90.0)
    assert readout["angle_right_knee"] == pytest.approx(90.0)
    assert readout["angle_left_hip"] == pytest.approx(90.0)
    assert readout["trunk_inclination"] == pytest.approx(45.0)
    assert readout["mean_confidence"] == pytest.approx((10 * SYNTHETIC_CONFIDENCE + 0.6) / 11)
    lines = readout_lines(readout)
    assert lines[0] == "knee  L 90  R 90 deg"
    assert lines[2] == "trunk 45 deg from vertical"
    assert lines[3] == "mean conf 0.87"


def test_trunk_inclination_is_measured_with_y_up():
    points, confidence = synthetic_pose()
    points[JOINT_INDEX["neck"]] = (200.0, 50.0)  # straight above the mid-hip in image pixels
    assert frame_readouts(points[np.newaxis], confidence[np.newaxis])["trunk_inclination"][0] == pytest.approx(0.0, abs=1e-9)


def test_unknown_angles_read_as_dashes():
    points, confidence = synthetic_pose()
    points[JOINT_INDEX["left_ankle"]] = np.nan
    assert frame_readout_lines(points[np.newaxis], confidence[np.newaxis])[0][0] == "knee  L --  R 90 deg"


def test_readouts_of_many_frames_are_each_frames_own():
    points, confidence = synthetic_pose()
    upright = points.copy()
    upright[JOINT_INDEX["neck"]] = (200.0, 50.0)  # trunk vertical in this frame only
    unknown = np.full_like(confidence, np.nan)  # no confidence at all in this one
    readouts = frame_readouts(np.stack([points, upright, points]), np.stack([confidence, confidence, unknown]))
    np.testing.assert_allclose(readouts["trunk_inclination"], [45.0, 0.0, 45.0], atol=1e-9)
    np.testing.assert_allclose(readouts["angle_left_knee"], [90.0, 90.0, 90.0])
    assert readouts["mean_confidence"][:2] == pytest.approx([SYNTHETIC_CONFIDENCE] * 2)
    assert np.isnan(readouts["mean_confidence"][2])
    lines = frame_readout_lines(np.stack([points, upright]), np.stack([confidence, unknown]))
    assert [frame[2] for frame in lines] == ["trunk 45 deg from vertical", "trunk 0 deg from vertical"]
    assert [frame[3] for frame in lines] == ["mean conf 0.90", "mean conf --"]


def test_frame_without_person_says_so_and_draws_no_skeleton():
    points, confidence = synthetic_pose()
    points[:] = np.nan
    image = blank_frame()
    annotated = annotate_frame(image, points, confidence)
    assert not (annotated == BACKGROUND).all(), "the text block is written"
    assert (annotated[150:, :] == BACKGROUND).all(), "nothing below the text block"
    assert NO_PERSON == "no person"


def test_keypoints_are_scaled_to_downscaled_frames_and_checked_against_the_video_shape():
    points, confidence = synthetic_pose()
    rows = synthetic_keypoint_rows(np.array([3, 7]), points, confidence, SYNTHETIC_IMAGE_SIZE)
    row_of_frame, scaled, _ = keypoints_by_frame(rows, (200, 150))
    assert row_of_frame == {3: 0, 7: 1}
    np.testing.assert_allclose(scaled[1, JOINT_INDEX["left_knee"]], (75.0, 100.0))
    with pytest.raises(SampleError) as error:
        keypoints_by_frame(rows, (300, 300))
    assert error.value.reason == "keypoints_video_mismatch"


def test_choose_view_defaults_to_the_video_the_sample_has():
    sample = pd.Series({"sample_id": "s1", "front_video": None, "diagonal_video": "s1.mp4"})
    assert choose_view(sample, None) == ("diagonal", "s1.mp4")
    with pytest.raises(SampleError) as error:
        choose_view(sample, "front")
    assert error.value.reason == "no_video" and "diagonal" in error.value.detail


@pytest.mark.parametrize(("max_side", "size", "suffix"), [(None, REAL_SIZE, ".mp4"), (320, (180, 320), ".mp4"), (320, (180, 320), ".webm")])
def test_write_overlay_gives_a_video_that_reopens_with_every_frame(real_clip, tmp_path, max_side, size, suffix):
    points, confidence = synthetic_pose(scale=2.0)
    # Keypoints for the first 30 frames only; frame 5 found no person.
    rows = synthetic_keypoint_rows(np.arange(30), points, confidence, REAL_SIZE)
    rows.loc[rows["frame"] == 5, joint_columns(suffixes=("x", "y"))] = np.nan
    out = tmp_path / f"overlay{suffix}"
    assert write_overlay(real_clip, rows, out, max_side=max_side) == CLIP_FRAMES
    capture = cv2.VideoCapture(str(out))
    found = (
        int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    n_decoded = 0
    while capture.read()[0]:
        n_decoded += 1
    capture.release()
    assert found == (CLIP_FRAMES, *size)
    assert n_decoded == CLIP_FRAMES
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no temporary files left"
    codec = {".mp4": "FMP4", ".webm": "VP80"}[suffix]
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().upper() == codec
    capture.release()


def test_an_overlay_is_an_mp4_or_a_webm_and_nothing_else(real_clip, tmp_path):
    rows = synthetic_keypoint_rows(np.arange(3), *synthetic_pose(scale=2.0), REAL_SIZE)
    with pytest.raises(ValueError, match="as .mp4 or .webm, not overlay.avi"):
        write_overlay(real_clip, rows, tmp_path / "overlay.avi")
    assert list(tmp_path.iterdir()) == []


def test_spooled_frames_read_back_downscaled_in_order_with_their_stride_and_are_deleted(real_clip, tmp_path):
    seen = []
    with FrameSpool(tmp_path / "frames.bgr", max_side=320) as spool:
        passed = [f.index for f in tap(iter_frames(real_clip, stride=2), lambda f: (spool(f), seen.append(f.index)))]
        assert passed == seen == list(range(0, CLIP_FRAMES, 2)), "tap hands on every frame, in order"
        assert (len(spool), spool.size, spool.stride) == (CLIP_FRAMES // 2, (180, 320), 2)
        decoded = [f for f in iter_frames(real_clip, stride=2, max_side=320)]
        for kept, fresh in zip(spool, decoded):
            assert (kept.index, kept.time_s) == (fresh.index, fresh.time_s)
            np.testing.assert_array_equal(kept.image, fresh.image)
        assert (tmp_path / "frames.bgr").stat().st_size == CLIP_FRAMES // 2 * 180 * 320 * 3
    assert not (tmp_path / "frames.bgr").exists()


def test_coached_overlay_from_a_spool_at_an_odd_size_has_every_kept_frame_and_the_skeleton(real_clip, tmp_path):
    points, confidence = synthetic_pose(scale=2.0)
    rows = synthetic_keypoint_rows(np.arange(CLIP_FRAMES), points, confidence, REAL_SIZE)
    reps = pd.DataFrame({"start_frame": [4], "bottom_frame": [10], "end_frame": [20]})
    out = tmp_path / "overlay.mp4"
    with FrameSpool(tmp_path / "frames.bgr", max_side=405) as spool:  # 608 x 1080 -> 228 x 405: odd height
        for frame in iter_frames(real_clip, stride=2):
            spool(frame)
        assert write_overlay(real_clip, rows, out, reps=reps, banner="verdict", frames=spool) == CLIP_FRAMES // 2
    capture = cv2.VideoCapture(str(out))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    ok, image = capture.read()
    capture.release()
    assert size == (228, 404), "an odd side loses its last row"
    assert fps == pytest.approx(15.0), "every other frame kept: half the frame rate"
    x, y = (np.asarray(SYNTHETIC_POSE["left_ankle"]) * 2 * 405 / 1080).round().astype(int)
    assert ok and image[y, x].astype(int) @ (0, 1, 0) > 150, "the ankle's green joint is drawn (MPEG-4 blurs a little)"


def test_png_frame_has_the_skeleton_at_the_scaled_keypoints(real_clip, tmp_path):
    points, confidence = synthetic_pose(scale=2.0)
    rows = synthetic_keypoint_rows(np.arange(CLIP_FRAMES), points, confidence, REAL_SIZE)
    out = save_frame_png(real_clip, rows, 12, tmp_path / "frame.png", max_side=540)  # half size
    image = cv2.imread(str(out))
    assert image.shape == (540, 304, 3)
    x, y = SYNTHETIC_POSE["left_knee"]  # pose drawn at scale 2, frame at scale 1/2
    np.testing.assert_array_equal(image[int(y), int(x)], confidence_colours(np.array([SYNTHETIC_CONFIDENCE]))[0])
    with pytest.raises(SampleError) as error:
        save_frame_png(real_clip, rows, CLIP_FRAMES + 5, tmp_path / "late.png")
    assert error.value.reason == "frame_out_of_range"
    assert not (tmp_path / "late.png").exists()


def test_rep_counter_and_phase_follow_start_bottom_and_end():
    from formset.tasks.render.overlay import DOWN, REST, UP, rep_phases

    reps = pd.DataFrame({"start_frame": [10, 30], "bottom_frame": [15, 36], "end_frame": [20, 40]})
    frames = np.array([0, 9, 10, 15, 16, 20, 21, 30, 36, 37, 40, 41])
    counted, phase = rep_phases(frames, reps)
    assert counted.tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert phase.tolist() == [REST, REST, DOWN, DOWN, UP, UP, REST, DOWN, DOWN, UP, UP, REST]


def test_legend_darkens_the_bottom_left_corner_only_and_names_both_sides():
    from formset.tasks.render.overlay import LEFT_COLOUR, RIGHT_COLOUR, draw_legend

    image = np.full((400, 600, 3), 200, np.uint8)
    drawn = draw_legend(image)
    assert (image == 200).all(), "the input is not modified"
    assert (drawn[:300] == 200).all() and (drawn[-20:, -50:] == 200).all()
    corner = drawn[-25:, :250].reshape(-1, 3)
    assert (corner == 80).all(axis=1).any()  # 200 x (1 - 0.6 opacity)
    assert (corner == LEFT_COLOUR).all(axis=1).any() and (corner == RIGHT_COLOUR).all(axis=1).any()
