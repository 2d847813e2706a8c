"""SYNTHETIC labeled sets: the project's known-answer data (generated people, no real ones).

``generate_set`` writes a labeled set in exactly the input format of docs/input-contract.md: ``set.yaml``,
``samples.csv``, one Kinect v2 skeleton CSV per sample (both layouts) and two OpenPose JSON
folders per sample (a front camera and a camera at the performer's right-front diagonal).
Everything in it is generated from a parametric body model, so the right answers are known by
construction: a sample's label and faults are the parameters that shaped its motion, and its
``rep_count`` is the number of reps generated.

How a sample is made
--------------------
1. ``plan_set`` decides everything from the seed: the subjects (height, weight, age, gender
   and a personal style: stance, depth, lean, tempo), each execution's label, faults, reps
   (count, duration, depth), file formats and recording artefacts (bystander, dropped frame
   files, frames where nobody is found).
2. ``depth_phase`` turns the reps into a phase over frames (0 at rest, about 1 at the bottom);
   ``squat_pose`` / ``push_up_pose`` turn the phase into ``POINTS`` in the performer's body
   frame (metres; axes ``left``, ``up``, ``forward``, origin on the floor), bone lengths
   scaled by height (Winter's segment fractions). Faults change the form: knees caving in,
   forward lean, narrow base or heels lifting, hip shift or shallow depth, neck flexion for
   squats; hip sag, piking, head drop, bent knees, narrow hands for push-ups.
3. ``place_in_room`` puts the body in Kinect v2 camera space (x to the sensor's left, y up,
   z away from the sensor), facing the sensor 2.5-3 m away.
4. The Kinect view keeps the 25 ``JointType`` joints with depth noise and tracking states;
   the video views project the body through pinhole cameras (``project_points``) and add
   what a 2-D detector does: pixel noise, confidences, joints not found (``0, 0, 0``).

Same seed, same bytes: all randomness comes from ``numpy.random.default_rng`` streams keyed
by (seed, purpose, subject, exercise, execution) (see ``random_stream``), and nothing depends
on the clock.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from formset.schemas.skeleton import SOURCES
from formset.schemas.vocab import FAULTS, SLUG
from formset.storage import atomic_path

#: Every set this module writes starts its title with this, so a re-run may replace it.
TITLE_PREFIX = "SYNTHETIC"
#: Fixed so that the same seed gives the same bytes on any day.
CREATED = datetime.date(2024, 1, 1)

# ---------------------------------------------------------------------------------------------
# The body model
# ---------------------------------------------------------------------------------------------

#: Points the generator animates: the union of what the Kinect v2 and OpenPose BODY_25 report.
#: ``neck`` is the base of the neck (Kinect ``SpineShoulder``, OpenPose ``Neck``),
#: ``upper_neck`` the Kinect's own ``Neck``; ``toe`` is the big toe (Kinect ``Foot``).
POINTS: tuple[str, ...] = (
    "mid_hip", "spine_mid", "neck", "upper_neck", "head", "nose",
    "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
    "left_hand_tip", "right_hand_tip", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_toe", "right_toe", "left_small_toe", "right_small_toe",
)  # fmt: skip
POINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(POINTS)}

#: Body-frame axes (metres): towards the performer's left, up, towards where they face.
LEFT, UP, FORWARD = 0, 1, 2
#: Sides and the sign of the ``left`` axis that points outward on that side.
SIDES: tuple[tuple[str, float], ...] = (("left", 1.0), ("right", -1.0))

#: Segment lengths and offsets as fractions of body height (Winter, Biomechanics and Motor
#: Control of Human Movement, fig. 4.1; joint-centre distances where Winter gives breadths).
SEGMENT: dict[str, float] = {
    "ankle_height": 0.039,
    "shank": 0.246,
    "thigh": 0.245,
    "torso": 0.288,  # mid-hip to the base of the neck (standing shoulder height 0.818)
    "hip_half_width": 0.05,
    "shoulder_half_width": 0.10,
    "shoulder_drop": 0.03,  # shoulder joints below the base of the neck, along the torso
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hand": 0.035,  # wrist to the Kinect's hand point
    "hand_tip": 0.09,
    "thumb": 0.04,
    "upper_neck": 0.05,
    "head": 0.10,  # base of the neck to the head's centre
    "foot": 0.11,  # ankle to big toe, along the foot
    "heel_back": 0.03,
}

# ---------------------------------------------------------------------------------------------
# Cameras and image
# ---------------------------------------------------------------------------------------------

#: Kinect camera space: x to the sensor's left, y up, z away from the sensor.
WORLD_UP = np.array([0.0, 1.0, 0.0])
#: Camera-frame axis along the viewing direction (the others: image right, image down).
VIEWING_AXIS = 2
IMAGE_SIZE: tuple[int, int] = (1280, 720)
#: The diagonal camera's bearing from the performer: 45 degrees from straight ahead, to
#: their right.
DIAGONAL_BEARING_RAD = np.pi / 4

# ---------------------------------------------------------------------------------------------
# Formats of the files written
# ---------------------------------------------------------------------------------------------

KINECT_JOINTS: tuple[str, ...] = SOURCES["kinect_v2"].joints
#: Kinect ``JointType`` -> the body point it reports.
KINECT_POINTS: dict[str, str] = {
    **SOURCES["kinect_v2"].to_canonical,
    "Neck": "upper_neck",
    "HandLeft": "left_hand", "HandRight": "right_hand",
    "HandTipLeft": "left_hand_tip", "HandTipRight": "right_hand_tip",
    "ThumbLeft": "left_thumb", "ThumbRight": "right_thumb",
}  # fmt: skip
#: Kinect joints the SDK often only infers (hands and feet); TrackingState values.
KINECT_EXTREMITIES = frozenset(
    {"HandLeft", "HandRight", "HandTipLeft", "HandTipRight", "ThumbLeft", "ThumbRight", "FootLeft", "FootRight"}
)
NOT_TRACKED, INFERRED, TRACKED = 0, 1, 2
#: Kinect CSV layouts, cycled over samples: (a) with a header (with or without ``frame`` and
#: ``_state`` columns) and (b) raw rows (plain, or blank lines first and a trailing comma).
KINECT_LAYOUTS: tuple[str, ...] = ("header", "raw", "header_no_state", "raw_padded")
RAW_PADDING_LINES = 2

#: OpenPose model -> the body point of each of its keypoints, in the model's order.
_OPENPOSE_EXTRA = {"LSmallToe": "left_small_toe", "RSmallToe": "right_small_toe"}
OPENPOSE_POINTS: dict[str, tuple[str, ...]] = {
    model: tuple({**SOURCES[model].to_canonical, **_OPENPOSE_EXTRA}[j] for j in SOURCES[model].joints)
    for model in ("openpose_body25", "openpose_coco18")
}
#: (model, JSON key, version written) cycled over samples: new and old OpenPose output.
OPENPOSE_FORMATS: tuple[tuple[str, str, float], ...] = (
    ("openpose_body25", "pose_keypoints_2d", 1.3),
    ("openpose_coco18", "pose_keypoints_2d", 1.3),
    ("openpose_body25", "pose_keypoints", 1.0),
    ("openpose_coco18", "pose_keypoints", 1.0),
)
VIEWS: tuple[str, ...] = ("front", "diagonal")

SAMPLE_COLUMNS: tuple[str, ...] = (
    "sample_id", "subject_id", "exercise", "kinect_csv", "openpose_front", "openpose_diagonal",
    "label", *FAULTS, "age", "gender", "height_cm", "weight_kg", "rep_count", "session",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Vectors and kinematics
# ---------------------------------------------------------------------------------------------


def body_vector(left: object = 0.0, up: object = 0.0, forward: object = 0.0) -> np.ndarray:
    """Body-frame vectors from their components.

    Parameters
    ----------
    left, up, forward
        Scalars or arrays of any broadcastable shape, metres.

    Returns
    -------
    numpy.ndarray
        Shape ``(*broadcast shape, 3)``, components in ``(LEFT, UP, FORWARD)`` order.
    """
    return np.stack(np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in (left, up, forward))), axis=-1)


def unit(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (shape ``(..., 3)``) scaled to length 1."""
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def sagittal(angle_from_vertical: object, length: object = 1.0) -> np.ndarray:
    """Vectors in the body's sagittal plane.

    Parameters
    ----------
    angle_from_vertical
        Radians, any shape: 0 points up, pi/2 forward, pi down.
    length
        Metres, broadcastable against the angle.

    Returns
    -------
    numpy.ndarray
        Shape ``(*angle shape, 3)`` body-frame vectors.
    """
    angle = np.asarray(angle_from_vertical, dtype=float)
    return body_vector(0.0, length * np.cos(angle), length * np.sin(angle))


def bend_joint(
    root: np.ndarray, end: np.ndarray, root_length: float, end_length: float, pole: np.ndarray
) -> np.ndarray:
    """The middle joint of a two-bone chain (hip-knee-ankle, shoulder-elbow-wrist).

    Parameters
    ----------
    root, end
        Shape ``(..., 3)``: the chain's two ends (metres).
    root_length, end_length
        Bone lengths from the middle joint to ``root`` and to ``end`` (metres).
    pole
        Shape broadcastable to ``(..., 3)``: the direction the middle joint bends towards.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., 3)``: the middle joint, ``root_length`` from ``root`` and
        ``end_length`` from ``end`` (the chain is stretched straight where ``end`` is out of
        reach), on the ``pole`` side of the root-end line.
    """
    span = end - root
    distance = np.linalg.norm(span, axis=-1, keepdims=True)
    direction = span / distance
    distance = np.clip(distance, abs(root_length - end_length) + 1e-9, root_length + end_length)
    along = (root_length**2 - end_length**2 + distance**2) / (2 * distance)
    across = np.sqrt(np.maximum(root_length**2 - along**2, 0.0))
    bend = unit(pole - np.sum(pole * direction, axis=-1, keepdims=True) * direction)
    return root + along * direction + across * bend


def _head_points(neck: np.ndarray, head_angle: np.ndarray, height_m: float) -> dict[str, np.ndarray]:
    """Upper neck, head centre and face points from the base of the neck.

    ``neck`` has shape ``(frame, 3)``; ``head_angle`` (radians from vertical, shape
    ``(frame,)``) tilts the head forward; the face looks 90 degrees further forward.
    """
    up = sagittal(head_angle)
    face = sagittal(head_angle + np.pi / 2)
    head = neck + SEGMENT["head"] * height_m * up
    left = body_vector(left=1.0)
    # Face points around the head's centre, in fractions of height (the head is ~0.13 of it).
    return {
        "upper_neck": neck + SEGMENT["upper_neck"] * height_m * up,
        "head": head,
        "nose": head + height_m * (0.055 * face - 0.005 * up),
        **{f"{side}_eye": head + height_m * (0.045 * face + 0.015 * up + 0.02 * sign * left) for side, sign in SIDES},
        **{f"{side}_ear": head + height_m * (0.005 * up + 0.045 * sign * left) for side, sign in SIDES},
    }


def _stack_points(points: dict[str, np.ndarray], n_frames: int) -> np.ndarray:
    """Points by name (shape ``(frame, 3)``, or ``(3,)`` for a point that stays put) ->
    array of shape ``(frame, point, 3)`` in ``POINTS`` order."""
    return np.stack([np.broadcast_to(points[name], (n_frames, 3)) for name in POINTS], axis=1)


@dataclass(frozen=True)
class SquatForm:
    """How one squat execution is performed.

    Angles in radians at full depth (phase 1), lengths in metres.

    Attributes
    ----------
    stance_half_width_m
        Each ankle's distance from the midline.
    toe_out_rad
        Feet turned out from straight ahead.
    hip_back
        How far back the hips travel at full depth, as a fraction of height.
    torso_lean_rad
        Torso angle from vertical.
    head_flexion_rad
        Head tilted forward beyond half the torso lean (neck flexion).
    knee_in_rad
        ``(left, right)``: how far each knee turns inward from following the toes (valgus).
    heel_lift_rad
        Feet pitched up about the toes (heels lifting).
    hip_shift_m
        Sideways shift of the hips, towards the performer's left when positive.
    arm_raise_rad
        Arms raised forward from hanging.
    """

    stance_half_width_m: float
    toe_out_rad: float
    hip_back: float
    torso_lean_rad: float
    head_flexion_rad: float
    knee_in_rad: tuple[float, float]
    heel_lift_rad: float
    hip_shift_m: float
    arm_raise_rad: float


def squat_pose(phase: np.ndarray, height_m: float, form: SquatForm) -> np.ndarray:
    """Body points of a squat over frames.

    Parameters
    ----------
    phase
        Shape ``(frame,)``: 0 standing, 1 with the thighs about parallel to the floor (a
        rep's depth is its peak phase, see ``depth_phase``).
    height_m
        The performer's height; every segment scales with it.
    form
        How the squat is performed (faults included).

    Returns
    -------
    numpy.ndarray
        Shape ``(frame, point, 3)`` over ``POINTS``, body frame, metres: origin on the floor
        between the ankles, ``up`` 0 at the floor.
    """
    h = height_m
    s = np.asarray(phase, dtype=float)
    thigh, shank = SEGMENT["thigh"] * h, SEGMENT["shank"] * h
    ankle_height = SEGMENT["ankle_height"] * h
    points: dict[str, np.ndarray] = {}

    # Hips: standing with the legs all but straight, then down and back.
    lateral_reach = form.stance_half_width_m - SEGMENT["hip_half_width"] * h
    hip_standing = ankle_height + np.sqrt((0.995 * (thigh + shank)) ** 2 - lateral_reach**2)
    hip_drop = hip_standing - ankle_height - 0.85 * shank  # thighs about parallel at phase 1
    points["mid_hip"] = body_vector(form.hip_shift_m * s, hip_standing - hip_drop * s, -form.hip_back * h * s)

    lift = (form.heel_lift_rad * s)[:, None]  # (frame, 1): broadcasts against xyz
    for side_index, (side, sign) in enumerate(SIDES):
        outward = body_vector(left=sign)
        toe_direction = body_vector(sign * np.sin(form.toe_out_rad), 0.0, np.cos(form.toe_out_rad))
        toe = form.stance_half_width_m * outward + SEGMENT["foot"] * h * toe_direction

        def on_foot(along: float, up: float, out: float = 0.0) -> np.ndarray:
            # A point of the foot given relative to the toe; lifting the heel pitches the foot about the toe.
            return (
                toe
                + (along * np.cos(lift) + up * np.sin(lift)) * toe_direction
                + (up * np.cos(lift) - along * np.sin(lift)) * body_vector(up=1.0)
                + out * outward
            )

        points[f"{side}_toe"] = on_foot(0.0, 0.0)
        points[f"{side}_small_toe"] = on_foot(-0.025 * h, 0.0, 0.035 * h)
        points[f"{side}_ankle"] = on_foot(-SEGMENT["foot"] * h, ankle_height)
        points[f"{side}_heel"] = on_foot(-(SEGMENT["foot"] + SEGMENT["heel_back"]) * h, 0.015 * h)
        points[f"{side}_hip"] = points["mid_hip"] + SEGMENT["hip_half_width"] * h * outward
        knee_heading = form.toe_out_rad - form.knee_in_rad[side_index] * np.minimum(s, 1.0)
        knee_pole = body_vector(sign * np.sin(knee_heading), 0.0, np.cos(knee_heading))
        points[f"{side}_knee"] = bend_joint(points[f"{side}_hip"], points[f"{side}_ankle"], thigh, shank, knee_pole)

    # Torso and head: the torso leans forward with depth, the head follows it halfway
    # (eyes forward) unless the neck flexes.
    lean = form.torso_lean_rad * s
    torso = sagittal(lean, SEGMENT["torso"] * h)
    points["neck"] = points["mid_hip"] + torso
    points["spine_mid"] = points["mid_hip"] + 0.5 * torso
    head_angle = 0.5 * lean + form.head_flexion_rad * (0.4 + 0.6 * np.minimum(s, 1.0))
    points.update(_head_points(points["neck"], head_angle, h))

    # Arms raised forward for balance as the squat deepens, nearly straight.
    arm_angle = np.pi - (0.1 + form.arm_raise_rad * np.minimum(s, 1.0))
    for side, sign in SIDES:
        lateral = SEGMENT["shoulder_half_width"] * h * body_vector(left=sign)
        shoulder = points["neck"] - SEGMENT["shoulder_drop"] * h * unit(torso) + lateral
        arm = unit(sagittal(arm_angle) + body_vector(left=0.12 * sign))
        forearm = unit(sagittal(arm_angle - 0.15) + body_vector(left=0.05 * sign))
        elbow = shoulder + SEGMENT["upper_arm"] * h * arm
        wrist = elbow + SEGMENT["forearm"] * h * forearm
        points.update(_hand_points(side, sign, shoulder, elbow, wrist, forearm, h))
    return _stack_points(points, len(s))


def _hand_points(
    side: str, sign: float, shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray,
    pointing: np.ndarray, height_m: float,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Arm and hand points of one side (``sign``: +1 left, -1 right); the fingers along
    ``pointing`` (shape ``(..., 3)``), the thumb inward and a little up."""
    medial, up = body_vector(left=-sign), body_vector(up=1.0)
    return {
        f"{side}_shoulder": shoulder,
        f"{side}_elbow": elbow,
        f"{side}_wrist": wrist,
        f"{side}_hand": wrist + SEGMENT["hand"] * height_m * pointing,
        f"{side}_hand_tip": wrist + SEGMENT["hand_tip"] * height_m * pointing,
        f"{side}_thumb": wrist + height_m * (SEGMENT["thumb"] * pointing + 0.025 * medial + 0.01 * up),
    }


@dataclass(frozen=True)
class PushUpForm:
    """How one push-up execution is performed (radians, metres, fractions of height).

    Attributes
    ----------
    hand_half_width_m
        Each hand's distance from the midline.
    hip_bend_rad
        Torso angle minus leg angle: positive sags the hips, negative pikes them up.
    head_raise_rad
        Head above the line of the torso; negative drops it towards the floor.
    knee_bend_rad
        ``(left, right)`` knee flexion.
    bottom_height
        Height of the base of the neck at the bottom, as a fraction of height.
    """

    hand_half_width_m: float
    hip_bend_rad: float
    head_raise_rad: float
    knee_bend_rad: tuple[float, float]
    bottom_height: float


def _plank_angles(neck_height: np.ndarray, leg: float, torso: float, hip_bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Leg and torso angles above the horizontal that put the base of the neck at a height.

    Solves ``leg sin(a) + torso sin(a + hip_bend) = neck_height`` (heights measured from
    the ankles, metres, any shape). Returns ``(leg_angle, torso_angle)`` in radians.
    """
    a = leg + torso * np.cos(hip_bend)
    b = torso * np.sin(hip_bend)
    leg_angle = np.arcsin(neck_height / np.hypot(a, b)) - np.arctan2(b, a)
    return leg_angle, leg_angle + hip_bend


def push_up_pose(phase: np.ndarray, height_m: float, form: PushUpForm) -> np.ndarray:
    """Body points of a push-up over frames.

    Parameters
    ----------
    phase
        Shape ``(frame,)``: 0 arms straight (top), 1 at the bottom.
    height_m
        The performer's height; every segment scales with it.
    form
        How the push-up is performed (faults included).

    Returns
    -------
    numpy.ndarray
        Shape ``(frame, point, 3)`` over ``POINTS``, body frame, metres: face down, head
        towards ``forward``, origin on the floor below the ankles.
    """
    h = height_m
    s = np.asarray(phase, dtype=float)
    thigh, shank, torso_length = SEGMENT["thigh"] * h, SEGMENT["shank"] * h, SEGMENT["torso"] * h
    upper_arm, forearm = SEGMENT["upper_arm"] * h, SEGMENT["forearm"] * h
    # On the toes the ankles are well off the floor; the wrists just above it.
    ankle_height, wrist_height, feet_half_width = 0.09 * h, 0.03 * h, 0.07 * h
    hip_half_width, shoulder_half_width = SEGMENT["hip_half_width"] * h, SEGMENT["shoulder_half_width"] * h

    # Ankle-to-hip length of each leg with its knee bend (law of cosines); the body pivots
    # on their mean.
    legs = np.sqrt(thigh**2 + shank**2 + 2 * thigh * shank * np.cos(np.asarray(form.knee_bend_rad)))
    mean_leg = float(legs.mean())
    # Top: arms straight below the shoulders; bottom: chest near the floor.
    arm_reach = np.sqrt((0.97 * (upper_arm + forearm)) ** 2 - (form.hand_half_width_m - shoulder_half_width) ** 2)
    neck_top = wrist_height + arm_reach
    neck_height = neck_top - (neck_top - form.bottom_height * h) * s
    points: dict[str, np.ndarray] = {}

    def plank(height: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # (mid-hip, torso angle, base of the neck) with the neck base at ``height``.
        leg_angle, torso_angle = _plank_angles(height - ankle_height, mean_leg, torso_length, form.hip_bend_rad)
        mid_hip = body_vector(0.0, ankle_height, 0.0) + mean_leg * sagittal(np.pi / 2 - leg_angle)
        return mid_hip, torso_angle, mid_hip + sagittal(np.pi / 2 - torso_angle, torso_length)

    points["mid_hip"], torso_angle, points["neck"] = plank(neck_height)
    torso = points["neck"] - points["mid_hip"]
    points["spine_mid"] = points["mid_hip"] + 0.5 * torso
    points.update(_head_points(points["neck"], np.pi / 2 - torso_angle - form.head_raise_rad, h))

    for (side, sign), leg in zip(SIDES, legs):
        outward = body_vector(left=sign)
        hip = points["mid_hip"] + hip_half_width * outward
        # Each ankle sits at ankle height, one bent leg's length behind its hip.
        rise = hip[:, UP] - ankle_height
        behind = np.sqrt(np.maximum(leg**2 - rise**2 - (feet_half_width - hip_half_width) ** 2, 0.0))
        ankle = body_vector(sign * feet_half_width, ankle_height, hip[:, FORWARD] - behind)
        toe = ankle + h * body_vector(0.0, -0.09, 0.06)
        points[f"{side}_hip"] = hip
        points[f"{side}_ankle"] = ankle
        points[f"{side}_knee"] = bend_joint(hip, ankle, thigh, shank, body_vector(up=-1.0))
        points[f"{side}_toe"] = toe
        points[f"{side}_small_toe"] = toe + h * body_vector(0.03 * sign, 0.0, -0.015)
        points[f"{side}_heel"] = ankle + h * body_vector(0.0, 0.03, -0.03)

    # Hands planted on the floor below where the shoulders are at the top.
    top_hip, _, top_neck = plank(np.array([neck_top]))
    top_torso = top_neck - top_hip
    for side, sign in SIDES:
        lateral = shoulder_half_width * body_vector(left=sign)
        shoulder = points["neck"] - SEGMENT["shoulder_drop"] * h * unit(torso) + lateral
        top_shoulder = top_neck - SEGMENT["shoulder_drop"] * h * unit(top_torso) + lateral
        wrist = body_vector(sign * form.hand_half_width_m, wrist_height, top_shoulder[:, FORWARD])
        elbow = bend_joint(shoulder, wrist, upper_arm, forearm, unit(body_vector(0.8 * sign, 0.3, -0.5)))
        fingers = unit(body_vector(0.1 * sign, -0.2, 1.0))
        points.update(_hand_points(side, sign, shoulder, elbow, wrist, fingers, h))
    return _stack_points(points, len(s))


POSES = {"squat": squat_pose, "push_up": push_up_pose}

# ---------------------------------------------------------------------------------------------
# Reps over time
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reps:
    """The timing of one execution: rest, reps (with pauses between them), rest.

    Attributes
    ----------
    rest_start_s, rest_end_s
        Still phases before the first and after the last rep (seconds).
    durations_s
        Each rep's duration (seconds).
    depths
        Each rep's depth (1 = the execution's full range).
    descent_fractions
        Share of each rep spent going down.
    pauses_s
        Pauses at the top between consecutive reps (one fewer than reps).
    """

    rest_start_s: float
    durations_s: tuple[float, ...]
    depths: tuple[float, ...]
    descent_fractions: tuple[float, ...]
    pauses_s: tuple[float, ...]
    rest_end_s: float

    @property
    def count(self) -> int:
        return len(self.durations_s)

    @property
    def starts_s(self) -> np.ndarray:
        """Start time of each rep (seconds from the start of the recording)."""
        gaps = np.add(self.durations_s[:-1], self.pauses_s)
        return self.rest_start_s + np.concatenate([[0.0], np.cumsum(gaps)])

    @property
    def total_s(self) -> float:
        return float(self.starts_s[-1] + self.durations_s[-1] + self.rest_end_s)


def depth_phase(reps: Reps, time_s: np.ndarray) -> np.ndarray:
    """The movement phase at given times.

    Parameters
    ----------
    reps
        The execution's timing.
    time_s
        Shape ``(frame,)``, seconds from the start.

    Returns
    -------
    numpy.ndarray
        Shape ``(frame,)``: 0 at rest; during a rep a smooth dip to the rep's depth and back
        (half-cosine down over its descent fraction, half-cosine up over the rest).
    """
    starts = reps.starts_s
    rep = np.clip(np.searchsorted(starts, time_s, side="right") - 1, 0, reps.count - 1)
    duration = np.asarray(reps.durations_s)[rep]
    descent = np.asarray(reps.descent_fractions)[rep]
    progress = (time_s - starts[rep]) / duration  # 0-1 inside the rep
    inside = (progress >= 0) & (progress < 1)
    down = (1 - np.cos(np.pi * np.clip(progress / descent, 0, 1))) / 2
    up = (1 + np.cos(np.pi * np.clip((progress - descent) / (1 - descent), 0, 1))) / 2
    return np.where(inside, np.asarray(reps.depths)[rep] * np.where(progress < descent, down, up), 0.0)


def sway(time_s: np.ndarray, amplitude_m: float, frequency_hz: np.ndarray, phase_rad: np.ndarray) -> np.ndarray:
    """Slow balance sway: body-frame offsets of shape ``(frame, 3)`` (sideways and fore-aft).

    ``frequency_hz`` and ``phase_rad`` have shape ``(2,)``: the ``left`` and ``forward``
    components.
    """
    wave = amplitude_m * np.sin(2 * np.pi * frequency_hz * time_s[:, None] + phase_rad)
    return body_vector(wave[:, 0], 0.0, wave[:, 1])


# ---------------------------------------------------------------------------------------------
# Room and cameras
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a body stands in Kinect camera space.

    Attributes
    ----------
    distance_m
        ``z`` of the body's centre.
    lateral_m
        ``x`` of the body's centre.
    floor_y_m
        ``y`` of the floor (minus the sensor's height above it).
    yaw_rad
        Turn about the vertical from facing the sensor, towards the body's left when positive.
    centre_forward_m
        The body-frame ``forward`` coordinate put at the centre.
    """

    distance_m: float
    lateral_m: float
    floor_y_m: float
    yaw_rad: float
    centre_forward_m: float


def place_in_room(body_points: np.ndarray, placement: Placement) -> np.ndarray:
    """Body-frame points -> Kinect camera space.

    Parameters
    ----------
    body_points
        Shape ``(..., 3)``: ``(left, up, forward)`` metres.
    placement
        Where the body stands and which way it faces.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., 3)``: ``(x, y, z)`` metres, x to the sensor's left, y up, z away from
        the sensor. Facing the sensor (yaw 0) the body's left is at negative x.
    """
    left, up = body_points[..., LEFT], body_points[..., UP]
    forward = body_points[..., FORWARD] - placement.centre_forward_m
    cos, sin = np.cos(placement.yaw_rad), np.sin(placement.yaw_rad)
    turned_left = left * cos + forward * sin
    turned_forward = forward * cos - left * sin
    return np.stack(
        [placement.lateral_m - turned_left, placement.floor_y_m + up, placement.distance_m - turned_forward], axis=-1
    )


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera in Kinect camera space.

    Attributes
    ----------
    rotation
        Shape ``(3, 3)``: rows are the camera's axes in world coordinates: image right,
        image down, viewing direction.
    position
        Shape ``(3,)``: the camera centre, metres.
    focal_px
        Focal length in pixels (square pixels).
    principal_point_px
        ``(u, v)`` of the optical axis in the image.
    image_size
        ``(width, height)`` in pixels.
    """

    rotation: np.ndarray
    position: np.ndarray
    focal_px: float
    principal_point_px: tuple[float, float]
    image_size: tuple[int, int] = IMAGE_SIZE


def look_at(
    position: np.ndarray, target: np.ndarray, focal_px: float, image_size: tuple[int, int] = IMAGE_SIZE
) -> Camera:
    """A level (no roll) camera at ``position`` looking at ``target`` (both shape ``(3,)``,
    metres), principal point at the image centre."""
    forward = unit(np.asarray(target, float) - np.asarray(position, float))
    right = unit(np.cross(forward, WORLD_UP))
    down = np.cross(forward, right)
    centre = (image_size[0] / 2, image_size[1] / 2)
    return Camera(np.stack([right, down, forward]), np.asarray(position, float), focal_px, centre, image_size)


def project_points(points: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Project world points through a pinhole camera.

    Parameters
    ----------
    points
        Shape ``(..., 3)``: Kinect camera space, metres.
    camera
        The camera.

    Returns
    -------
    tuple of numpy.ndarray
        ``(uv, depth)``: pixel coordinates of shape ``(..., 2)`` (u right, v down; NaN for
        points not in front of the camera) and distance along the viewing direction, shape
        ``(...)``, metres.
    """
    in_camera = (np.asarray(points, float) - camera.position) @ camera.rotation.T
    depth = in_camera[..., VIEWING_AXIS]
    in_front = np.where(depth > 0, depth, np.nan)[..., None]
    uv = camera.focal_px * in_camera[..., :VIEWING_AXIS] / in_front + np.asarray(camera.principal_point_px)
    return uv, depth


# ---------------------------------------------------------------------------------------------
# Sensors: what a Kinect and a 2-D detector make of the motion
# ---------------------------------------------------------------------------------------------

#: Depth noise of the Kinect skeleton (metres) for tracked and inferred joints; share of
#: joint-frames not tracked at all, and of extremity joint-frames only inferred.
KINECT_NOISE_M = {TRACKED: 0.004, INFERRED: 0.015}
KINECT_NOT_TRACKED_RATE, KINECT_INFERRED_RATE = 0.01, 0.2


def track_kinect(world_points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The Kinect v2 skeleton of a motion: 25 joints with noise and tracking states.

    Parameters
    ----------
    world_points
        Shape ``(frame, point, 3)`` over ``POINTS``, Kinect camera space, metres.
    rng
        Random stream of the sample.

    Returns
    -------
    tuple of numpy.ndarray
        ``(xyz, state)``: shape ``(frame, kinect_joint, 3)`` in ``JointType`` order (NaN
        where not tracked) and the TrackingState, int, shape ``(frame, kinect_joint)``.
    """
    xyz = world_points[:, [POINT_INDEX[KINECT_POINTS[j]] for j in KINECT_JOINTS]]
    extremity = np.array([j in KINECT_EXTREMITIES for j in KINECT_JOINTS])
    draw = rng.random(xyz.shape[:2])
    state = np.where(draw < KINECT_NOT_TRACKED_RATE, NOT_TRACKED, TRACKED)
    state = np.where(extremity & (draw > 1 - KINECT_INFERRED_RATE), INFERRED, state)
    noise_m = np.where(state == INFERRED, KINECT_NOISE_M[INFERRED], KINECT_NOISE_M[TRACKED])
    xyz = xyz + rng.normal(size=xyz.shape) * noise_m[..., None]
    return np.where((state == NOT_TRACKED)[..., None], np.nan, xyz), state


#: Detector confidence by body region before noise, and how much lower it is for the side
#: of the body turned away from a camera.
CONFIDENCE_BASE = {"default": 0.85, "face": 0.75, "extremity": 0.65}
FAR_SIDE_PENALTY = 0.3
#: The side of the performer turned away from each camera: the diagonal camera stands at
#: their right, so their left side is partly hidden.
FAR_SIDE: dict[str, str | None] = {"front": None, "diagonal": "left"}
CONFIDENCE_RANGE = (0.3, 0.95)
CONFIDENCE_NOISE = 0.07
#: Pixel noise (standard deviation) at confidence 1, and added per unit of confidence lost.
PIXEL_NOISE_PX, PIXEL_NOISE_PER_DOUBT_PX = 1.0, 4.0
#: Chance a joint is not found: a floor, plus more for joints the detector doubts.
MISS_RATE, MISS_RATE_PER_DOUBT, DOUBT_FROM = 0.015, 0.25, 0.6


def confidence_base(far_side: str | None) -> np.ndarray:
    """Mean detector confidence per point, shape ``(point,)``; ``far_side`` (``left`` /
    ``right`` / None) is the side of the body turned away from the camera."""
    face = {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}
    extremity = ("hand", "hand_tip", "thumb", "toe", "heel")
    region = ["face" if p in face else "extremity" if p.endswith(extremity) else "default" for p in POINTS]
    base = np.array([CONFIDENCE_BASE[r] for r in region])
    if far_side is not None:
        base = base - FAR_SIDE_PENALTY * np.array([p.startswith(far_side + "_") for p in POINTS])
    return base


def detect_2d(
    uv: np.ndarray, base_confidence: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """What a 2-D pose detector reports for projected points.

    Parameters
    ----------
    uv
        Shape ``(frame, point, 2)``: true pixel positions (NaN behind the camera).
    base_confidence
        Shape ``(point,)``: mean confidence of each point (see ``confidence_base``).
    image_size
        ``(width, height)``: points outside the image are not found.
    rng
        Random stream of the sample.

    Returns
    -------
    numpy.ndarray
        Shape ``(frame, point, 3)``: ``(u, v, confidence)``, with ``0, 0, 0`` where the
        point was not found (OpenPose's convention).
    """
    low, high = CONFIDENCE_RANGE
    confidence = np.clip(base_confidence + CONFIDENCE_NOISE * rng.normal(size=uv.shape[:2]), low, high)
    noise_px = PIXEL_NOISE_PX + PIXEL_NOISE_PER_DOUBT_PX * (1 - confidence)
    seen = uv + rng.normal(size=uv.shape) * noise_px[..., None]
    inside = np.all((seen >= 0) & (seen < np.asarray(image_size)), axis=-1)
    missed = rng.random(uv.shape[:2]) < MISS_RATE + MISS_RATE_PER_DOUBT * np.maximum(DOUBT_FROM - confidence, 0)
    found = inside & ~missed
    return np.where(found[..., None], np.concatenate([seen, confidence[..., None]], axis=-1), 0.0)


# ---------------------------------------------------------------------------------------------
# The plan: everything about every sample, decided from the seed
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """A subject's personal way of moving, shared by all their correct executions.

    Fractions are of body height, angles in radians.
    """

    stance_half_width: float
    toe_out_rad: float
    torso_lean_rad: float
    squat_depth: float
    hip_back: float
    arm_raise_rad: float
    tempo: float  # multiplies rep durations
    hand_half_width: float
    push_up_bottom: float


@dataclass(frozen=True)
class Subject:
    """One synthetic person."""

    subject_id: str
    height_m: float
    weight_kg: float
    age: int
    gender: str
    session: str
    style: Style


@dataclass(frozen=True, eq=False)
class Execution:
    """One sample: one recording of one exercise by one subject, and how to write it.

    Attributes
    ----------
    faults
        The fault columns set to 1 (empty for correct executions).
    form
        The motion's parameters (``SquatForm`` or ``PushUpForm``), faults included.
    cameras
        ``front`` and ``diagonal`` cameras of the session.
    kinect_layout
        One of ``KINECT_LAYOUTS``.
    openpose_format
        One of ``OPENPOSE_FORMATS``.
    bystander
        A second, smaller person stands behind the performer, off-centre, and is listed
        first in some frames.
    empty_frames
        Some frames are written with an empty ``people`` list.
    dropped_frames
        Some frame files are missing from the OpenPose folders (and rows from a Kinect CSV
        that has a ``frame`` column).
    key
        ``(subject, exercise, execution)`` indices: with the seed, the key of the sample's
        random streams.
    seed
        The set's seed.
    """

    sample_id: str
    subject: Subject
    exercise: str
    label: str
    faults: tuple[str, ...]
    form: SquatForm | PushUpForm
    reps: Reps
    placement: Placement
    cameras: dict[str, Camera]
    kinect_layout: str
    openpose_format: tuple[str, str, float]
    bystander: bool
    empty_frames: bool
    dropped_frames: bool
    key: tuple[int, int, int]
    seed: int


#: Purposes of the random streams: each draws from its own, so changing how one is used
#: leaves the others' numbers as they were.
STREAMS: tuple[str, ...] = ("heights", "subject", "session", "execution", "sway", "bystander", "sensors")


def random_stream(seed: int, purpose: str, *key: int) -> np.random.Generator:
    """The random stream of one purpose (one of ``STREAMS``) for one subject, session or
    sample (``key``: non-negative indices), under the set's ``seed``."""
    return np.random.default_rng([seed, STREAMS.index(purpose), *key])


#: Subject heights are spread over this range (metres); ages over this one.
HEIGHT_RANGE_M, AGE_RANGE = (1.50, 1.95), (18, 66)
BMI_RANGE = (19.0, 29.0)
SUBJECTS_PER_SESSION = 3
#: Fault pairs that cannot happen together (hips cannot sag and pike at once).
CONFLICTING_FAULTS = {"push_up": {frozenset({"fault_torso", "fault_hip_joint"})}}
SECOND_FAULT_RATE = 0.3
REPS_RANGE, REP_DURATION_RANGE_S, REST_RANGE_S = (2, 3), (1.2, 2.5), (0.7, 1.0)
#: Per exercise: the body-frame ``forward`` coordinate (fraction of height) put at the
#: performer's spot (for push-ups, about the hips), and the height above the floor the
#: cameras aim at (metres).
BODY_CENTRE_FORWARD = {"squat": 0.0, "push_up": 0.45}
CAMERA_AIM_HEIGHT_M = {"squat": 0.9, "push_up": 0.35}


def _subject(index: int, height_stratum: int, n_subjects: int, seed: int) -> Subject:
    """Subject ``index``: its height drawn within its stratum of ``HEIGHT_RANGE_M`` so the
    set spans the range."""
    rng = random_stream(seed, "subject", index)
    low, high = HEIGHT_RANGE_M
    height = low + (high - low) * (height_stratum + rng.uniform(0.1, 0.9)) / n_subjects
    style = Style(
        stance_half_width=rng.uniform(0.11, 0.15),
        toe_out_rad=rng.uniform(0.15, 0.45),
        torso_lean_rad=rng.uniform(0.5, 0.7),
        squat_depth=rng.uniform(0.85, 1.05),
        hip_back=rng.uniform(0.10, 0.14),
        arm_raise_rad=rng.uniform(1.1, 1.5),
        tempo=rng.uniform(0.85, 1.2),
        hand_half_width=rng.uniform(0.14, 0.17),
        push_up_bottom=rng.uniform(0.11, 0.15),
    )
    return Subject(
        subject_id=f"s{index + 1:02d}",
        height_m=round(float(height), 3),
        weight_kg=round(float(rng.uniform(*BMI_RANGE) * height**2), 1),
        age=int(rng.integers(*AGE_RANGE)),
        gender="other" if index % 5 == 4 else ("female", "male")[index % 2],
        session=f"session-{index // SUBJECTS_PER_SESSION + 1:02d}",
        style=style,
    )


def _squat_form(
    style: Style, height_m: float, faults: tuple[str, ...], rng: np.random.Generator
) -> tuple[SquatForm, float]:
    """A squat's form and depth (1 = thighs parallel): the subject's style, changed by each
    fault (a variant chosen at random where a fault has two)."""
    knee_in = [rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)]
    for side, column in enumerate(("fault_left_knee", "fault_right_knee")):
        if column in faults:
            knee_in[side] = rng.uniform(0.45, 0.65)
    stance, heel_lift = style.stance_half_width, 0.0
    if "fault_base_of_support" in faults:
        if rng.random() < 0.5:
            stance = rng.uniform(0.045, 0.06)  # feet almost together
        else:
            heel_lift = rng.uniform(0.35, 0.5)
    hip_shift, depth = 0.0, style.squat_depth
    if "fault_hip_joint" in faults:
        if rng.random() < 0.5:
            hip_shift = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.07) * height_m
        else:
            depth = rng.uniform(0.4, 0.55)  # shallow
    return SquatForm(
        stance_half_width_m=stance * height_m,
        toe_out_rad=style.toe_out_rad,
        hip_back=style.hip_back,
        torso_lean_rad=(
            rng.uniform(1.15, 1.35) if "fault_torso" in faults else style.torso_lean_rad + rng.uniform(-0.04, 0.04)
        ),
        head_flexion_rad=rng.uniform(0.7, 1.0) if "fault_neck" in faults else rng.uniform(0.0, 0.1),
        knee_in_rad=(float(knee_in[0]), float(knee_in[1])),
        heel_lift_rad=heel_lift,
        hip_shift_m=float(hip_shift),
        arm_raise_rad=style.arm_raise_rad,
    ), depth


def _push_up_form(
    style: Style, height_m: float, faults: tuple[str, ...], rng: np.random.Generator
) -> tuple[PushUpForm, float]:
    """A push-up's form and depth (1 = down to ``bottom_height``): the subject's style,
    changed by each fault."""
    hip_bend = rng.uniform(-0.05, 0.05)
    if "fault_torso" in faults:
        hip_bend = rng.uniform(0.22, 0.32)  # hips sag
    if "fault_hip_joint" in faults:
        hip_bend = -rng.uniform(0.35, 0.45)  # hips pike up
    knee_bend = [rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08)]
    for side, column in enumerate(("fault_left_knee", "fault_right_knee")):
        if column in faults:
            knee_bend[side] = rng.uniform(0.5, 0.8)
    hand_half_width = rng.uniform(0.04, 0.06) if "fault_base_of_support" in faults else style.hand_half_width
    return PushUpForm(
        hand_half_width_m=hand_half_width * height_m,
        hip_bend_rad=float(hip_bend),
        head_raise_rad=-rng.uniform(0.6, 0.9) if "fault_neck" in faults else rng.uniform(0.0, 0.2),
        knee_bend_rad=(float(knee_bend[0]), float(knee_bend[1])),
        bottom_height=style.push_up_bottom,
    ), 1.0


FORMS = {"squat": _squat_form, "push_up": _push_up_form}


def _reps(style: Style, depth: float, rng: np.random.Generator) -> Reps:
    """Rep timing: 2-3 reps of 1.2-2.5 s at the subject's tempo, rest before and after;
    each rep's depth varies a little around the execution's ``depth``."""
    count = int(rng.integers(REPS_RANGE[0], REPS_RANGE[1] + 1))
    durations = np.clip(rng.uniform(*REP_DURATION_RANGE_S, count) * style.tempo, *REP_DURATION_RANGE_S)
    return Reps(
        rest_start_s=float(rng.uniform(*REST_RANGE_S)),
        durations_s=tuple(np.round(durations, 3).tolist()),
        depths=tuple((depth * rng.uniform(0.93, 1.05, count)).tolist()),
        descent_fractions=tuple(rng.uniform(0.45, 0.6, count).tolist()),
        pauses_s=tuple(rng.uniform(0.0, 0.3, count - 1).tolist()),
        rest_end_s=float(rng.uniform(*REST_RANGE_S)),
    )


def _session_cameras(session_index: int, exercise: str, seed: int) -> tuple[float, dict[str, Camera]]:
    """The floor height and the front and diagonal cameras of one session, aimed for one
    exercise (lower for push-ups)."""
    rng = random_stream(seed, "session", session_index)
    floor_y = -rng.uniform(0.75, 0.95)  # the Kinect stands this high
    nominal_distance = 2.75
    target = np.array([0.0, floor_y + CAMERA_AIM_HEIGHT_M[exercise], nominal_distance])
    front = look_at(
        np.array([rng.uniform(-0.05, 0.05), floor_y + rng.uniform(1.0, 1.2), -rng.uniform(0.3, 0.5)]),
        target,
        focal_px=rng.uniform(880, 920),
    )
    bearing = DIAGONAL_BEARING_RAD + rng.uniform(-0.08, 0.08)
    radius = rng.uniform(2.9, 3.2)
    # The performer faces -z, so their right-front is +x, -z.
    diagonal_position = np.array(
        [radius * np.sin(bearing), floor_y + rng.uniform(1.1, 1.3), nominal_distance - radius * np.cos(bearing)]
    )
    diagonal = look_at(diagonal_position, target, focal_px=rng.uniform(880, 920))
    return floor_y, {"front": front, "diagonal": diagonal}


def _faults_of(exercise: str, counter: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Faults of the ``counter``-th incorrect execution of an exercise: ``FAULTS`` in turn,
    so each appears about equally often, sometimes with a second compatible fault."""
    faults = {FAULTS[counter % len(FAULTS)]}
    if rng.random() < SECOND_FAULT_RATE:
        second = FAULTS[int(rng.integers(len(FAULTS)))]
        if frozenset(faults | {second}) not in CONFLICTING_FAULTS.get(exercise, set()):
            faults.add(second)
    return tuple(f for f in FAULTS if f in faults)


def plan_set(
    n_subjects: int = 8,
    exercises: tuple[str, ...] = ("squat", "push_up"),
    executions_per_exercise: int = 6,
    seed: int = 0,
) -> list[Execution]:
    """Decide every sample of a synthetic set, without generating any motion.

    Per subject and exercise, ``executions_per_exercise`` executions alternate correct
    (even ones) and incorrect (odd ones). File formats and recording artefacts rotate over
    the samples' running index ``k``: Kinect layout ``KINECT_LAYOUTS[k % 4]``, OpenPose
    format ``OPENPOSE_FORMATS[(k + k // 4) % 4]``, a bystander when ``k % 3 == 1``, empty
    frames when ``k % 3 == 2``, dropped frame files when ``k`` is even.

    Returns
    -------
    list of Execution
        In sample order: by subject, then exercise, then execution.
    """
    unknown = [e for e in exercises if e not in POSES]
    if unknown:
        raise ValueError(f"the synthetic generator knows {sorted(POSES)}, not {unknown}")
    height_strata = random_stream(seed, "heights").permutation(n_subjects)
    subjects = [_subject(i, int(height_strata[i]), n_subjects, seed) for i in range(n_subjects)]
    incorrect_seen = dict.fromkeys(exercises, 0)
    plan: list[Execution] = []
    for subject_index, subject in enumerate(subjects):
        for exercise_index, exercise in enumerate(exercises):
            floor_y, cameras = _session_cameras(subject_index // SUBJECTS_PER_SESSION, exercise, seed)
            for execution_index in range(executions_per_exercise):
                k = len(plan)
                key = (subject_index, exercise_index, execution_index)
                rng = random_stream(seed, "execution", *key)
                faults: tuple[str, ...] = ()
                if execution_index % 2:
                    faults = _faults_of(exercise, incorrect_seen[exercise], rng)
                    incorrect_seen[exercise] += 1
                form, depth = FORMS[exercise](subject.style, subject.height_m, faults, rng)
                placement = Placement(
                    distance_m=rng.uniform(2.5, 3.0),
                    lateral_m=rng.uniform(-0.15, 0.15),
                    floor_y_m=floor_y,
                    yaw_rad=rng.uniform(-0.1, 0.1),
                    centre_forward_m=BODY_CENTRE_FORWARD[exercise] * subject.height_m,
                )
                plan.append(
                    Execution(
                        sample_id=f"{subject.subject_id}-{exercise}-{execution_index + 1:02d}",
                        subject=subject,
                        exercise=exercise,
                        label="incorrect" if faults else "correct",
                        faults=faults,
                        form=form,
                        reps=_reps(subject.style, depth, rng),
                        placement=placement,
                        cameras=cameras,
                        kinect_layout=KINECT_LAYOUTS[k % len(KINECT_LAYOUTS)],
                        openpose_format=OPENPOSE_FORMATS[(k + k // 4) % len(OPENPOSE_FORMATS)],
                        bystander=k % 3 == 1,
                        empty_frames=k % 3 == 2,
                        dropped_frames=k % 2 == 0,
                        key=key,
                        seed=seed,
                    )
                )
    return plan


def samples_table(plan: list[Execution]) -> pd.DataFrame:
    """The ``samples.csv`` rows of a plan: every contract column plus ``session``."""
    rows = [
        {
            "sample_id": e.sample_id,
            "subject_id": e.subject.subject_id,
            "exercise": e.exercise,
            "kinect_csv": f"kinect/{e.sample_id}.csv",
            "openpose_front": f"openpose/{e.sample_id}/front/",
            "openpose_diagonal": f"openpose/{e.sample_id}/diagonal/",
            "label": e.label,
            **{f: int(f in e.faults) for f in FAULTS},
            "age": e.subject.age,
            "gender": e.subject.gender,
            "height_cm": round(e.subject.height_m * 100, 1),
            "weight_kg": e.subject.weight_kg,
            "rep_count": e.reps.count,
            "session": e.subject.session,
        }
        for e in plan
    ]
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Motion of a planned sample
# ---------------------------------------------------------------------------------------------

#: Sway of a standing body: amplitude (metres), frequency range (Hz).
SWAY_AMPLITUDE_M, SWAY_FREQUENCY_HZ = 0.008, (0.15, 0.4)
#: The bystander: height range (metres), position relative to the performer's centre in
#: Kinect camera space (negative x: towards the performer's left; z: further from the
#: sensor), turned partly sideways. There both cameras see them whole, clear of the
#: performer, at about half the performer's size.
BYSTANDER_HEIGHT_M = (1.55, 1.75)
BYSTANDER_OFFSET_X_M, BYSTANDER_OFFSET_Z_M, BYSTANDER_YAW_RAD = (-1.5, -1.25), (2.75, 3.25), (0.5, 1.0)
#: Share of frames (of the samples that have them) with an empty people list or dropped;
#: share of a bystander's frames in which they are listed first.
EMPTY_FRAME_RATE, DROPPED_FRAME_RATE, BYSTANDER_FIRST_RATE = 0.03, 0.03, 0.5
#: The bystander is farther away and smaller, so the detector is less sure of them.
BYSTANDER_CONFIDENCE_PENALTY = 0.15


def rep_frames(reps: Reps, fps: float) -> dict[str, np.ndarray]:
    """The known answer of rep segmentation: where each rep starts, bottoms out and ends.

    Returns
    -------
    dict of str to numpy.ndarray
        ``start``, ``bottom``, ``end``: float, shape ``(rep,)``, in frames of ``frame_times``
        (fractional: the true instants fall between frames).
    """
    starts = reps.starts_s
    durations = np.asarray(reps.durations_s)
    return {
        "start": starts * fps,
        "bottom": (starts + durations * np.asarray(reps.descent_fractions)) * fps,
        "end": (starts + durations) * fps,
    }


def frame_times(reps: Reps, fps: float) -> np.ndarray:
    """Frame times in seconds, shape ``(frame,)``: ``k / fps`` over the whole execution."""
    return np.arange(int(np.floor(reps.total_s * fps)) + 1) / fps


def execution_motion(execution: Execution, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The performer's true motion in the room.

    Returns
    -------
    tuple of numpy.ndarray
        ``(time_s, points)``: shapes ``(frame,)`` and ``(frame, point, 3)`` over
        ``POINTS``, Kinect camera space, metres, noise-free.
    """
    time_s = frame_times(execution.reps, fps)
    body = POSES[execution.exercise](depth_phase(execution.reps, time_s), execution.subject.height_m, execution.form)
    rng = random_stream(execution.seed, "sway", *execution.key)
    body = body + _standing_sway(body, time_s, execution.subject.height_m, rng)
    return time_s, place_in_room(body, execution.placement)


def _standing_sway(body: np.ndarray, time_s: np.ndarray, height_m: float, rng: np.random.Generator) -> np.ndarray:
    """Sway offsets of shape ``(frame, point, 3)``: pivoting at the floor, so each point
    sways in proportion to its height above it."""
    offsets = sway(time_s, SWAY_AMPLITUDE_M, rng.uniform(*SWAY_FREQUENCY_HZ, 2), rng.uniform(0, 2 * np.pi, 2))
    return offsets[:, None, :] * (body[..., UP] / height_m)[..., None]


def bystander_motion(execution: Execution, time_s: np.ndarray) -> np.ndarray:
    """A person standing well behind the performer, to their left, swaying: shape
    ``(frame, point, 3)``, Kinect camera space, metres."""
    rng = random_stream(execution.seed, "bystander", *execution.key)
    height = rng.uniform(*BYSTANDER_HEIGHT_M)
    standing = SquatForm(
        stance_half_width_m=0.12 * height,
        toe_out_rad=0.3,
        hip_back=0.0,
        torso_lean_rad=0.0,
        head_flexion_rad=0.1,
        knee_in_rad=(0.0, 0.0),
        heel_lift_rad=0.0,
        hip_shift_m=0.0,
        arm_raise_rad=0.0,
    )
    body = squat_pose(np.zeros_like(time_s), height, standing)
    body = body + _standing_sway(body, time_s, height, rng)
    performer = execution.placement
    placement = Placement(
        distance_m=performer.distance_m + performer.centre_forward_m + rng.uniform(*BYSTANDER_OFFSET_Z_M),
        lateral_m=performer.lateral_m + rng.uniform(*BYSTANDER_OFFSET_X_M),
        floor_y_m=performer.floor_y_m,
        yaw_rad=rng.uniform(*BYSTANDER_YAW_RAD),
        centre_forward_m=0.0,
    )
    return place_in_room(body, placement)


# ---------------------------------------------------------------------------------------------
# Writing the files
# ---------------------------------------------------------------------------------------------


def kinect_csv_text(xyz: np.ndarray, state: np.ndarray, frame: np.ndarray, fps: float, layout: str) -> str:
    """A Kinect v2 CSV file's text in one of ``KINECT_LAYOUTS``.

    Parameters
    ----------
    xyz
        Shape ``(row, kinect_joint, 3)``, metres, NaN where not tracked (written as empty
        cells).
    state
        Shape ``(row, kinect_joint)``: TrackingState.
    frame
        Shape ``(row,)``: frame index of each row (``time_s = frame / fps``).
    fps
        Frames per second.
    layout
        ``header``: ``frame``, ``time_s``, then ``<Joint>_x/_y/_z/_state``;
        ``header_no_state``: ``time_s``, then ``<Joint>_x/_y/_z``;
        ``raw``: 100 numbers a row; ``raw_padded``: the same after blank lines, each row
        ending with a comma.
    """
    fields = ("x", "y", "z") if layout == "header_no_state" else ("x", "y", "z", "state")
    values = xyz if layout == "header_no_state" else np.concatenate([xyz, state[..., None]], axis=-1)
    # One %-format per row; NaN prints as "nan", which becomes the empty cell of a missing value.
    row_format = ",".join(["%.4f", "%.4f", "%.4f", "%d"][: len(fields)] * len(KINECT_JOINTS))
    lines = [(row_format % tuple(row)).replace("nan", "") for row in values.reshape(len(values), -1).tolist()]
    time_s = [f"{t:.4f}" for t in (frame / fps).tolist()]
    header = [f"{j}_{f}" for j in KINECT_JOINTS for f in fields]
    if layout == "header":
        rows = [f"{f},{t},{line}" for f, t, line in zip(frame.tolist(), time_s, lines)]
        lines = [",".join(["frame", "time_s", *header]), *rows]
    elif layout == "header_no_state":
        lines = [",".join(["time_s", *header])] + [f"{t},{line}" for t, line in zip(time_s, lines)]
    elif layout == "raw_padded":
        lines = [""] * RAW_PADDING_LINES + [line + "," for line in lines]
    return "\n".join(lines) + "\n"


def openpose_documents(
    performer: np.ndarray,
    bystander: np.ndarray | None,
    bystander_first: np.ndarray,
    nobody: np.ndarray,
    openpose_format: tuple[str, str, float],
) -> list[str]:
    """One OpenPose JSON document per frame (compact).

    Parameters
    ----------
    performer, bystander
        Shape ``(frame, point, 3)``: ``detect_2d`` output over ``POINTS`` (``bystander``
        None when there is none; a frame where none of its points was found lists nobody
        for it).
    bystander_first
        Shape ``(frame,)`` bool: list the bystander before the performer.
    nobody
        Shape ``(frame,)`` bool: frames written with an empty ``people`` list.
    openpose_format
        ``(model, key, version)``, one of ``OPENPOSE_FORMATS``.
    """
    model, key, version = openpose_format
    keep = [POINT_INDEX[p] for p in OPENPOSE_POINTS[model]]
    # Written with one %-format per person (compact, "0" for a joint not found); values are
    # rounded to 3 decimals first, so 7 significant digits print them exactly.
    number_format = ",".join(["%.7g"] * (3 * len(keep)))
    person_format = '{"%s":[%s]}' % (key, number_format)

    def people_lists(detections: np.ndarray | None) -> list[str | None]:
        # Per frame, the person's JSON object, or None where nothing of them was found.
        if detections is None:
            return [None] * len(nobody)
        flat = np.round(detections[:, keep], 3).reshape(len(detections), -1)
        found = np.any(flat != 0, axis=1)
        return [person_format % tuple(row) if seen else None for row, seen in zip(flat.tolist(), found.tolist())]

    documents = []
    frames = zip(people_lists(performer), people_lists(bystander), bystander_first, nobody)
    for main, other, other_first, empty in frames:
        people = [] if empty else [p for p in ((other, main) if other_first else (main, other)) if p is not None]
        documents.append('{"version":%s,"people":[%s]}' % (version, ",".join(people)))
    return documents


def _pick_frames(n_frames: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Bool mask, shape ``(frame,)``: about ``rate`` of the frames (at least one), never the
    first or the last."""
    chosen = np.zeros(n_frames, dtype=bool)
    inner = np.arange(1, n_frames - 1)
    chosen[rng.choice(inner, size=max(1, round(rate * n_frames)), replace=False)] = True
    return chosen


def write_sample(set_dir: Path, execution: Execution, fps: float) -> None:
    """Write one sample's Kinect CSV and OpenPose folders under ``set_dir``."""
    time_s, world = execution_motion(execution, fps)
    n_frames = len(time_s)
    frame = np.arange(n_frames)
    rng = random_stream(execution.seed, "sensors", *execution.key)

    xyz, state = track_kinect(world, rng)
    rows = np.ones(n_frames, dtype=bool)
    if execution.dropped_frames and execution.kinect_layout == "header":
        rows = ~_pick_frames(n_frames, DROPPED_FRAME_RATE, rng)  # the frame column shows the gaps
    kinect_path = set_dir / "kinect" / f"{execution.sample_id}.csv"
    kinect_path.parent.mkdir(parents=True, exist_ok=True)
    kinect_path.write_text(kinect_csv_text(xyz[rows], state[rows], frame[rows], fps, execution.kinect_layout))

    bystander = bystander_motion(execution, time_s) if execution.bystander else None
    bystander_arrives = rng.integers(0, n_frames // 3 + 1)  # and stays to the end
    for view in VIEWS:
        camera = execution.cameras[view]
        performer = detect_2d(project_points(world, camera)[0], confidence_base(FAR_SIDE[view]), camera.image_size, rng)
        other = None
        if bystander is not None:
            other_confidence = confidence_base(None) - BYSTANDER_CONFIDENCE_PENALTY
            other = detect_2d(project_points(bystander, camera)[0], other_confidence, camera.image_size, rng)
            other[frame < bystander_arrives] = 0.0
        other_first = rng.random(n_frames) < BYSTANDER_FIRST_RATE
        no_frames = np.zeros(n_frames, dtype=bool)
        nobody = _pick_frames(n_frames, EMPTY_FRAME_RATE, rng) if execution.empty_frames else no_frames
        dropped = _pick_frames(n_frames, DROPPED_FRAME_RATE, rng) if execution.dropped_frames else no_frames
        documents = openpose_documents(performer, other, other_first, nobody, execution.openpose_format)
        folder = set_dir / "openpose" / execution.sample_id / view
        folder.mkdir(parents=True)
        for index in frame[~dropped].tolist():
            (folder / f"{execution.sample_id}_{index:012d}_keypoints.json").write_text(documents[index])


def set_description(set_id: str, n_subjects: int, exercises: tuple[str, ...], fps: float, seed: int) -> dict:
    """The ``set.yaml`` content of a synthetic set."""
    names = [e.replace("_", "-") for e in exercises]
    return {
        "set_id": set_id,
        "title": f"{TITLE_PREFIX} {' and '.join(names)} executions (generated, no real people)",
        "annotator": "formset.tasks.synthetic.generator (labels are the generator's own parameters)",
        "created": CREATED,
        "license": "CC0-1.0",
        "fps": float(fps),
        "kinect_units": "m",
        "notes": (
            f"SYNTHETIC data generated by formset.tasks.synthetic.generator.generate_set with seed {seed}: "
            f"{n_subjects} made-up subjects, a parametric body model, Kinect v2 CSVs and OpenPose "
            "JSON of a front and a right-front diagonal pinhole camera. Labels, faults and rep "
            "counts are exact by construction. Not a recording of anyone; use it to test the "
            "pipeline, never to judge real exercise form."
        ),
    }


def _is_replaceable(out_dir: Path) -> bool:
    """Whether ``out_dir`` may be (re)written: absent, empty, or an earlier synthetic set."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    if not any(out_dir.iterdir()):
        return True
    try:
        title = yaml.safe_load((out_dir / "set.yaml").read_text()).get("title", "")
    except (OSError, yaml.YAMLError, AttributeError):
        return False
    return str(title).startswith(TITLE_PREFIX)


def generate_set(
    out_dir: Path,
    set_id: str = "synthetic-demo",
    n_subjects: int = 8,
    exercises: tuple[str, ...] = ("squat", "push_up"),
    executions_per_exercise: int = 6,
    fps: float = 15.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Write a SYNTHETIC labeled set in the format of docs/input-contract.md.

    Parameters
    ----------
    out_dir
        The set directory to write. It must be absent, empty or an earlier synthetic set
        (which is then replaced whole: the new set appears atomically).
    set_id
        The set's slug, written to ``set.yaml``.
    n_subjects
        Number of made-up people (ids ``s01``, ``s02``, ...).
    exercises
        Among ``squat`` and ``push_up``.
    executions_per_exercise
        Per subject and exercise; even ones correct, odd ones incorrect.
    fps
        Frame rate of every keypoint file (written to ``set.yaml``).
    seed
        Same seed, byte-identical files.

    Returns
    -------
    pandas.DataFrame
        The ``samples.csv`` rows written (``SAMPLE_COLUMNS``).

    Raises
    ------
    ValueError
        A bad argument (``set_id`` not a slug, an exercise the generator does not know, a
        non-positive count or frame rate).
    FileExistsError
        ``out_dir`` holds something other than a synthetic set.
    """
    out_dir = Path(out_dir)
    if not SLUG.match(set_id):
        raise ValueError(f"set_id {set_id!r} is not a slug ([a-z0-9][a-z0-9_-]{{0,63}})")
    if n_subjects < 1 or executions_per_exercise < 1 or not fps > 0:
        raise ValueError("n_subjects, executions_per_exercise and fps must be positive")
    if not _is_replaceable(out_dir):
        raise FileExistsError(f"{out_dir} exists and is not an earlier synthetic set: choose an empty or new directory")
    plan = plan_set(n_subjects, tuple(exercises), executions_per_exercise, seed)
    samples = samples_table(plan)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        description = set_description(set_id, n_subjects, tuple(exercises), fps, seed)
        (tmp / "set.yaml").write_text(yaml.safe_dump(description, sort_keys=False, allow_unicode=True, width=100))
        samples.to_csv(tmp / "samples.csv", index=False, lineterminator="\n")
        for execution in plan:
            write_sample(tmp, execution, fps)
    return samples
