"""The canonical skeleton and the explicit joint map of every keypoint source.

Every source (OpenPose BODY_25 / COCO-18, Kinect v2, MediaPipe BlazePose 33, mmpose COCO-17)
maps into one named joint set, ``JOINTS``. A joint a source lacks is NaN. A joint a source
can derive (``neck`` = mid-shoulders, ``mid_hip`` = mid-hips) is derived and listed in
``SOURCES[name].derived``, so tables can say which values were measured and which computed.

Conventions
-----------
- ``neck`` is the base of the neck (between the shoulders), as OpenPose's "Neck" and the
  Kinect's ``SpineShoulder``; the Kinect's own ``Neck`` joint (higher up) is not kept.
- ``toe`` is the tip of the foot (OpenPose big toe, BlazePose foot index, Kinect ``Foot``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

JOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "head",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "spine_mid",
    "mid_hip",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_toe",
    "right_toe",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINTS)}

#: The joints of the seed-003 classifier input (10 joints, arms, head and feet dropped).
CORE_JOINTS: tuple[str, ...] = (
    "neck",
    "mid_hip",
    "left_shoulder",
    "right_shoulder",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: Coordinate axes stored per joint; 2-D views leave ``z`` NaN.
AXES: tuple[str, ...] = ("x", "y", "z")

#: Derivations: canonical joint -> the two canonical joints it is the midpoint of.
MIDPOINTS: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


@dataclass(frozen=True)
class Source:
    """A keypoint source: its own joint order and how it maps into ``JOINTS``.

    Attributes
    ----------
    name
        Identifier stored in the ``source`` column of the keypoints table.
    joints
        The source's joint names in its own order (index = position in its arrays).
    to_canonical
        Source joint name -> canonical joint name, for the joints kept.
    derived
        Canonical joints this source lacks but that are derived as midpoints.
    """

    name: str
    joints: tuple[str, ...]
    to_canonical: dict[str, str]
    derived: tuple[str, ...] = field(default=())

    def index_map(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(source_idx, canonical_idx)`` integer arrays for fancy indexing."""
        pairs = [(self.joints.index(s), JOINT_INDEX[c]) for s, c in self.to_canonical.items()]
        src, dst = zip(*pairs)
        return np.asarray(src, dtype=np.intp), np.asarray(dst, dtype=np.intp)


_BODY25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
_COCO18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip
_OPENPOSE_NAMES = {
    "Nose": "nose", "Neck": "neck", "RShoulder": "right_shoulder", "RElbow": "right_elbow",
    "RWrist": "right_wrist", "LShoulder": "left_shoulder", "LElbow": "left_elbow",
    "LWrist": "left_wrist", "MidHip": "mid_hip", "RHip": "right_hip", "RKnee": "right_knee",
    "RAnkle": "right_ankle", "LHip": "left_hip", "LKnee": "left_knee", "LAnkle": "left_ankle",
    "REye": "right_eye", "LEye": "left_eye", "REar": "right_ear", "LEar": "left_ear",
    "LBigToe": "left_toe", "LHeel": "left_heel", "RBigToe": "right_toe", "RHeel": "right_heel",
}  # fmt: skip

_KINECT_V2 = (
    "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
    "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft",
    "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)  # fmt: skip

_BLAZEPOSE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

_COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("openpose_body25", _BODY25, {k: v for k, v in _OPENPOSE_NAMES.items()}),
        Source(
            "openpose_coco18",
            _COCO18,
            {k: v for k, v in _OPENPOSE_NAMES.items() if k in _COCO18},
            derived=("mid_hip",),
        ),
        Source(
            "kinect_v2",
            _KINECT_V2,
            {
                "SpineBase": "mid_hip", "SpineMid": "spine_mid", "SpineShoulder": "neck",
                "Head": "head", "ShoulderLeft": "left_shoulder", "ElbowLeft": "left_elbow",
                "WristLeft": "left_wrist", "ShoulderRight": "right_shoulder",
                "ElbowRight": "right_elbow", "WristRight": "right_wrist", "HipLeft": "left_hip",
                "KneeLeft": "left_knee", "AnkleLeft": "left_ankle", "FootLeft": "left_toe",
                "HipRight": "right_hip", "KneeRight": "right_knee",
                "AnkleRight": "right_ankle", "FootRight": "right_toe",
            },  # fmt: skip
        ),
        Source(
            "mediapipe_blazepose33",
            _BLAZEPOSE33,
            {
                **{n: n for n in _BLAZEPOSE33 if n in JOINT_INDEX},
                "left_foot_index": "left_toe",
                "right_foot_index": "right_toe",
            },
            derived=("neck", "mid_hip"),
        ),
        Source(
            "mmpose_coco17",
            _COCO17,
            {n: n for n in _COCO17},
            derived=("neck", "mid_hip"),
        ),
    )
}


def to_canonical(
    points: np.ndarray, confidence: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Map a source's keypoint arrays into the canonical skeleton.

    Parameters
    ----------
    points
        Array of shape ``(frame, source_joint, space)`` with ``space`` 2 or 3; missing
        values already NaN.
    confidence
        Array of shape ``(frame, source_joint)``; NaN where the joint is missing.
    source
        A key of ``SOURCES``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(points, confidence)`` of shapes ``(frame, joint, 3)`` and ``(frame, joint)``
        over ``JOINTS``, float32, with missing joints NaN and the source's derived joints
        filled as midpoints (NaN when either parent is missing).
    """
    spec = SOURCES[source]
    n_frames, _, n_space = points.shape
    out = np.full((n_frames, len(JOINTS), 3), np.nan, dtype=np.float32)
    conf = np.full((n_frames, len(JOINTS)), np.nan, dtype=np.float32)
    src, dst = spec.index_map()
    out[:, dst, :n_space] = points[:, src, :]
    conf[:, dst] = confidence[:, src]
    for joint in spec.derived:
        a, b = (JOINT_INDEX[j] for j in MIDPOINTS[joint])
        out[:, JOINT_INDEX[joint]] = (out[:, a] + out[:, b]) / 2
        conf[:, JOINT_INDEX[joint]] = np.minimum(conf[:, a], conf[:, b])
    return out, conf
