"""Joint angles and inclinations on synthetic points whose angles are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.schemas.tables import ANGLES
from formset.tasks.maths.kinematics import (
    angle_between,
    compute_angles,
    compute_kinematics,
    horizontal_distance,
    inclination_from_vertical,
    joint_angle,
)


def test_right_angle_is_90_degrees_in_2d_and_3d():
    assert joint_angle([1.0, 0.0], [0.0, 0.0], [0.0, 1.0]) == pytest.approx(90.0)
    assert joint_angle([3.0, 2.0, 5.0], [3.0, 2.0, 1.0], [3.0, -4.0, 1.0]) == pytest.approx(90.0)


def test_straight_limb_is_180_and_folded_limb_is_0():
    hip, knee, ankle = np.array([0.0, 2.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0])
    assert joint_angle(hip, knee, ankle) == pytest.approx(180.0)
    assert joint_angle(hip, knee, hip) == pytest.approx(0.0, abs=1e-12)


def test_angle_does_not_depend_on_segment_lengths_and_is_symmetric():
    b = np.array([1.0, 1.0])
    a = b + 0.3 * np.array([np.cos(0.0), np.sin(0.0)])
    c = b + 7.0 * np.array([np.cos(np.radians(135.0)), np.sin(np.radians(135.0))])
    assert joint_angle(a, b, c) == pytest.approx(135.0)
    assert joint_angle(c, b, a) == pytest.approx(135.0)


def test_angles_broadcast_over_frames():
    # Synthetic sweep: the end point c turns around b by 0, 30, ..., 180 degrees from a.
    degrees = np.arange(0.0, 181.0, 30.0)
    c = np.stack([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))], axis=-1)
    np.testing.assert_allclose(joint_angle(np.array([1.0, 0.0]), np.zeros(2), c), degrees, atol=1e-9)


def test_missing_point_or_zero_length_segment_gives_nan_without_warnings():
    with np.errstate(all="raise"):
        assert np.isnan(joint_angle([np.nan, 0.0], [0.0, 0.0], [0.0, 1.0]))
        assert np.isnan(joint_angle([0.0, 0.0], [0.0, 0.0], [0.0, 1.0]))
        assert np.isnan(angle_between(np.zeros(3), np.ones(3)))


def test_inclination_of_upright_leaning_and_horizontal_segments():
    hip = np.zeros(2)
    lean = np.radians(30.0)
    assert inclination_from_vertical(np.array([0.0, 1.0]), hip) == pytest.approx(0.0, abs=1e-12)
    assert inclination_from_vertical(np.array([np.sin(lean), np.cos(lean)]), hip) == pytest.approx(30.0)
    # Leaning backwards by the same amount reads the same: inclination is unsigned.
    assert inclination_from_vertical(np.array([-np.sin(lean), np.cos(lean)]), hip) == pytest.approx(30.0)
    assert inclination_from_vertical(np.array([2.0, 0.0]), hip) == pytest.approx(90.0)
    assert inclination_from_vertical(np.array([0.0, -1.0]), hip) == pytest.approx(180.0)


def test_inclination_in_3d_leaning_towards_the_camera_and_other_up_axis():
    lean = np.radians(45.0)
    neck = np.array([0.0, np.cos(lean), -np.sin(lean)])
    assert inclination_from_vertical(neck, np.zeros(3)) == pytest.approx(45.0)
    assert inclination_from_vertical(np.array([0.0, 0.0, 1.0]), np.zeros(3), up_axis=2) == pytest.approx(0.0)


def synthetic_pose(knee_bend_deg: float, trunk_lean_deg: float, elbow_deg: float) -> np.ndarray:
    """Synthetic 2-D pose (y up) with the given knee flexion, trunk lean and elbow angle.

    Both legs: ankle at the origin side, shin vertical, thigh turned by ``knee_bend_deg``
    from the shin's line; the trunk leans by ``trunk_lean_deg`` from vertical; both
    forearms turn by ``180 - elbow_deg`` from the upper arm's line. Shape (1, joint, 2).
    """
    points = np.full((1, len(JOINTS), 2), np.nan)

    def put(name: str, xy: np.ndarray) -> None:
        points[0, JOINT_INDEX[name]] = xy

    def direction(deg: float) -> np.ndarray:
        return np.array([np.sin(np.radians(deg)), np.cos(np.radians(deg))])  # 0 = up

    for side, dx in (("left", 0.2), ("right", -0.2)):
        ankle = np.array([dx, 0.0])
        knee = ankle + direction(0.0)
        hip = knee + direction(-knee_bend_deg)  # thigh goes back as the knee bends
        shoulder = hip + direction(trunk_lean_deg)
        elbow = shoulder + direction(180.0)  # upper arm hangs straight down
        wrist = elbow + direction(180.0 + (180.0 - elbow_deg))
        limb = {"ankle": ankle, "knee": knee, "hip": hip, "shoulder": shoulder, "elbow": elbow, "wrist": wrist}
        for joint, xy in limb.items():
            put(f"{side}_{joint}", xy)
    put("mid_hip", (points[0, JOINT_INDEX["left_hip"]] + points[0, JOINT_INDEX["right_hip"]]) / 2)
    put("neck", (points[0, JOINT_INDEX["left_shoulder"]] + points[0, JOINT_INDEX["right_shoulder"]]) / 2)
    return points


def test_compute_angles_of_a_standing_pose():
    angles = compute_angles(synthetic_pose(knee_bend_deg=0.0, trunk_lean_deg=0.0, elbow_deg=180.0))
    assert list(angles) == list(ANGLES)
    for name in [a for a in ANGLES if a.startswith("angle_")]:
        assert angles[name] == pytest.approx([180.0]), name
    assert angles["trunk_inclination"] == pytest.approx([0.0], abs=1e-9)


def test_compute_angles_of_a_squat_pose():
    # Knee flexed by 90: the thigh is horizontal (hip -> knee points forward, 90 from up);
    # the trunk leans 30 from up towards the knees, so the hip angle is 90 - 30 = 60.
    angles = compute_angles(synthetic_pose(knee_bend_deg=90.0, trunk_lean_deg=30.0, elbow_deg=90.0))
    assert angles["angle_left_knee"] == pytest.approx([90.0])
    assert angles["angle_right_knee"] == pytest.approx([90.0])
    assert angles["angle_left_hip"] == pytest.approx([60.0])
    assert angles["angle_right_elbow"] == pytest.approx([90.0])
    assert angles["trunk_inclination"] == pytest.approx([30.0])


def test_compute_angles_in_3d_and_with_a_missing_joint():
    pose_2d = synthetic_pose(knee_bend_deg=45.0, trunk_lean_deg=10.0, elbow_deg=120.0)
    # The same pose in 3-D, in the y-z plane (side-on to a Kinect): x becomes depth.
    pose_3d = np.stack([np.zeros_like(pose_2d[..., 0]), pose_2d[..., 1], pose_2d[..., 0]], axis=-1)
    pose_3d[..., 0] = np.where(np.isnan(pose_2d[..., 0]), np.nan, 0.0)
    pose_3d[0, JOINT_INDEX["left_wrist"]] = np.nan
    angles = compute_angles(pose_3d)
    assert angles["angle_right_knee"] == pytest.approx([180.0 - 45.0])
    assert angles["trunk_inclination"] == pytest.approx([10.0])
    assert angles["angle_right_elbow"] == pytest.approx([120.0])
    assert np.isnan(angles["angle_left_elbow"][0])


# --- coaching kinematics ("Check squat forms") ------------------------------------------------------------
def test_moment_arms_and_new_angles_known_answers():
    points = np.full((1, len(JOINTS), 2), np.nan)
    place = {"left_hip": (0.3, 0.0), "right_hip": (0.3, 0.0), "left_knee": (0.5, -0.5), "left_ankle": (0.1, -1.0),
             "left_toe": (0.3, -1.0), "right_toe": (0.3, -1.0), "right_ankle": (0.1, -1.0),
             "left_shoulder": (0.3, 1.0), "left_elbow": (0.3, 0.5)}  # fmt: skip
    for joint, xy in place.items():
        points[0, JOINT_INDEX[joint]] = xy
    side = compute_kinematics(points, with_moment_arms=True)
    assert side["moment_arm_hip"][0] == pytest.approx(0.1)  # mid-foot at x = 0.2
    assert side["moment_arm_knee"][0] == pytest.approx(0.3)  # the only knee seen
    assert side["angle_left_shoulder"][0] == pytest.approx(0.0)  # arm hanging along the trunk
    assert side["angle_left_ankle"][0] == pytest.approx(np.degrees(np.arctan2(0.5, 0.4)))  # shin vs foot
    assert np.isnan(compute_kinematics(points, with_moment_arms=False)["moment_arm_hip"]).all()
    assert horizontal_distance(np.array([1.0, 5.0, 2.0]), np.array([0.0, 0.0, 0.0])) == pytest.approx(np.sqrt(5))


def test_angles_between_many_pairs_of_vectors_at_once():
    u = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    v = np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(angle_between(u, v), [90.0, 180.0, 45.0])
