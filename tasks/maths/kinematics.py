"""Joint angles and segment inclinations from keypoint arrays.

Pure numpy functions over arrays whose last dimension is ``space`` (2 for image-plane
coordinates, 3 for Kinect camera space); every leading dimension (frames, samples, ...)
broadcasts. Angles are in degrees. A missing keypoint (NaN) or a zero-length segment gives
a NaN angle, never an error, so one bad frame does not stop a series.

Used by the normalize stage (``compute_angles`` -> the ``ANGLES`` columns of the feature
table), and by rep counting and reports.
"""

from __future__ import annotations

import numpy as np

from formset.schemas.skeleton import AXES, JOINT_INDEX
from formset.schemas.tables import ANGLES, KINEMATIC_ANGLES

#: Axis of ``space`` that points up once keypoints are normalized (y, for 2-D and Kinect).
UP_AXIS: int = AXES.index("y")

#: Angle columns measured at a joint: column -> (end joint, vertex joint, end joint).
JOINT_ANGLES: dict[str, tuple[str, str, str]] = {
    "angle_left_knee": ("left_hip", "left_knee", "left_ankle"),
    "angle_right_knee": ("right_hip", "right_knee", "right_ankle"),
    "angle_left_hip": ("left_shoulder", "left_hip", "left_knee"),
    "angle_right_hip": ("right_shoulder", "right_hip", "right_knee"),
    "angle_left_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "angle_right_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
}

#: Segment whose lean from vertical is the trunk inclination: (top joint, bottom joint).
TRUNK: tuple[str, str] = ("neck", "mid_hip")


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors, in degrees.

    Parameters
    ----------
    u, v
        Arrays of shape ``(..., space)``, broadcastable against each other.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``, degrees in [0, 180]; NaN where either vector has a NaN component
        or zero length.

    Notes
    -----
    Uses ``2 * atan2(|u^ - v^|, |u^ + v^|)`` on the unit vectors (Kahan), which stays
    accurate near 0 and 180 degrees where ``arccos`` of a dot product loses precision, and
    works in any number of dimensions.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u_len = np.linalg.norm(u, axis=-1, keepdims=True)
    v_len = np.linalg.norm(v, axis=-1, keepdims=True)
    # A zero-length vector has no direction: 0/0 -> NaN is the intended result.
    with np.errstate(invalid="ignore", divide="ignore"):
        u_unit = np.where(u_len > 0, u / u_len, np.nan)
        v_unit = np.where(v_len > 0, v / v_len, np.nan)
    half = np.arctan2(np.linalg.norm(u_unit - v_unit, axis=-1), np.linalg.norm(u_unit + v_unit, axis=-1))
    return np.degrees(2.0 * half)


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at ``b`` between the segments ``b -> a`` and ``b -> c``, in degrees.

    Parameters
    ----------
    a, b, c
        Keypoint positions, arrays of shape ``(..., space)`` in any one unit (broadcastable).

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``, degrees in [0, 180]: 180 for a straight limb, 90 for a right
        angle; NaN where a keypoint is missing or coincides with ``b``.
    """
    b = np.asarray(b, dtype=np.float64)
    return angle_between(np.asarray(a, dtype=np.float64) - b, np.asarray(c, dtype=np.float64) - b)


def inclination_from_vertical(top: np.ndarray, bottom: np.ndarray, up_axis: int = UP_AXIS) -> np.ndarray:
    """Lean of the segment ``bottom -> top`` away from straight up, in degrees.

    Parameters
    ----------
    top, bottom
        Keypoint positions, arrays of shape ``(..., space)`` (broadcastable), in a frame
        whose axis ``up_axis`` points up (normalized keypoints: y up in every view).
    up_axis
        Index into ``space`` of the up direction.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``, degrees in [0, 180]: 0 upright, 90 horizontal, 180 upside down;
        NaN where a keypoint is missing or the segment has zero length.
    """
    segment = np.asarray(top, dtype=np.float64) - np.asarray(bottom, dtype=np.float64)
    up = np.zeros(segment.shape[-1])
    up[up_axis] = 1.0
    return angle_between(segment, up)


def compute_angles(points: np.ndarray) -> dict[str, np.ndarray]:
    """The ``ANGLES`` columns of the feature table for a keypoint series.

    Parameters
    ----------
    points
        Array of shape ``(frame, joint, space)`` over ``schemas.skeleton.JOINTS``, with y
        pointing up (normalized keypoints); ``space`` is 2 or 3.

    Returns
    -------
    dict of str to numpy.ndarray
        One float64 array of shape ``(frame,)`` per name in ``schemas.tables.ANGLES``, in
        degrees: knees (hip-knee-ankle), hips (shoulder-hip-knee), elbows
        (shoulder-elbow-wrist) and ``trunk_inclination`` (neck - mid_hip from vertical).
    """

    def joint(name: str) -> np.ndarray:
        return points[:, JOINT_INDEX[name], :]

    angles = {name: joint_angle(*(joint(j) for j in ends)) for name, ends in JOINT_ANGLES.items()}
    top, bottom = TRUNK
    angles["trunk_inclination"] = inclination_from_vertical(joint(top), joint(bottom))
    return {name: angles[name] for name in ANGLES}


# ---------------------------------------------------------------- coaching kinematics ("Check squat forms")
#: The angles of ``KINEMATIC_ANGLES`` beyond the feature table's ``ANGLES``: (end, vertex, end).
EXTRA_JOINT_ANGLES: dict[str, tuple[str, str, str]] = {
    "angle_left_ankle": ("left_knee", "left_ankle", "left_toe"),
    "angle_right_ankle": ("right_knee", "right_ankle", "right_toe"),
    "angle_left_shoulder": ("left_hip", "left_shoulder", "left_elbow"),
    "angle_right_shoulder": ("right_hip", "right_shoulder", "right_elbow"),
}

#: Points whose mean is the mid-foot: the vertical through it is the ideal line of the centre
#: of gravity ("Check squat forms with deep learning").
MID_FOOT: tuple[str, ...] = ("left_ankle", "right_ankle", "left_toe", "right_toe")

#: ``MOMENT_ARMS`` columns -> the joints whose mean is the loaded point.
MOMENT_ARM_JOINTS: dict[str, tuple[str, ...]] = {
    "moment_arm_hip": ("left_hip", "right_hip"),
    "moment_arm_knee": ("left_knee", "right_knee"),
}


def mean_of_present(points: np.ndarray, joints: tuple[str, ...]) -> np.ndarray:
    """Per frame, the mean position of those of ``joints`` that are present.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)`` over ``schemas.skeleton.JOINTS``, missing as NaN.
    joints
        Names of the joints to average.

    Returns
    -------
    numpy.ndarray
        Shape ``(frame, space)``; NaN in frames where none of ``joints`` is present (a side
        view that sees one knee still gets a knee).
    """
    chosen = points[:, [JOINT_INDEX[j] for j in joints], :]
    present = np.isfinite(chosen).all(axis=-1, keepdims=True)
    count = present.sum(axis=1)
    total = np.where(present, chosen, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def horizontal_distance(a: np.ndarray, b: np.ndarray, up_axis: int = UP_AXIS) -> np.ndarray:
    """Distance between ``a`` and the vertical line through ``b``: the length of ``a - b``
    with its up component removed.

    Parameters
    ----------
    a, b
        Shape ``(..., space)``, ``space`` 2 (x, y: the horizontal is x) or 3 (x, y, z: the
        horizontal plane is x-z), in a frame whose axis ``up_axis`` points up.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``, non-negative, in the unit of the inputs; NaN where either is missing.
    """
    offset = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    level = np.delete(offset, up_axis, axis=-1)
    return np.linalg.norm(level, axis=-1)


def compute_kinematics(points: np.ndarray, with_moment_arms: bool) -> dict[str, np.ndarray]:
    """Per-frame angles and moment arms of a normalized keypoint series ("Check squat forms
    with deep learning", docs/methods.md).

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)`` over ``schemas.skeleton.JOINTS``, y up (normalized
        keypoints, torso lengths); ``space`` 2 or 3.
    with_moment_arms
        Whether moment arms mean something here: the performer stands on their feet and the
        view shows the sagittal plane (a side or diagonal camera, or 3-D; a front camera sees
        no forward-backward distance). Otherwise they are NaN.

    Returns
    -------
    dict of str to numpy.ndarray
        float64 arrays of shape ``(frame,)``: every name of ``KINEMATIC_ANGLES`` (degrees;
        ankle = knee-ankle-toe, shoulder = hip-shoulder-elbow) and of ``MOMENT_ARMS``
        (horizontal distance from the hips' / knees' midpoint to the vertical through the
        mid-foot, in the units of ``points``).
    """
    angles = compute_angles(points)
    for name, ends in EXTRA_JOINT_ANGLES.items():
        angles[name] = joint_angle(*(points[:, JOINT_INDEX[j], :] for j in ends))
    mid_foot = mean_of_present(points, MID_FOOT)
    arms = {
        name: horizontal_distance(mean_of_present(points, joints), mid_foot)
        if with_moment_arms
        else np.full(len(points), np.nan)
        for name, joints in MOMENT_ARM_JOINTS.items()
    }
    return {**{name: angles[name] for name in KINEMATIC_ANGLES}, **arms}
