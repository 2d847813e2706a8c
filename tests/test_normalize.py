"""The normalize stage on synthetic skeleton sequences whose right answer is known by construction."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from formset.params import NormalizeParams
from formset.quarantine import SampleError
from formset.schemas.skeleton import AXES, JOINT_INDEX, JOINTS
from formset.schemas.tables import ANGLES, FEATURES, KEYPOINTS, joint_columns
from formset.storage import to_arrow
from formset.tasks.maths.smoothing import gaussian_smooth
from formset.tasks.normalize import (
    choose_reference_frame,
    features_for_samples,
    features_for_view,
    first_detection,
    frame_deltas,
    interpolate_gaps,
    normalize_to_torso,
    normalize_to_torsos,
    reference_frames,
)

PARAMS = NormalizeParams(reference_window=5, max_gap_frames=5, smoothing_sigma=1.0, min_confidence=0.1)
POSITIONS = joint_columns(suffixes=AXES)
DELTAS = ["d_" + c for c in POSITIONS]

#: Synthetic front camera: 200 px per metre, image y pointing down.
PX_PER_M, IMAGE_ORIGIN = 200.0, np.array([320.0, 420.0])


def synthetic_squat_m(n_frames: int = 40, jitter_m: float = 0.004, seed: int = 0) -> np.ndarray:
    """A synthetic person squatting once, in metres with y up, shape (frame, joint, 3).

    x is to the person's left, z away from the camera; the knees travel forward, the hips
    back and down, the trunk leans up to 30 degrees and the arms rise forward. Every joint of
    ``JOINTS`` is present; ``jitter_m`` adds seeded noise so that smoothing has work to do.
    """
    depth = (1 - np.cos(2 * np.pi * np.arange(n_frames) / n_frames)) / 2  # 0 standing, 1 bottom
    points = np.zeros((n_frames, len(JOINTS), 3))

    def put(name: str, xyz: np.ndarray) -> None:
        points[:, JOINT_INDEX[name]] = xyz

    def sagittal(angle_from_up: np.ndarray, length: float) -> np.ndarray:
        """Vectors of ``length`` turned ``angle_from_up`` radians from up towards the camera."""
        return length * np.stack([0 * angle_from_up, np.cos(angle_from_up), -np.sin(angle_from_up)], axis=-1)

    shin, thigh, torso = np.radians(40) * depth, np.radians(100) * depth, np.radians(30) * depth
    arm = np.radians(180) - np.radians(90) * depth
    for side, dx in (("left", 0.15), ("right", -0.15)):
        ankle = np.array([dx, 0.1, 0.0])
        knee = ankle + sagittal(shin, 0.45)
        hip = knee + sagittal(-thigh, 0.45)
        put(f"{side}_ankle", ankle)
        put(f"{side}_heel", ankle + [0.0, -0.05, 0.05])
        put(f"{side}_toe", ankle + [0.02, -0.07, -0.15])
        put(f"{side}_knee", knee)
        put(f"{side}_hip", hip)
    mid_hip = (points[:, JOINT_INDEX["left_hip"]] + points[:, JOINT_INDEX["right_hip"]]) / 2
    neck = mid_hip + sagittal(torso, 0.55)
    put("mid_hip", mid_hip)
    put("neck", neck)
    put("spine_mid", (mid_hip + neck) / 2)
    put("head", neck + [0.0, 0.25, 0.0])
    put("nose", neck + [0.0, 0.2, -0.1])
    for side, dx in (("left", 1.0), ("right", -1.0)):
        shoulder = neck + [dx * 0.18, 0.0, 0.0]
        elbow = shoulder + sagittal(arm, 0.28)
        put(f"{side}_shoulder", shoulder)
        put(f"{side}_elbow", elbow)
        put(f"{side}_wrist", elbow + sagittal(arm - np.radians(20), 0.25))
        put(f"{side}_eye", neck + [dx * 0.03, 0.23, -0.08])
        put(f"{side}_ear", neck + [dx * 0.07, 0.22, 0.0])
    return points + np.random.default_rng(seed).normal(0.0, jitter_m, points.shape)


def to_pixels(points_m: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """Orthographic synthetic camera: metres (y up) -> pixels (y down), z NaN.

    ``yaw_deg`` 0 is the front view; 45 a diagonal view, where no limb of the squat points
    straight at the camera (a front view of knees and arms coming forward shrinks those
    segments to a few pixels, and their angles to float32 noise).
    """
    yaw = np.radians(yaw_deg)
    image_x = np.cos(yaw) * points_m[..., 0] + np.sin(yaw) * points_m[..., 2]
    xy = IMAGE_ORIGIN + PX_PER_M * np.stack([image_x, -points_m[..., 1]], axis=-1)
    return np.concatenate([xy, np.full(points_m.shape[:-1] + (1,), np.nan)], axis=-1)


def keypoint_rows(
    points: np.ndarray,
    units: str,
    confidence: np.ndarray | None = None,
    frame: np.ndarray | None = None,
    sample_id: str = "s1",
    view: str | None = None,
) -> pd.DataFrame:
    """Synthetic keypoints-table rows (``KEYPOINTS`` columns, float32 as stored) for one view."""
    n_frames = len(points)
    frame = np.arange(n_frames) if frame is None else frame
    confidence = np.where(np.isnan(points).all(axis=-1), np.nan, 0.9) if confidence is None else confidence
    view = view or ("front" if units == "px" else "kinect")
    columns = {
        "set_id": "synthetic_set",
        "sample_id": sample_id,
        "view": view,
        "source": "openpose_body25" if units == "px" else "kinect_v2",
        "units": units,
        "derived_joints": "",
        "frame": frame,
        "time_s": frame / 30.0,
        "image_width": 640 if units == "px" else None,
        "image_height": 480 if units == "px" else None,
    }
    values = np.concatenate([points, confidence[..., np.newaxis]], axis=-1).reshape(n_frames, -1)
    table = pd.DataFrame({**columns, **dict(zip(joint_columns(), values.T))})
    return to_arrow(table, KEYPOINTS).to_pandas()


def with_imperfections(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic recording flaws: late entry, a low-confidence blip, a long gap, dropped frames.

    Returns ``(points, confidence, frame)``: nobody in the first two frames, the left wrist
    at confidence 0.05 in rows 10-12 (a short gap), the right elbow missing in rows 20-27
    (a gap longer than ``max_gap_frames``), and source frames 31-32 absent from the table.
    """
    points = points.copy()
    points[:2] = np.nan
    points[20:28, JOINT_INDEX["right_elbow"]] = np.nan
    confidence = np.where(np.isnan(points).all(axis=-1), np.nan, 0.9)
    confidence[10:13, JOINT_INDEX["left_wrist"]] = 0.05
    frame = np.arange(len(points) + 2)
    frame = np.delete(frame, [31, 32])
    return points, confidence, frame


def feature_values(features: pd.DataFrame) -> np.ndarray:
    return features[POSITIONS + DELTAS + list(ANGLES)].to_numpy(dtype=np.float64)


# --- THE invariance test -------------------------------------------------------------------


def elsewhere(points: np.ndarray, units: str) -> np.ndarray:
    """The person standing somewhere else in the scene."""
    return points + ({"px": [150.0, -40.0, 0.0], "m": [0.8, 0.05, 1.2]}[units])


def taller(points: np.ndarray, units: str) -> np.ndarray:
    """A person 25 % taller: uniform scale about the point between the feet in frame 2."""
    feet = points[2, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]].mean(axis=0)
    return feet + 1.25 * (points - feet)


def camera_scale(points: np.ndarray, units: str) -> np.ndarray:
    """A camera 1.7 times closer (pixels), or other length units (Kinect)."""
    return 1.7 * points


def all_three(points: np.ndarray, units: str) -> np.ndarray:
    return camera_scale(taller(elsewhere(points, units), units), units)


@pytest.mark.parametrize("units", ["px", "m"])
@pytest.mark.parametrize("change", [elsewhere, taller, camera_scale, all_three], ids=lambda f: f.__name__)
def test_features_do_not_depend_on_position_height_or_camera_scale(units, change):
    body = synthetic_squat_m()
    source = to_pixels(body, yaw_deg=45.0) if units == "px" else body
    points, confidence, frame = with_imperfections(source)
    original = features_for_view(keypoint_rows(points, units, confidence, frame), PARAMS)
    changed = features_for_view(keypoint_rows(change(points, units), units, confidence, frame), PARAMS)

    np.testing.assert_allclose(feature_values(changed), feature_values(original), rtol=1e-5, atol=1e-5)
    assert (changed["reference_frame"] == original["reference_frame"]).all()
    assert (changed["interpolated_joints"] == original["interpolated_joints"]).all()
    # The features carry real motion and real gaps, so the comparison above is not vacuous.
    assert np.nanstd(original["d_mid_hip_y"]) > 0.01
    assert original["right_elbow_x"].isna().sum() == 2 + 8  # late entry + the long gap
    scale = {"elsewhere": 1.0, "taller": 1.25, "camera_scale": 1.7, "all_three": 1.25 * 1.7}[change.__name__]
    expected_torso = scale * original["torso_length"].iloc[0]
    assert changed["torso_length"].iloc[0] == pytest.approx(expected_torso, rel=1e-5)


# --- up is up in every view ----------------------------------------------------------------


def test_upright_person_has_neck_above_hip_in_2d_and_3d():
    standing = synthetic_squat_m(jitter_m=0.0)[:1]
    body = np.repeat(standing, 10, axis=0)  # standing still, so smoothing changes nothing
    for units, points in (("px", to_pixels(body)), ("m", body)):
        features = features_for_view(keypoint_rows(points, units), PARAMS)
        reference = features[features["frame"] == features["reference_frame"]].iloc[0]
        assert reference["neck_y"] > reference["mid_hip_y"], units
        heights = reference[["head_y", "neck_y", "mid_hip_y", "left_knee_y", "left_ankle_y"]]
        assert heights.is_monotonic_decreasing and heights["left_knee_y"] < 0, units
        # In the reference frame the torso is the unit: neck one above the hip at the origin.
        assert reference["mid_hip_x"] == pytest.approx(0.0, abs=1e-6)
        assert reference["neck_y"] == pytest.approx(1.0, abs=1e-6)
        assert reference["trunk_inclination"] == pytest.approx(0.0, abs=1e-3)


def test_front_view_and_kinect_features_point_the_same_way():
    # Without noise, the reference frame (standing still) has a vertical torso in both views,
    # so the synthetic orthographic front view normalizes to exactly the Kinect's x and y.
    squat = synthetic_squat_m(jitter_m=0.0)
    body = np.concatenate([np.repeat(squat[:1], PARAMS.reference_window, axis=0), squat])
    front = features_for_view(keypoint_rows(to_pixels(body), "px"), PARAMS)
    kinect = features_for_view(keypoint_rows(body, "m"), PARAMS)
    xy = joint_columns(suffixes=("x", "y"))
    np.testing.assert_allclose(front[xy].to_numpy(), kinect[xy].to_numpy(), atol=1e-5)
    assert front[joint_columns(suffixes=("z",))].isna().all().all()
    assert kinect[joint_columns(suffixes=("z",))].notna().all().all()


# --- the stage's output ----------------------------------------------------------------------


def test_features_have_exactly_the_feature_schema():
    points, confidence, frame = with_imperfections(to_pixels(synthetic_squat_m()))
    features = features_for_view(keypoint_rows(points, "px", confidence, frame), PARAMS)
    assert list(features.columns) == FEATURES.names
    assert len(features) == len(frame)
    to_arrow(features, FEATURES)  # raises on a wrong type or a null in a required column


def test_interpolated_joints_counts_filled_joints_and_long_gaps_stay_missing():
    points, confidence, frame = with_imperfections(synthetic_squat_m())
    features = features_for_view(keypoint_rows(points, "m", confidence, frame), PARAMS)
    expected = np.zeros(len(frame), dtype=int)
    expected[10:13] = 1  # the low-confidence left wrist; the long right-elbow gap is not filled
    np.testing.assert_array_equal(features["interpolated_joints"], expected)
    assert features.loc[10:12, "left_wrist_x"].notna().all()
    assert features.loc[20:27, ["right_elbow_x", "right_elbow_y", "right_elbow_z"]].isna().all().all()
    assert features.loc[20:27, "angle_right_elbow"].isna().all()
    assert features.loc[:1, POSITIONS].isna().all().all()  # nobody there yet: never extrapolated
    assert features["reference_frame"].iloc[0] in frame[2:7]


def test_rows_come_back_in_frame_order():
    body = synthetic_squat_m(n_frames=12)
    rows = keypoint_rows(body, "m")
    shuffled = rows.iloc[np.random.default_rng(1).permutation(len(rows))]
    pd.testing.assert_frame_equal(features_for_view(shuffled, PARAMS), features_for_view(rows, PARAMS))


# --- rejections ------------------------------------------------------------------------------


def test_no_reference_frame_when_neck_and_hip_are_never_seen_together():
    body = synthetic_squat_m(n_frames=12)
    body[::2, JOINT_INDEX["neck"]] = np.nan
    body[1::2, JOINT_INDEX["mid_hip"]] = np.nan
    with pytest.raises(SampleError) as raised:
        features_for_view(keypoint_rows(body, "m"), PARAMS)
    assert raised.value.reason == "no_reference_frame"


def test_no_reference_frame_when_the_neck_is_never_confident():
    points = to_pixels(synthetic_squat_m(n_frames=12))
    confidence = np.full(points.shape[:2], 0.9)
    confidence[:, JOINT_INDEX["neck"]] = 0.05
    with pytest.raises(SampleError) as raised:
        features_for_view(keypoint_rows(points, "px", confidence), PARAMS)
    assert raised.value.reason == "no_reference_frame"


def test_degenerate_torso_is_rejected():
    body = synthetic_squat_m(n_frames=12)
    body[:, JOINT_INDEX["neck"]] = body[:, JOINT_INDEX["mid_hip"]]
    with pytest.raises(SampleError) as raised:
        features_for_view(keypoint_rows(body, "m"), PARAMS)
    assert raised.value.reason == "degenerate_torso"


def test_a_sample_with_one_bad_view_is_rejected_whole():
    body = synthetic_squat_m(n_frames=12)
    headless = body.copy()
    headless[:, JOINT_INDEX["neck"]] = np.nan
    keypoints = pd.concat(
        [
            keypoint_rows(to_pixels(body), "px", sample_id="good"),
            keypoint_rows(body, "m", sample_id="good"),
            keypoint_rows(to_pixels(body), "px", sample_id="bad"),
            keypoint_rows(headless, "m", sample_id="bad"),
        ],
        ignore_index=True,
    )
    features, rejections = features_for_samples(keypoints, PARAMS)
    assert set(features["sample_id"]) == {"good"}
    assert sorted(features["view"].unique()) == ["front", "kinect"]
    assert len(features) == 24
    assert [(r.set_id, r.sample_id, r.stage, r.reason) for r in rejections] == [
        ("synthetic_set", "bad", "normalize", "no_reference_frame")
    ]
    assert rejections[0].detail.startswith("kinect view:")
    to_arrow(features, FEATURES)


def test_nothing_accepted_gives_an_empty_feature_table():
    body = synthetic_squat_m(n_frames=6)
    body[:, JOINT_INDEX["mid_hip"]] = np.nan
    features, rejections = features_for_samples(keypoint_rows(body, "m"), PARAMS)
    assert features.empty and list(features.columns) == FEATURES.names
    assert len(rejections) == 1


def test_unknown_units_and_repeated_frames_are_rejected():
    rows = keypoint_rows(synthetic_squat_m(n_frames=6), "m")
    with pytest.raises(SampleError) as raised:
        features_for_view(rows.assign(units="furlongs"), PARAMS)
    assert raised.value.reason == "unknown_units"
    with pytest.raises(SampleError) as raised:
        features_for_view(rows.assign(frame=[0, 1, 2, 2, 3, 4]), PARAMS)
    assert raised.value.reason == "duplicate_frames"


# --- the pieces --------------------------------------------------------------------------------


def torso_only(lengths: list[float]) -> np.ndarray:
    """Synthetic 2-D points: mid_hip at the origin, neck straight above at ``lengths`` (NaN = absent)."""
    points = np.full((len(lengths), len(JOINTS), 2), np.nan)
    points[:, JOINT_INDEX["mid_hip"]] = 0.0
    points[:, JOINT_INDEX["neck"], 0] = 0.0
    points[:, JOINT_INDEX["neck"], 1] = lengths
    return points


def test_reference_frame_is_the_longest_torso_in_the_window_after_first_detection():
    points = torso_only([np.nan, np.nan, 1.0, 1.2, 1.5, 1.1, 1.3, 2.0, 2.5])
    assert first_detection(points) == 2
    frame = np.arange(len(points))
    assert choose_reference_frame(points, frame, window=5) == 4  # rows 2-6; the 2.0 at row 7 is too late
    assert choose_reference_frame(points, frame, window=1) == 2
    # The window counts source frames: with frames 4-6 absent, rows 2-6 are frames 2, 3, 7, ...
    skipping = np.array([0, 1, 2, 3, 7, 8, 9, 10, 11])
    assert choose_reference_frame(points, skipping, window=5) == 3


def test_first_detection_needs_both_neck_and_hip():
    points = torso_only([1.0, 1.0, 1.0, 1.0])
    points[:2, JOINT_INDEX["mid_hip"]] = np.nan
    assert first_detection(points) == 2
    points[:, JOINT_INDEX["neck"]] = np.nan
    assert first_detection(points) is None
    with pytest.raises(SampleError) as raised:
        choose_reference_frame(points, np.arange(4), window=5)
    assert raised.value.reason == "no_reference_frame"


def test_normalize_to_torso_maps_reference_hip_to_origin_and_torso_to_one():
    points = torso_only([2.0, 4.0]) + [10.0, 20.0]
    normalized, torso_length = normalize_to_torso(points, reference=1)
    assert torso_length == pytest.approx(4.0)
    np.testing.assert_allclose(normalized[1, JOINT_INDEX["mid_hip"]], [0.0, 0.0])
    np.testing.assert_allclose(normalized[1, JOINT_INDEX["neck"]], [0.0, 1.0])
    # The same transform for every frame: the other frame's torso of 2 becomes 0.5.
    np.testing.assert_allclose(normalized[0, JOINT_INDEX["neck"]], [0.0, 0.5])
    flipped, _ = normalize_to_torso(points, reference=1, y_down=True)
    np.testing.assert_allclose(flipped[1, JOINT_INDEX["neck"]], [0.0, -1.0])


def test_interpolation_fills_gaps_up_to_max_gap_only():
    frame = np.arange(20)
    values = frame.astype(float) * 2.0  # a straight line, so interpolation must restore it
    values[[0, 1]] = np.nan  # before the first detection
    values[4:7] = np.nan  # gap of 3
    values[9:13] = np.nan  # gap of 4 = max_gap + 1
    values[18:] = np.nan  # after the last detection
    filled, was_filled = interpolate_gaps(values, frame, max_gap=3)
    np.testing.assert_allclose(filled[4:7], 2.0 * frame[4:7])
    assert np.isnan(filled[9:13]).all()
    assert np.isnan(filled[[0, 1, 18, 19]]).all()
    np.testing.assert_array_equal(np.flatnonzero(was_filled), [4, 5, 6])


def test_interpolation_measures_gaps_in_source_frames_and_works_per_series():
    frame = np.array([0, 1, 4, 5])  # frames 2 and 3 are absent from the table
    values = np.array([[0.0, 7.0], [np.nan, 7.0], [np.nan, np.nan], [5.0, 7.0]])
    filled, _ = interpolate_gaps(values, frame, max_gap=4)
    np.testing.assert_allclose(filled[:, 0], [0.0, 1.0, 4.0, 5.0])  # linear in frame index
    np.testing.assert_allclose(filled[:, 1], 7.0)
    filled, _ = interpolate_gaps(values, frame, max_gap=3)  # two NaN rows, but four missing frames
    assert np.isnan(filled[1:3, 0]).all()


def test_smoothing_keeps_a_constant_constant_and_does_not_spread_nan():
    values = np.full((30, 2), 3.0)
    values[10:13, 0] = np.nan
    values[20:, 1] = np.nan
    smoothed = gaussian_smooth(values, sigma=1.0)
    np.testing.assert_array_equal(np.isnan(smoothed), np.isnan(values))
    np.testing.assert_allclose(smoothed[~np.isnan(values)], 3.0, rtol=1e-12)


def test_smoothing_matches_a_gaussian_filter_away_from_edges_and_gaps():
    from scipy.ndimage import gaussian_filter1d

    values = np.random.default_rng(3).normal(size=50)  # synthetic noise
    smoothed = gaussian_smooth(values, sigma=1.5)
    expected = gaussian_filter1d(values, sigma=1.5, truncate=4.0)
    np.testing.assert_allclose(smoothed[6:-6], expected[6:-6], rtol=1e-10)
    assert np.std(smoothed) < 0.6 * np.std(values)
    np.testing.assert_array_equal(gaussian_smooth(values, sigma=0.0), values)


def test_smoothing_does_not_mix_frames_far_apart_in_source_index():
    frame = np.array([0, 1, 2, 20, 21, 22])
    values = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(gaussian_smooth(values, sigma=1.0, frame=frame), values)
    assert gaussian_smooth(values, sigma=1.0)[2] > 0.0  # consecutive rows would mix them


def test_deltas_are_change_per_source_frame_with_a_nan_first_row():
    values = np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    np.testing.assert_allclose(frame_deltas(values), [[np.nan, np.nan], [1.0, 0.0], [2.0, -1.0]])
    skipping = np.array([0, 1, 3])
    np.testing.assert_allclose(frame_deltas(values, skipping), [[np.nan, np.nan], [1.0, 0.0], [1.0, -0.5]])


# --- boundaries and messages (mutation testing: make mutation) ----------------------------------


def test_a_confidence_exactly_at_min_confidence_is_kept_and_just_below_is_dropped():
    params = replace(PARAMS, min_confidence=0.25)  # exact in float32, as confidence is stored
    points = to_pixels(synthetic_squat_m(n_frames=12))
    confidence = np.full(points.shape[:2], 0.9)
    confidence[:, JOINT_INDEX["left_wrist"]] = 0.25
    confidence[:, JOINT_INDEX["right_wrist"]] = np.nextafter(np.float32(0.25), np.float32(0.0))
    features = features_for_view(keypoint_rows(points, "px", confidence), params)
    assert features["left_wrist_x"].notna().all()
    assert features["right_wrist_x"].isna().all()


def torso_in_a_wide_scene(torso_px: float) -> np.ndarray:
    """One 2-D frame far from the image origin: mid_hip at (1000, 700), the neck ``torso_px``
    above it, and a wrist 400 px to the side, so the skeleton spans 400 px in x (and
    ``torso_px`` in y)."""
    points = torso_only([torso_px]) + [1000.0, 700.0]
    points[0, JOINT_INDEX["left_wrist"]] = [1400.0, 700.0]
    return points


def test_a_torso_of_at_most_min_torso_fraction_of_the_skeleton_extent_is_degenerate():
    from formset.tasks.normalize import MIN_TORSO_FRACTION

    extent_px = 400.0
    at_limit = MIN_TORSO_FRACTION * extent_px
    with pytest.raises(SampleError) as raised:
        normalize_to_torso(torso_in_a_wide_scene(at_limit), reference=0)
    assert raised.value.reason == "degenerate_torso"
    assert float(raised.value.value) == pytest.approx(at_limit)
    assert raised.value.detail.startswith("in the reference frame (row 0) the neck and the mid-hip are at the same place")
    with pytest.raises(SampleError):
        normalize_to_torso(torso_in_a_wide_scene(0.9 * at_limit), reference=0)
    # Just above the limit the body is measured, wherever in the image it stands.
    normalized, torso_length = normalize_to_torso(torso_in_a_wide_scene(1.1 * at_limit), reference=0)
    assert torso_length == pytest.approx(1.1 * at_limit)
    np.testing.assert_allclose(normalized[0, JOINT_INDEX["neck"]], [0.0, 1.0])


def test_rejections_say_what_is_wrong_and_name_the_first_offending_value():
    rows = keypoint_rows(synthetic_squat_m(n_frames=6), "m")
    with pytest.raises(SampleError) as raised:
        features_for_view(rows.assign(units="furlongs"), PARAMS)
    assert (raised.value.value, raised.value.detail) == (
        "furlongs", "keypoint units must be one of ['m', 'px'] (pixels or metres)"
    )
    with pytest.raises(SampleError) as raised:
        features_for_view(rows.assign(frame=[0, 1, 1, 2, 2, 3]), PARAMS)
    assert raised.value.value == "1"  # the first repeated frame number
    assert raised.value.detail.startswith("a frame number appears more than once in this view's keypoints")
    body = synthetic_squat_m(n_frames=6)
    body[:, JOINT_INDEX["neck"]] = np.nan
    with pytest.raises(SampleError) as raised:
        features_for_view(keypoint_rows(body, "m"), PARAMS)
    assert raised.value.detail.startswith("the neck and the mid-hip are never both detected (with enough confidence)")


def test_a_single_frame_view_is_normalized():
    features = features_for_view(keypoint_rows(synthetic_squat_m(n_frames=1), "m"), PARAMS)
    assert len(features) == 1 and features["reference_frame"].tolist() == [0]
    assert features["neck_y"].iloc[0] == pytest.approx(1.0, abs=0.05)


def test_interpolation_of_a_series_without_gaps_warns_about_nothing():
    import warnings

    frame = np.array([0, 1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filled, was_filled = interpolate_gaps(np.array([[1.0], [2.0], [np.nan], [4.0]]), frame, max_gap=2)
    np.testing.assert_allclose(filled[:, 0], [1.0, 2.0, 3.0, 4.0])
    assert was_filled[:, 0].tolist() == [False, False, True, False]


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.3])
def test_the_smoothing_window_reaches_exactly_ceil_of_four_sigmas_on_both_sides(sigma):
    radius = int(np.ceil(4.0 * sigma))  # 3, 4, 6
    impulse = np.zeros(41)
    impulse[20] = 1.0
    response = gaussian_smooth(impulse, sigma)
    reached = np.flatnonzero(response > 0) - 20
    np.testing.assert_array_equal(reached, np.arange(-radius, radius + 1))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    np.testing.assert_allclose(response[20 - radius : 20 + radius + 1], taps / taps.sum(), rtol=1e-12)


def test_samples_come_out_in_the_order_they_come_in_with_a_fresh_index():
    body = synthetic_squat_m(n_frames=5)
    keypoints = pd.concat(
        [keypoint_rows(body, "m", sample_id="b"), keypoint_rows(body, "m", sample_id="a")], ignore_index=True
    )
    features, _ = features_for_samples(keypoints, PARAMS)
    assert features["sample_id"].tolist() == ["b"] * 5 + ["a"] * 5
    pd.testing.assert_index_equal(features.index, pd.RangeIndex(10))


# --- known answer of a whole set, from before the array-wise rewrite -------------------------

#: The features of ``mixed_set()``, written by the per-view implementation this stage had
#: before it was made array-wise (commit 635e22f, ``write_mixed_set_answer``).
MIXED_SET_ANSWER = Path(__file__).resolve().parent / "data" / "normalize_mixed_set.parquet"


def mixed_set() -> pd.DataFrame:
    """Keypoint rows of two sets, with every case a set can hold, interleaved and unsorted.

    Views of several lengths in pixels and metres; late entry, short and long gaps, low
    confidence, skipped frame numbers, a one-frame view; and views rejected for each reason
    (no reference frame, degenerate torso, duplicate frames, unknown units), one of them
    beside a good view of the same sample. Rows of the samples alternate and are shuffled.
    """
    body = synthetic_squat_m(n_frames=14, seed=3)
    late = body.copy()
    late[:3] = np.nan
    late[5:7, JOINT_INDEX["left_knee"]] = np.nan  # a short gap: filled
    late[8:14, JOINT_INDEX["right_wrist"]] = np.nan  # a long gap at the end: never extrapolated
    low = np.where(np.isnan(late).all(axis=-1), np.nan, 0.9)
    low[9, JOINT_INDEX["nose"]] = 0.05
    skipping = np.array([0, 1, 2, 4, 5, 9, 10, 11, 12, 13, 14, 15, 17, 18])
    headless = body.copy()
    headless[:, JOINT_INDEX["neck"]] = np.nan
    flat = body.copy()
    flat[:, JOINT_INDEX["neck"]] = flat[:, JOINT_INDEX["mid_hip"]]
    views = [
        keypoint_rows(to_pixels(late, yaw_deg=45.0), "px", low, sample_id="late"),
        keypoint_rows(late, "m", low, frame=skipping, sample_id="late"),
        keypoint_rows(body[:9], "m", sample_id="short"),
        keypoint_rows(to_pixels(body), "px", frame=skipping, sample_id="skips"),
        keypoint_rows(to_pixels(body), "px", sample_id="one_bad_view"),
        keypoint_rows(headless, "m", sample_id="one_bad_view"),
        keypoint_rows(flat, "m", sample_id="flat"),
        keypoint_rows(body[:6], "m", frame=np.array([0, 1, 1, 2, 3, 4]), sample_id="repeats"),
        keypoint_rows(body[:6], "m", sample_id="furlongs").assign(units="furlongs"),
        keypoint_rows(body[:1], "m", sample_id="single"),
        keypoint_rows(body[2:12], "m", sample_id="late").assign(set_id="other_set"),
    ]
    rows = pd.concat(views, ignore_index=True)
    return rows.iloc[np.random.default_rng(7).permutation(len(rows))]


def write_mixed_set_answer() -> None:
    """Write ``MIXED_SET_ANSWER`` from the current implementation (run once, by hand)."""
    features, _ = features_for_samples(mixed_set(), PARAMS)
    features.to_parquet(MIXED_SET_ANSWER)


def test_a_mixed_set_gives_the_features_it_gave_before_the_array_wise_rewrite():
    features, rejections = features_for_samples(mixed_set(), PARAMS)
    expected = pd.read_parquet(MIXED_SET_ANSWER)
    pd.testing.assert_frame_equal(features, expected, check_exact=False, rtol=1e-6, atol=1e-6)
    assert features.groupby(["set_id", "sample_id", "view"], sort=False).ngroups == 6
    assert [(r.set_id, r.sample_id, r.reason, r.detail.split(":")[0], r.value) for r in rejections] == [
        ("synthetic_set", "one_bad_view", "no_reference_frame", "kinect view", None),
        ("synthetic_set", "flat", "degenerate_torso", "kinect view", "0.0"),
        ("synthetic_set", "furlongs", "unknown_units", "kinect view", "furlongs"),
        ("synthetic_set", "repeats", "duplicate_frames", "kinect view", "1"),
    ]
    assert "(row 0)" in rejections[1].detail


# --- many views at once: nothing crosses from one view into the next --------------------------

#: Two views of three frames each, numbered from 0 in both, as a set's rows hold them.
TWO_VIEWS_FRAME, TWO_VIEWS_START = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 3])


def test_a_gap_at_a_views_start_is_not_filled_from_the_view_before():
    values = np.array([[1.0], [2.0], [3.0], [np.nan], [5.0], [6.0]])
    filled, was_filled = interpolate_gaps(values, TWO_VIEWS_FRAME, max_gap=5, view_start=TWO_VIEWS_START)
    np.testing.assert_array_equal(filled[:, 0], [1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    assert not was_filled.any()
    # Its last frames missing, the first view is not filled from the second either.
    values = np.array([[1.0], [np.nan], [np.nan], [4.0], [5.0], [6.0]])
    filled, _ = interpolate_gaps(values, TWO_VIEWS_FRAME, max_gap=5, view_start=TWO_VIEWS_START)
    assert np.isnan(filled[1:3, 0]).all()


def test_smoothing_and_deltas_of_views_together_equal_those_of_each_view_alone():
    values = np.array([[0.0, 1.0], [3.0, 1.0], [1.0, np.nan], [10.0, 2.0], [14.0, 2.5], [11.0, 3.0]])
    together = gaussian_smooth(values, 1.0, TWO_VIEWS_FRAME, view_start=TWO_VIEWS_START)
    alone = np.concatenate(
        [gaussian_smooth(values[:3], 1.0, TWO_VIEWS_FRAME[:3]), gaussian_smooth(values[3:], 1.0, TWO_VIEWS_FRAME[3:])]
    )
    np.testing.assert_array_equal(together, alone)
    assert together[3, 0] > 10.0  # the first view's small values are not mixed in
    deltas = frame_deltas(values, TWO_VIEWS_FRAME, view_start=TWO_VIEWS_START)
    assert np.isnan(deltas[[0, 3]]).all()
    np.testing.assert_array_equal(deltas[4], [4.0, 0.5])


def test_each_view_gets_its_own_reference_frame_and_torso():
    first, second = torso_only([np.nan, 1.0, 2.0]), torso_only([4.0, 8.0, 6.0]) + 10.0
    points = np.concatenate([first, second])
    reference = reference_frames(points, TWO_VIEWS_FRAME, window=5, view_start=TWO_VIEWS_START)
    np.testing.assert_array_equal(reference, [2, 4])
    normalized, torso_length, degenerate = normalize_to_torsos(points, reference, TWO_VIEWS_START)
    np.testing.assert_allclose(torso_length, [2.0, 8.0])
    assert not degenerate.any()
    np.testing.assert_allclose(normalized[[2, 4], JOINT_INDEX["neck"]], [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(normalized[3, JOINT_INDEX["neck"]], [0.0, 0.5])  # 4 / 8, about its own hip
    # A view whose torso is never seen has no reference frame; the other keeps its own.
    headless = np.concatenate([torso_only([np.nan] * 3), second])
    np.testing.assert_array_equal(reference_frames(headless, TWO_VIEWS_FRAME, 5, TWO_VIEWS_START), [-1, 4])


def test_a_series_shorter_than_the_kernel_is_smoothed_over_what_it_has():
    near = np.exp(-0.5)  # weight of the neighbour one frame away, sigma 1
    smoothed = gaussian_smooth(np.array([[0.0], [1.0]]), sigma=1.0)
    np.testing.assert_allclose(smoothed[:, 0], [near / (1 + near), 1 / (1 + near)])
