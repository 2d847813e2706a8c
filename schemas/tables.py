"""Arrow schemas of every table formset writes.

Tables are written through these schemas (see ``formset.storage.write_table``): a missing
column or a value of the wrong type fails loudly instead of landing in Parquet.

Shapes, in named dimensions
---------------------------
- catalog tables: one row per set, per sample, per source file;
- ``KEYPOINTS``: one row per sample x view x frame; per canonical joint ``<joint>_x``,
  ``<joint>_y``, ``<joint>_z`` (pixels for 2-D views with ``z`` NaN, metres for the kinect
  view) and ``<joint>_conf`` (0-1; NaN when missing);
- ``FEATURES``: one row per sample x view x frame, normalized positions, per-frame deltas
  and joint angles;
- ``SCORES``: one row per sample x view x joint;
- coaching tables (reps, compare stages): ``KINEMATICS`` one row per sample x view x frame,
  ``REPS`` one row per sample x view x rep, ``RECORDINGS`` one row per sample x view (the
  rep summary, also for samples without reps, saying why), ``DISTANCES`` one row per
  sample x view x rep-or-recording x feature, ``VERDICTS`` one row per sample x view x
  rep-or-recording, ``REP_SCORES`` one row per sample x view x rep x joint. ``rep`` counts
  from 1 in time order; a null ``rep`` means the whole recording.
"""

from __future__ import annotations

import pyarrow as pa

from formset.schemas.skeleton import AXES, JOINTS
from formset.schemas.vocab import FAULTS

_ID = [pa.field("set_id", pa.string(), nullable=False), pa.field("sample_id", pa.string(), nullable=False)]

SETS = pa.schema(
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("annotator", pa.string()),
        pa.field("created", pa.string()),
        pa.field("license", pa.string()),
        pa.field("notes", pa.string()),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("kinect_units", pa.string(), nullable=False),
        pa.field("set_hash", pa.string(), nullable=False),
        pa.field("n_rows", pa.int32(), nullable=False),
        pa.field("n_accepted", pa.int32(), nullable=False),
    ]
)

SAMPLES = pa.schema(
    _ID
    + [
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        *[pa.field(f, pa.int8()) for f in FAULTS],
        pa.field("age", pa.int16()),
        pa.field("gender", pa.string()),
        pa.field("height_cm", pa.float32()),
        pa.field("weight_kg", pa.float32()),
        pa.field("rep_count", pa.int32()),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("kinect_units", pa.string(), nullable=False),
        pa.field("front_video", pa.string()),
        pa.field("diagonal_video", pa.string()),
        pa.field("side_video", pa.string()),
        pa.field("kinect_csv", pa.string()),
        pa.field("openpose_front", pa.string()),
        pa.field("openpose_diagonal", pa.string()),
        pa.field("openpose_side", pa.string()),
        pa.field("content_key", pa.string(), nullable=False),
        pa.field("metadata", pa.string()),
    ]
)

FILES = pa.schema(
    _ID
    + [
        pa.field("role", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("sample_id", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("value", pa.string()),
    ]
)


def joint_columns(joints: tuple[str, ...] = JOINTS, suffixes: tuple[str, ...] = (*AXES, "conf")) -> list[str]:
    """Column names ``<joint>_<suffix>`` in joint-major order."""
    return [f"{j}_{s}" for j in joints for s in suffixes]


KEYPOINTS = pa.schema(
    _ID
    + [
        pa.field("view", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("units", pa.string(), nullable=False),
        pa.field("derived_joints", pa.string(), nullable=False),
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("image_width", pa.int32()),
        pa.field("image_height", pa.int32()),
        *[pa.field(c, pa.float32()) for c in joint_columns()],
    ]
)

ANGLES: tuple[str, ...] = (
    "angle_left_knee",
    "angle_right_knee",
    "angle_left_hip",
    "angle_right_hip",
    "angle_left_elbow",
    "angle_right_elbow",
    "trunk_inclination",
)

FEATURES = pa.schema(
    _ID
    + [
        pa.field("view", pa.string(), nullable=False),
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("reference_frame", pa.int32(), nullable=False),
        pa.field("torso_length", pa.float32(), nullable=False),
        pa.field("interpolated_joints", pa.int16(), nullable=False),
        *[pa.field(c, pa.float32()) for c in joint_columns(suffixes=AXES)],
        *[pa.field("d_" + c, pa.float32()) for c in joint_columns(suffixes=AXES)],
        *[pa.field(a, pa.float32()) for a in ANGLES],
    ]
)

SCORES = pa.schema(
    _ID
    + [
        pa.field("view", pa.string(), nullable=False),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("joint", pa.string(), nullable=False),
        pa.field("score", pa.float32()),
        pa.field("mean_distance", pa.float32()),
        pa.field("n_frames", pa.int32(), nullable=False),
    ]
)


#: Out-of-fold predictions of the train stage's cross-validation (``tasks/train.py``), one
#: row per labeled sample: the model that predicted it never saw its person.
PREDICTIONS = pa.schema(
    _ID
    + [
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("n_views", pa.int16(), nullable=False),
        pa.field("truth", pa.string(), nullable=False),
        pa.field("predicted", pa.string(), nullable=False),
        pa.field("p_correct", pa.float64(), nullable=False),
        pa.field("p_incorrect", pa.float64(), nullable=False),
        pa.field("fold", pa.int16(), nullable=False),
        # Exercise recognition's out-of-fold prediction (none when it was skipped).
        pa.field("predicted_exercise", pa.string()),
        pa.field("p_exercise", pa.float64()),
    ]
)

#: Exercise recognition's out-of-fold predictions (the ``exercise`` stage, ``tasks/exercise.py``),
#: one row per sample, labeled or not: the model that named it never saw its person.
EXERCISE_PREDICTIONS = pa.schema(
    _ID
    + [
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("predicted_exercise", pa.string(), nullable=False),
        # Mean probability over the views of the predicted and of the catalog's exercise.
        pa.field("p_exercise", pa.float64(), nullable=False),
        pa.field("p_claimed", pa.float64(), nullable=False),
        pa.field("fold", pa.int16(), nullable=False),
    ]
)

# ---------------------------------------------------------------- coaching tables
#: Angles of the per-frame kinematics table: the feature table's, plus ankles
#: (knee-ankle-toe) and shoulders (hip-shoulder-elbow), degrees.
KINEMATIC_ANGLES: tuple[str, ...] = (
    *ANGLES,
    "angle_left_ankle",
    "angle_right_ankle",
    "angle_left_shoulder",
    "angle_right_shoulder",
)

#: Horizontal distance (torso lengths) from the hips' / knees' midpoint to the vertical
#: through the mid-foot (the "Check squat forms with deep learning" method, docs/methods.md); NaN for front views.
MOMENT_ARMS: tuple[str, ...] = ("moment_arm_hip", "moment_arm_knee")

_VIEW = pa.field("view", pa.string(), nullable=False)
#: Rep number from 1 in time order; null where a row is about the whole recording or a frame
#: is outside every rep.
_REP = pa.field("rep", pa.int16())

KINEMATICS = pa.schema(
    _ID
    + [
        _VIEW,
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),
        _REP,
        pa.field("rep_signal", pa.float32()),
        *[pa.field(a, pa.float32()) for a in KINEMATIC_ANGLES],
        *[pa.field(m, pa.float32()) for m in MOMENT_ARMS],
    ]
)

REPS = pa.schema(
    _ID
    + [
        _VIEW,
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("rep", pa.int16(), nullable=False),
        pa.field("start_frame", pa.int32(), nullable=False),
        pa.field("bottom_frame", pa.int32(), nullable=False),
        pa.field("end_frame", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("bottom_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("descent_s", pa.float64(), nullable=False),
        pa.field("ascent_s", pa.float64(), nullable=False),
        pa.field("signal", pa.string(), nullable=False),
        pa.field("depth", pa.float32(), nullable=False),
        pa.field("range_of_motion_deg", pa.float32()),
    ]
)

RECORDINGS = pa.schema(
    _ID
    + [
        pa.field("view", pa.string()),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("primary_view", pa.bool_(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("rep_count", pa.int32(), nullable=False),
        pa.field("labeled_rep_count", pa.int32()),
        pa.field("exercise_s", pa.float64(), nullable=False),
        pa.field("mean_rep_s", pa.float64()),
        pa.field("std_rep_s", pa.float64()),
        pa.field("tempo_feedback", pa.string(), nullable=False),
    ]
)

DISTANCES = pa.schema(
    _ID
    + [
        _VIEW,
        _REP,
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("feature", pa.string(), nullable=False),
        pa.field("distance", pa.float32()),
        pa.field("n_references", pa.int32(), nullable=False),
    ]
)

VERDICTS = pa.schema(
    _ID
    + [
        _VIEW,
        _REP,
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("distance", pa.float32()),
        pa.field("threshold", pa.float32()),
        pa.field("beyond_threshold", pa.bool_()),
        pa.field("most_distant_feature", pa.string()),
        pa.field("n_references", pa.int32(), nullable=False),
    ]
)

REP_SCORES = pa.schema(
    _ID
    + [
        _VIEW,
        pa.field("rep", pa.int16(), nullable=False),
        pa.field("exercise", pa.string(), nullable=False),
        pa.field("joint", pa.string(), nullable=False),
        pa.field("score", pa.float32()),
        pa.field("mean_distance", pa.float32()),
        pa.field("n_frames", pa.int32(), nullable=False),
        pa.field("deviation_rank", pa.int16()),
    ]
)
