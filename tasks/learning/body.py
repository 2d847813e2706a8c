"""Model inputs that do not depend on who the person is, computed from one execution alone.

The features table holds joint positions normalized by the torso (``tasks.normalize``: the
mid-hip at the origin, the torso length 1), so where a person stands and how tall they are
drop out, but not how the person faces the camera, their limbs' proportions or their
habitual posture. ``body_series`` derives from an execution's positions, with no other
execution of the person:

1. **Body frame**: the *rest posture* is the mean posture over the first ``REST_FRACTION``
   of the execution (an exercise starts from rest); the positions are turned about the
   vertical axis (y), by at most 90 degrees, so that the rest posture's right-to-left hip
   and shoulder axis lies along x, and moved so that the rest mid-hip is the origin. How the
   person stood to the camera drops out. With ``mirror_sides``, an execution whose left
   joints moved further from rest than its right ones is then mirrored (x negated, left
   and right swapped), so the side that moves is always the right: which arm or leg a
   person uses for a one-sided exercise drops out too (on UI-PRMD two of the ten people
   raise the left arm where the others raise the right).
2. **Displacement from rest**: the body-frame positions less the rest posture (every joint
   0 at rest), what the execution moved, not where a person's joints happen to sit.
3. **Segment directions**: the unit vector of each ``BODY_SEGMENTS`` bone (upper arms,
   forearms, thighs, shanks, trunk, head, feet, the hip and shoulder lines) in the body
   frame: bone lengths drop out.
4. **Angles** (``BODY_ANGLES``), degrees: at the shoulders (upper arm to the trunk's
   downward direction), elbows, hips (thigh to trunk) and knees; the upper arm's plane
   (its forward angle from the frontal plane, times the share of the arm that is horizontal,
   so a hanging arm reads 0: shoulder abduction is raised in the frontal plane, scaption
   30-45 degrees forward of it) and elevation (above the horizontal); the
   thigh's forward and sideways angles from the downward vertical; the forearm's plane;
   the trunk's inclination from the vertical and its forward and sideways lean; the stance
   width (ankle to ankle, torso lengths).

These are the inputs of the sequence models of the rehabilitation-assessment literature in
kind (joint angles and body-frame positions from Kinect skeletons; Vakanski, Jun, Paul,
Baker, "A Data Set of Human Body Movements for Physical Rehabilitation Exercises", Data
3(1):2, 2018; Liao, Vakanski, Xian, "A Deep Learning Framework for Assessing Physical
Rehabilitation Exercises", IEEE TNSRE 28(2), 2020). ``series`` holds what MiniRocket
convolves: the segment directions and angles (exercise recognition), or the angles alone
(the form classifier: on UI-PRMD the directions lowered it, README, Models); ``summary`` the
displacements, angles and segment directions (what the per-execution summaries read;
``tasks.learning.families``).

A 2-D view (z 0) gets the same channels with z 0; a joint the inputs lack is taken as the
origin (its segments and angles are then constant and carry nothing). In a fused sequence
(``tasks.learning.sequences.fuse_views``: channels ``<name>@<view>``) each view is derived on its
own, over the steps where that view is present.
"""

from __future__ import annotations

import numpy as np

#: Share of an execution, from its start, whose mean posture is its rest posture.
REST_FRACTION = 0.05

#: Bones whose unit direction is a channel: (from joint, to joint).
BODY_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("right_hip", "right_knee"),
    ("left_knee", "left_ankle"), ("right_knee", "right_ankle"), ("mid_hip", "neck"), ("neck", "head"),
    ("left_ankle", "left_toe"), ("right_ankle", "right_toe"), ("right_hip", "left_hip"),
    ("right_shoulder", "left_shoulder"),
)  # fmt: skip

#: Angle channels, in order (module docstring, step 4).
BODY_ANGLES: tuple[str, ...] = (
    *(f"{side}_{name}" for side in ("left", "right") for name in (
        "shoulder", "elbow", "hip", "knee", "arm_plane", "arm_elevation", "thigh_forward", "thigh_sideways",
        "forearm_plane")),
    "trunk_inclination", "trunk_forward", "trunk_sideways", "stance_width",
)  # fmt: skip

#: The joints ``body_series`` reads (the others are ignored).
BODY_JOINTS: tuple[str, ...] = tuple(dict.fromkeys(j for segment in BODY_SEGMENTS for j in segment))
#: ``BODY_JOINTS`` index of each joint's mirror image (left <-> right; a middle joint itself).
MIRRORED_JOINTS = np.array([BODY_JOINTS.index(j.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_"))
                            for j in BODY_JOINTS])  # fmt: skip

AXES = ("x", "y", "z")


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` (``(..., 3)``) scaled to length 1; a zero vector stays 0."""
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(length, 1e-9)


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle between ``u`` and ``v`` (``(..., 3)``), degrees; 0 for a zero vector."""
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v), axis=-1), (u * v).sum(axis=-1)))


def _atan2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(a, b))


def _plane(v: np.ndarray, across: np.ndarray) -> np.ndarray:
    """The forward angle (degrees) of ``v`` (``(..., 3)``) from the frontal plane, about the
    vertical, ``across`` its sideways component; weighted by the share of ``v`` that is
    horizontal, so a segment that hangs or points straight up (whose plane is undefined and
    noise) reads 0 rather than any angle."""
    horizontal = np.hypot(v[..., 0], v[..., 2])
    return _atan2(v[..., 2], across) * horizontal / np.maximum(np.linalg.norm(v, axis=-1), 1e-9)


def to_body_frame(positions: np.ndarray, rest_steps: int) -> np.ndarray:
    """Positions in the body frame of their rest posture (module docstring, step 1).

    Parameters
    ----------
    positions
        float, shape ``(execution, time, joint, 3)`` over ``BODY_JOINTS``, y up.
    rest_steps
        The first steps whose mean is the rest posture, at least 1.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``positions``: turned about y, by at most 90 degrees, so that
        the rest posture's right-to-left hip plus shoulder vector lies along the x axis
        (its z 0), the rest mid-hip at the origin.
    """
    index = {joint: i for i, joint in enumerate(BODY_JOINTS)}
    rest = positions[:, :rest_steps].mean(axis=1)  # (execution, joint, 3)
    across = (rest[:, index["left_hip"]] - rest[:, index["right_hip"]]) + (
        rest[:, index["left_shoulder"]] - rest[:, index["right_shoulder"]]
    )
    # The across axis' angle from the x axis, about y, within +-90 degrees: turned onto +x when
    # the person faces the camera, onto -x when they face away, never mirrored (a 2-D view,
    # z 0, is not turned at all).
    facing = np.where(across[:, 0] < 0, -1.0, 1.0)
    heading = np.arctan2(facing * across[:, 2], facing * across[:, 0])
    cos, sin = np.cos(heading), np.sin(heading)
    rotation = np.zeros((len(positions), 3, 3))
    rotation[:, 0, 0], rotation[:, 0, 2] = cos, sin
    rotation[:, 1, 1] = 1.0
    rotation[:, 2, 0], rotation[:, 2, 2] = -sin, cos
    origin = (rest[:, index["left_hip"]] + rest[:, index["right_hip"]]) / 2
    return np.einsum("nij,ntkj->ntki", rotation, positions - origin[:, np.newaxis, np.newaxis, :])


def mirror_to_moving_side(body: np.ndarray, rest_steps: int) -> np.ndarray:
    """Body-frame positions with each execution whose left joints moved more than its right
    ones mirrored (module docstring, step 1).

    Parameters
    ----------
    body
        float, shape ``(execution, time, joint, 3)`` over ``BODY_JOINTS``, in the body frame
        (``to_body_frame``: left along +x).
    rest_steps
        The first steps whose mean is the rest posture, at least 1.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``body``: where the summed distance from rest of the left joints
        over the execution exceeds the right joints', x negated and left and right joints
        swapped (the left side stays along +x); the other executions as they are.
    """
    moved = np.linalg.norm(body - body[:, :rest_steps].mean(axis=1, keepdims=True), axis=-1).sum(axis=1)  # (execution, joint)
    left = np.array([j.startswith("left_") for j in BODY_JOINTS])
    flip = moved[:, left].sum(axis=1) > moved[:, MIRRORED_JOINTS[left]].sum(axis=1)
    out = np.array(body, dtype=np.float64)
    out[flip] = out[flip][:, :, MIRRORED_JOINTS] * np.array([-1.0, 1.0, 1.0])
    return out


def body_angles(body: np.ndarray) -> np.ndarray:
    """``BODY_ANGLES`` of body-frame positions (``(execution, time, joint, 3)``), shape
    ``(execution, time, len(BODY_ANGLES))``."""
    index = {joint: i for i, joint in enumerate(BODY_JOINTS)}

    def at(joint: str) -> np.ndarray:
        return body[:, :, index[joint]]

    trunk = at("neck") - ((at("left_hip") + at("right_hip")) / 2)
    per_side = []
    for side, outward in (("left", 1.0), ("right", -1.0)):
        shoulder, elbow, wrist = at(f"{side}_shoulder"), at(f"{side}_elbow"), at(f"{side}_wrist")
        hip, knee, ankle = at(f"{side}_hip"), at(f"{side}_knee"), at(f"{side}_ankle")
        arm, forearm, thigh = elbow - shoulder, wrist - elbow, knee - hip
        per_side += [
            _angle(arm, -trunk), _angle(-arm, forearm), _angle(trunk, thigh), _angle(-thigh, ankle - knee),
            _plane(arm, np.abs(arm[..., 0])), _atan2(arm[..., 1], np.hypot(arm[..., 0], arm[..., 2])),
            _atan2(thigh[..., 2], -thigh[..., 1]), _atan2(outward * thigh[..., 0], -thigh[..., 1]),
            _plane(forearm, outward * forearm[..., 0]),
        ]  # fmt: skip
    up = np.array([0.0, 1.0, 0.0])
    trunk_angles = [_angle(trunk, np.broadcast_to(up, trunk.shape)), _atan2(trunk[..., 2], trunk[..., 1]),
                    _atan2(trunk[..., 0], trunk[..., 1])]  # fmt: skip
    stance = np.linalg.norm(at("left_ankle") - at("right_ankle"), axis=-1)
    return np.stack([*per_side, *trunk_angles, stance], axis=2)


def _view_groups(feature_names: tuple[str, ...]) -> dict[str, dict[tuple[str, str], int]]:
    """View suffix ("" for a one-view sequence, ``@<view>`` fused) -> (joint, axis) -> channel."""
    groups: dict[str, dict[tuple[str, str], int]] = {}
    for i, name in enumerate(feature_names):
        base, at, view = name.partition("@")
        joint, _, axis = base.rpartition("_")
        if joint in BODY_JOINTS and axis in AXES:
            groups.setdefault(at + view, {})[(joint, axis)] = i
    return groups


def body_series(
    X: np.ndarray, lengths: np.ndarray, feature_names: tuple[str, ...], length: int, directions: bool = True,
    mirror_sides: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The body channels of executions, each resampled to ``length`` steps.

    Parameters
    ----------
    X
        float, shape ``(execution, time, feature)``: padded sequences (``Sequences.X``).
    lengths
        int, shape ``(execution,)``: their valid steps.
    feature_names
        Names of the feature axis: positions ``<joint>_<axis>``, in a fused sequence
        ``<joint>_<axis>@<view>`` (each view derived on its own).
    length
        Steps per execution, at least 2.
    directions
        Whether ``series`` holds the segment directions before the angles (False: the angles
        only; ``summary`` holds them either way).
    mirror_sides
        Whether executions that moved their left side more are mirrored
        (``mirror_to_moving_side``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(series, summary)``, float64, shapes ``(execution, channel, length)``: segment
        directions (with ``directions``) and angles (``series``), and displacements from rest, angles and segment
        directions (``summary``), view after view. Empty channel axes when no view has
        ``BODY_JOINTS`` positions.
    """
    n = len(X)
    series, summary = [], []
    at = np.linspace(0.0, 1.0, length)
    for group in _view_groups(tuple(feature_names)).values():
        positions = np.zeros((n, length, len(BODY_JOINTS), 3))
        joints = np.array([BODY_JOINTS.index(joint) for joint, _ in group], dtype=np.intp)
        axes = np.array([AXES.index(axis) for _, axis in group], dtype=np.intp)
        channels = np.array(list(group.values()), dtype=np.intp)
        for i in range(n):
            steps = max(int(lengths[i]), 1)
            where = at * (steps - 1)
            below = np.floor(where).astype(np.intp)
            above = np.minimum(below + 1, steps - 1)
            weight = (where - below)[:, np.newaxis]
            values = X[i, :steps][:, channels].astype(np.float64)  # (step, channel)
            positions[i][:, joints, axes] = (1 - weight) * values[below] + weight * values[above]
        rest_steps = max(1, int(round(REST_FRACTION * length)))
        body = to_body_frame(positions, rest_steps)
        if mirror_sides:
            body = mirror_to_moving_side(body, rest_steps)
        displacement = (body - body[:, :rest_steps].mean(axis=1, keepdims=True)).reshape(n, length, -1)
        segments = np.concatenate([_unit(body[:, :, BODY_JOINTS.index(b)] - body[:, :, BODY_JOINTS.index(a)])
                                     for a, b in BODY_SEGMENTS], axis=2)  # fmt: skip
        angles = body_angles(body)
        series.append(np.concatenate([segments, angles], axis=2) if directions else angles)
        summary.append(np.concatenate([displacement, angles, segments], axis=2))
    if not series:
        return np.zeros((n, 0, length)), np.zeros((n, 0, length))
    return np.concatenate(series, axis=2).transpose(0, 2, 1), np.concatenate(summary, axis=2).transpose(0, 2, 1)


def series_summaries(series: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """Per execution and channel of ``series`` (``(execution, channel, time)``, equally
    long) its minimum, maximum, range, mean, standard deviation and the times of the minimum
    and the maximum (share of the execution), then the duration; shape
    ``(execution, channel * 7 + 1)``, channel-major (as ``tasks.learning.families.kinematic_summaries``)."""
    span = max(series.shape[2] - 1, 1)
    low, high = series.min(axis=2), series.max(axis=2)
    stats = np.stack([low, high, high - low, series.mean(axis=2), series.std(axis=2), series.argmin(axis=2) / span,
                      series.argmax(axis=2) / span], axis=2)  # fmt: skip
    return np.hstack([stats.reshape(len(series), -1), np.asarray(duration_s, dtype=np.float64)[:, np.newaxis]])
