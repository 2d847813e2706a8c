"""Label vocabularies of the input contract (docs/input-contract.md) and the project's own names.

The exercise list is configuration (``params.yaml: exercises``), not code: a lab adding an
exercise edits params, not this file.
"""

from __future__ import annotations

import re

LABELS: tuple[str, ...] = ("correct", "incorrect")

#: The six body-part faults of Park 2020's labels, as samples.csv columns.
FAULTS: tuple[str, ...] = (
    "fault_base_of_support",
    "fault_left_knee",
    "fault_right_knee",
    "fault_torso",
    "fault_hip_joint",
    "fault_neck",
)

GENDERS: tuple[str, ...] = ("female", "male", "other")

#: Views of one sample, stored side by side and never mixed in one coordinate column.
VIEWS: tuple[str, ...] = ("front", "diagonal", "side", "kinect")

#: samples.csv source columns -> (view, kind of source).
SOURCE_COLUMNS: dict[str, tuple[str, str]] = {
    "front_video": ("front", "video"),
    "diagonal_video": ("diagonal", "video"),
    "side_video": ("side", "video"),
    "kinect_csv": ("kinect", "kinect_csv"),
    "openpose_front": ("front", "openpose"),
    "openpose_diagonal": ("diagonal", "openpose"),
    "openpose_side": ("side", "openpose"),
}

#: Views a camera films: those with a ``<view>_video`` column.
VIDEO_VIEWS: tuple[str, ...] = tuple(view for view, kind in SOURCE_COLUMNS.values() if kind == "video")

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: Inclusive ranges of the performer fields.
RANGES: dict[str, tuple[float, float]] = {
    "age": (5, 100),
    "height_cm": (100, 230),
    "weight_kg": (25, 250),
}

KINECT_UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}
