"""The expectation suites of the validate stage, as data a reviewer reads in one place.

Each suite checks one table with Great Expectations (``tasks/validate.py`` runs them). A
check names a GX expectation type (snake case, as in the GX gallery), its arguments, whether
it is critical, a stable reason code and a plain-language description of what is expected.

Critical checks say data is wrong (schema, vocabulary, uniqueness, frame order, impossible
values). A systemic one (the schema, the keys) blocks publishing however few rows fail; any
other critical failure confined to a few samples quarantines those samples (``tasks/validate.py``)
and blocks publishing only when it reaches most of the dataset. Non-critical checks flag
implausible but representable data (performer fields, completeness, coordinate ranges):
reported, and listed per sample as warnings.

GX has no grouped expectations (frames increasing *within* a sample-view, missing share
*per* sample-view), so two suites run on tables derived from the stored ones:

- ``keypoints`` runs on a copy of the keypoints table with the extra column ``FRAME_STEP``:
  the frame index minus the previous row's frame index within the same
  (set_id, sample_id, view), empty on each group's first row. Frames strictly increase
  within every group exactly when every step is at least 1.
- ``feature_sample_views`` runs on a table with one row per (set_id, sample_id, view) of the
  features table (``SAMPLE_VIEW_COLUMNS``): the share of its frames with any core joint
  missing, and the largest absolute normalized core-joint coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pyarrow as pa

from formset.schemas.skeleton import AXES, CORE_JOINTS
from formset.schemas.tables import ANGLES, FEATURES, KEYPOINTS, SAMPLES, joint_columns
from formset.schemas.vocab import FAULTS, GENDERS, LABELS, RANGES, VIEWS

#: Helper column of the keypoints suite: frame - previous frame within a sample-view.
FRAME_STEP = "frame_step"

#: Columns that identify a sample, and a sample seen from one view.
SAMPLE_KEYS: tuple[str, ...] = ("set_id", "sample_id")
SAMPLE_VIEW_KEYS: tuple[str, ...] = (*SAMPLE_KEYS, "view")

#: Per-sample-view summary of the features table.
N_FRAMES = "n_frames"
CORE_MISSING_RATE = "core_missing_rate"
MAX_ABS_CORE_COORDINATE = "max_abs_core_coordinate"
SAMPLE_VIEW_COLUMNS: tuple[str, ...] = (
    *SAMPLE_VIEW_KEYS,
    N_FRAMES,
    CORE_MISSING_RATE,
    MAX_ABS_CORE_COORDINATE,
)

#: Coordinate units of the keypoints table: pixels (2-D views) or metres (kinect).
UNITS: tuple[str, ...] = ("px", "m")

#: The range of every joint angle of the features table, in degrees.
ANGLE_RANGE_DEG: tuple[float, float] = (0.0, 180.0)

#: Core-joint coordinate columns of the features table (``z`` is empty for 2-D views).
CORE_COORDINATE_COLUMNS: tuple[str, ...] = tuple(joint_columns(CORE_JOINTS, AXES))

#: How many rows a suite has per sample: it decides whether every offending row can be listed.
GRAINS: tuple[str, ...] = ("sample", "sample_view", "frame")


@dataclass(frozen=True)
class Check:
    """One expectation of a suite.

    Attributes
    ----------
    expectation
        GX expectation type in snake case, e.g. ``expect_column_values_to_be_in_set``.
    kwargs
        The expectation's arguments (``column``, ``value_set``, ``min_value``, ...).
    critical
        True when a failure means the data is wrong: the offending samples are quarantined,
        or nothing is published when it is systemic or most of the dataset fails.
    reason
        Stable code people filter on (quarantine ``reason`` of the per-sample warnings).
    description
        What is expected, in words a non-programmer reads in the report.
    systemic
        True when a failure is about the table as a whole (its schema, its keys) rather than
        some samples' values: it blocks publishing however few rows fail.
    """

    expectation: str
    kwargs: Mapping[str, object]
    critical: bool
    reason: str
    description: str
    systemic: bool = False

    @property
    def column(self) -> str | None:
        """The checked column (compound columns joined by ``,``); None for table checks."""
        if "column" in self.kwargs:
            return str(self.kwargs["column"])
        if "column_list" in self.kwargs:
            return ",".join(self.kwargs["column_list"])
        return None


@dataclass(frozen=True)
class Suite:
    """The checks of one table.

    Attributes
    ----------
    name
        Suite name, also the key of its results in the report.
    grain
        One of ``GRAINS``: one row per sample, per sample-view, or per frame.
    keys
        Columns that name an offending row in the report.
    checks
        The expectations, in the order the report lists them.
    """

    name: str
    grain: str
    keys: tuple[str, ...]
    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ValueError(f"suite {self.name!r}: grain {self.grain!r} is not one of {GRAINS}")


def _columns_exactly(columns: Sequence[str]) -> Check:
    return Check(
        "expect_table_columns_to_match_set",
        {"column_set": list(columns), "exact_match": True},
        critical=True,
        reason="bad_schema",
        description=f"the table has exactly the {len(columns)} columns of its schema",
        systemic=True,
    )


def _not_null(column: str, reason: str = "missing_value") -> Check:
    return Check(
        "expect_column_values_to_not_be_null",
        {"column": column},
        critical=True,
        reason=reason,
        description=f"{column} is filled in on every row",
        # A row without its ids belongs to no sample that could be set aside.
        systemic=reason == "missing_id",
    )


def _in_set(schema: pa.Schema, column: str, values: Sequence, reason: str) -> Check:
    # GX skips nulls in column-map expectations; a column its schema makes non-nullable
    # also gets a _not_null check.
    allowed = ", ".join(map(str, values))
    return Check(
        "expect_column_values_to_be_in_set",
        {"column": column, "value_set": list(values)},
        critical=True,
        reason=reason,
        description=f"{column} is one of {allowed}" + (" or empty" if schema.field(column).nullable else ""),
    )


def _between(
    column: str,
    low: float | None,
    high: float | None,
    critical: bool,
    reason: str,
    description: str,
) -> Check:
    # GX skips nulls in column-map expectations: empty values pass range checks.
    return Check(
        "expect_column_values_to_be_between",
        {"column": column, "min_value": low, "max_value": high},
        critical=critical,
        reason=reason,
        description=description,
    )


#: Units of the performer fields of ``vocab.RANGES`` (one per field), for the report's wording.
_PERFORMER_UNITS = {"age": "years", "height_cm": "cm", "weight_kg": "kg"}


def samples_suite(exercises: Sequence[str]) -> Suite:
    """Checks of the catalog ``SAMPLES`` table.

    Parameters
    ----------
    exercises
        The exercise names of ``params.yaml: exercises``.
    """
    checks = [
        _columns_exactly(SAMPLES.names),
        *[_not_null(c, "missing_id") for c in ("set_id", "sample_id", "subject_id")],
        _not_null("exercise"),
        Check(
            "expect_compound_columns_to_be_unique",
            {"column_list": list(SAMPLE_KEYS)},
            critical=True,
            reason="duplicate_sample",
            description="each (set_id, sample_id) appears once: one label per sample",
            systemic=True,
        ),
        _in_set(SAMPLES, "exercise", exercises, "unknown_exercise"),
        _in_set(SAMPLES, "label", LABELS, "bad_label"),
        *[_in_set(SAMPLES, f, (0, 1), "bad_fault_flag") for f in FAULTS],
        _in_set(SAMPLES, "gender", GENDERS, "bad_gender"),
        *[
            _between(
                name,
                low,
                high,
                critical=False,
                reason="implausible_performer",
                description=f"{name} is between {low:g} and {high:g} {_PERFORMER_UNITS[name]}",
            )
            for name, (low, high) in RANGES.items()
        ],
    ]
    return Suite("samples", grain="sample", keys=SAMPLE_KEYS, checks=tuple(checks))


def keypoints_suite() -> Suite:
    """Checks of the ``KEYPOINTS`` table, with the helper column ``FRAME_STEP`` added."""
    checks = [
        _columns_exactly([*KEYPOINTS.names, FRAME_STEP]),
        *[_not_null(c, "missing_id") for c in SAMPLE_VIEW_KEYS],
        *[_not_null(c) for c in ("units", "frame")],
        _in_set(KEYPOINTS, "view", VIEWS, "unknown_view"),
        _in_set(KEYPOINTS, "units", UNITS, "unknown_units"),
        _between(
            "frame", 0, None, critical=True, reason="negative_frame", description="frame is 0 or more"
        ),
        _between(
            FRAME_STEP,
            1,
            None,
            critical=True,
            reason="frames_not_increasing",
            description="frames strictly increase within each sample and view "
            "(each frame at least 1 more than the previous one)",
        ),
        *[
            _between(
                column,
                0,
                1,
                critical=True,
                reason="bad_confidence",
                description=f"{column} is between 0 and 1 or empty",
            )
            for column in joint_columns(suffixes=("conf",))
        ],
    ]
    return Suite("keypoints", grain="frame", keys=(*SAMPLE_VIEW_KEYS, "frame"), checks=tuple(checks))


def features_suite() -> Suite:
    """Per-frame checks of the ``FEATURES`` table."""
    low, high = ANGLE_RANGE_DEG
    checks = [
        _columns_exactly(FEATURES.names),
        *[_not_null(c, "missing_id") for c in SAMPLE_VIEW_KEYS],
        _in_set(FEATURES, "view", VIEWS, "unknown_view"),
        # An angle between two segments cannot leave [0, 180]: outside it the computation is wrong.
        *[
            _between(
                a,
                low,
                high,
                critical=True,
                reason="angle_out_of_range",
                description=f"{a} is between {low:g} and {high:g} degrees or empty",
            )
            for a in ANGLES
        ],
    ]
    return Suite("features", grain="frame", keys=(*SAMPLE_VIEW_KEYS, "frame"), checks=tuple(checks))


def feature_sample_views_suite(max_missing_rate: float, max_abs_normalized: float) -> Suite:
    """Checks of the per-sample-view summary of the features table (``SAMPLE_VIEW_COLUMNS``).

    Parameters
    ----------
    max_missing_rate
        Largest allowed share (0-1) of a sample-view's frames with any core joint missing.
    max_abs_normalized
        Largest plausible absolute normalized coordinate, in torso lengths from the hip.
    """
    checks = [
        _columns_exactly(SAMPLE_VIEW_COLUMNS),
        _between(
            CORE_MISSING_RATE,
            None,
            max_missing_rate,
            critical=False,
            reason="incomplete_keypoints",
            description=f"the share of frames missing a core joint ({', '.join(CORE_JOINTS)}) "
            f"is at most {max_missing_rate:g}",
        ),
        _between(
            MAX_ABS_CORE_COORDINATE,
            None,
            max_abs_normalized,
            critical=False,
            reason="implausible_coordinates",
            description="the largest normalized core-joint coordinate is at most "
            f"{max_abs_normalized:g} torso lengths from the hip",
        ),
    ]
    return Suite("feature_sample_views", grain="sample_view", keys=SAMPLE_VIEW_KEYS, checks=tuple(checks))


def all_suites(max_missing_rate: float, max_abs_normalized: float, exercises: Sequence[str]) -> tuple[Suite, ...]:
    """Every suite of the validate stage.

    Parameters
    ----------
    max_missing_rate, max_abs_normalized
        ``validate.max_missing_rate`` and ``validate.max_abs_normalized`` of ``params.yaml``.
    exercises
        The exercise names of ``params.yaml: exercises``.
    """
    return (
        samples_suite(exercises),
        keypoints_suite(),
        features_suite(),
        feature_sample_views_suite(max_missing_rate, max_abs_normalized),
    )
