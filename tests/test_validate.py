"""Tests of the validate stage on small synthetic tables whose faults are planted by hand.

Great Expectations is imported once (module-scoped context) and each scenario is validated
once (module-scoped reports): a clean set, a set with critical faults, a set with only
non-critical ones.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from formset.params import ValidateParams
from formset.schemas.expectations import (
    CORE_MISSING_RATE,
    FRAME_STEP,
    MAX_ABS_CORE_COORDINATE,
    N_FRAMES,
    all_suites,
)
from formset.schemas.skeleton import AXES
from formset.schemas.tables import ANGLES, FEATURES, KEYPOINTS, SAMPLES, joint_columns
from formset.schemas.vocab import FAULTS
from formset.storage import to_arrow
from formset.tasks.validate import (
    ephemeral_context,
    frame_steps,
    sample_view_summary,
    sample_warnings,
    validate_tables,
)

SYNTHETIC_SET = "synthetic_set"
SAMPLE_IDS = ("s001", "s002")
VIEW_UNITS = {"front": "px", "kinect": "m"}
FRAMES_PER_VIEW = 12
PARAMS = ValidateParams(max_missing_rate=0.3, max_abs_normalized=6.0, max_quarantined_share=0.5)
EXERCISES = ["squat", "lunge"]


def synthetic_samples() -> pd.DataFrame:
    """Two plausible, correctly labeled synthetic squats, typed as read from Parquet."""
    rows = [
        {
            **dict.fromkeys(SAMPLES.names),
            **dict.fromkeys(FAULTS, 0),
            "set_id": SYNTHETIC_SET,
            "sample_id": sample_id,
            "subject_id": "synthetic_person",
            "exercise": "squat",
            "label": "correct",
            "age": 30,
            "gender": "female",
            "height_cm": 170.0,
            "weight_kg": 65.0,
            "fps": 30.0,
            "kinect_units": "m",
            "content_key": f"synthetic_key_{sample_id}",
        }
        for sample_id in SAMPLE_IDS
    ]
    return to_arrow(pd.DataFrame(rows), SAMPLES).to_pandas()


def _synthetic_frames() -> pd.DataFrame:
    """set_id, sample_id, view, frame, time_s: every sample x view x frame, grouped in order."""
    index = pd.MultiIndex.from_product(
        [SAMPLE_IDS, list(VIEW_UNITS), range(FRAMES_PER_VIEW)], names=["sample_id", "view", "frame"]
    ).to_frame(index=False)
    return index.assign(set_id=SYNTHETIC_SET, time_s=index["frame"] / 30.0)


def synthetic_keypoints() -> pd.DataFrame:
    """Every joint detected at 0.5 with confidence 0.5, frames 0..11 per sample-view."""
    frames = _synthetic_frames()
    frames = frames.assign(
        source=frames["view"].map({"front": "openpose_body25", "kinect": "kinect_v2"}),
        units=frames["view"].map(VIEW_UNITS),
        derived_joints="",
        image_width=None,
        image_height=None,
    )
    values = pd.DataFrame(0.5, index=frames.index, columns=joint_columns())
    return to_arrow(pd.concat([frames, values], axis="columns"), KEYPOINTS).to_pandas()


def synthetic_features() -> pd.DataFrame:
    """Every normalized coordinate 0.5 torso lengths, every delta 0, every angle 90 degrees."""
    frames = _synthetic_frames().assign(reference_frame=0, torso_length=1.0, interpolated_joints=0)
    coordinates = joint_columns(suffixes=AXES)
    values = pd.concat(
        [
            pd.DataFrame(0.5, index=frames.index, columns=coordinates),
            pd.DataFrame(0.0, index=frames.index, columns=["d_" + c for c in coordinates]),
            pd.DataFrame(90.0, index=frames.index, columns=list(ANGLES)),
        ],
        axis="columns",
    )
    return to_arrow(pd.concat([frames, values], axis="columns"), FEATURES).to_pandas()


def row_of(table: pd.DataFrame, sample_id: str, view: str, frame: int) -> int:
    """Index label of one synthetic frame row."""
    match = (table["sample_id"] == sample_id) & (table["view"] == view) & (table["frame"] == frame)
    (label,) = table.index[match]
    return label


def failed(report, suite: str) -> dict[str, object]:
    """Failed outcomes of one suite by reason."""
    return {o.reason: o for o in report.suites[suite] if not o.success}


@pytest.fixture(scope="module")
def gx_context():
    return ephemeral_context()


@pytest.fixture(scope="module")
def clean_report(gx_context):
    return validate_tables(
        synthetic_samples(), synthetic_keypoints(), synthetic_features(), PARAMS, EXERCISES, gx_context
    )


@pytest.fixture(scope="module")
def critical_report(gx_context):
    """Planted critical faults, one per table region, each in a known place."""
    samples = synthetic_samples()
    samples.loc[0, "label"] = "maybe"
    duplicate = samples.iloc[[1]].assign(label="incorrect")
    samples = pd.concat([samples, duplicate], ignore_index=True)

    keypoints = synthetic_keypoints()
    # Frames 5 and 6 of s002/kinect swapped: 0 1 2 3 4 6 5 7 ...
    five, six = row_of(keypoints, "s002", "kinect", 5), row_of(keypoints, "s002", "kinect", 6)
    keypoints.loc[five, "frame"], keypoints.loc[six, "frame"] = 6, 5
    keypoints.loc[row_of(keypoints, "s001", "front", 3), "left_knee_conf"] = np.float32(1.2)

    features = synthetic_features().drop(columns=["trunk_inclination"]).assign(bonus=1.0)
    return validate_tables(samples, keypoints, features, PARAMS, EXERCISES, gx_context)


@pytest.fixture(scope="module")
def warning_report(gx_context):
    """Planted non-critical faults: an incomplete sample-view, an implausible age and coordinate."""
    samples = synthetic_samples()
    samples.loc[samples["sample_id"] == "s001", "age"] = 150

    features = synthetic_features()
    incomplete = (features["sample_id"] == "s002") & (features["view"] == "front") & (features["frame"] < 6)
    features.loc[incomplete, ["neck_x", "neck_y"]] = np.nan  # 6 of 12 frames: 50 % > 30 %
    within_limit = (features["sample_id"] == "s001") & (features["view"] == "front") & (features["frame"] < 3)
    features.loc[within_limit, "left_ankle_x"] = np.nan  # 3 of 12 frames: 25 % <= 30 %
    features.loc[row_of(features, "s001", "kinect", 2), "left_knee_y"] = -8.0

    return validate_tables(samples, synthetic_keypoints(), features, PARAMS, EXERCISES, gx_context)


# --- derived tables (pandas only) ---------------------------------------------------------


def test_frame_steps_are_computed_within_each_sample_view_even_when_rows_interleave():
    keypoints = pd.DataFrame(
        {
            "set_id": ["synthetic_set"] * 5,
            "sample_id": ["a", "b", "a", "b", "a"],
            "view": ["front"] * 5,
            "frame": [0, 10, 2, 9, 2],
        }
    )
    steps = frame_steps(keypoints)[FRAME_STEP]
    np.testing.assert_array_equal(steps.to_numpy(), [np.nan, np.nan, 2, -1, 0])
    assert FRAME_STEP not in keypoints.columns


def test_sample_view_summary_counts_frames_missing_any_core_joint():
    features = synthetic_features()
    front_s002 = (features["sample_id"] == "s002") & (features["view"] == "front")
    features.loc[front_s002 & (features["frame"] < 3), "neck_x"] = np.nan
    features.loc[front_s002 & (features["frame"] == 3), "right_ankle_y"] = np.nan
    # A missing non-core joint and missing z (2-D views) do not make a frame incomplete.
    features.loc[front_s002, ["nose_x", "neck_z"]] = np.nan
    features.loc[row_of(features, "s001", "kinect", 0), "left_hip_z"] = -7.5

    summary = sample_view_summary(features).set_index(["sample_id", "view"])

    assert len(summary) == len(SAMPLE_IDS) * len(VIEW_UNITS)
    assert (summary[N_FRAMES] == FRAMES_PER_VIEW).all()
    assert summary.loc[("s002", "front"), CORE_MISSING_RATE] == pytest.approx(4 / FRAMES_PER_VIEW)
    assert summary[CORE_MISSING_RATE].drop(("s002", "front")).eq(0).all()
    assert summary.loc[("s001", "kinect"), MAX_ABS_CORE_COORDINATE] == pytest.approx(7.5)
    assert summary[MAX_ABS_CORE_COORDINATE].drop(("s001", "kinect")).eq(0.5).all()


def test_only_plausibility_checks_are_non_critical():
    checks = [c for suite in all_suites(PARAMS.max_missing_rate, PARAMS.max_abs_normalized, EXERCISES) for c in suite.checks]
    assert {c.reason for c in checks if not c.critical} == {
        "implausible_performer",
        "incomplete_keypoints",
        "implausible_coordinates",
    }


# --- validation with Great Expectations ---------------------------------------------------


def test_clean_tables_pass_every_expectation(clean_report):
    assert clean_report.passed_critical
    assert set(clean_report.suites) == {"samples", "keypoints", "features", "feature_sample_views"}
    assert [o for o in clean_report.outcomes() if not o.success] == []
    assert sample_warnings(clean_report) == []
    assert "may be published" in clean_report.summary_lines()[0]


def test_report_round_trips_through_json(critical_report):
    as_json = json.loads(json.dumps(critical_report.to_dict(), allow_nan=False))
    assert as_json["passed_critical"] is False
    assert as_json["n_expectations"] == len(critical_report.outcomes())


def test_critical_faults_fail_exactly_where_planted(critical_report):
    assert not critical_report.passed_critical
    assert {(o.suite, o.reason) for o in critical_report.outcomes() if not o.success} == {
        ("samples", "duplicate_sample"),
        ("samples", "bad_label"),
        ("keypoints", "frames_not_increasing"),
        ("keypoints", "bad_confidence"),
        ("features", "bad_schema"),
        ("features", "angle_out_of_range"),
    }
    assert all(o.critical for o in critical_report.outcomes() if not o.success)
    assert sample_warnings(critical_report) == []


def test_duplicate_sample_names_the_sample(critical_report):
    duplicate = failed(critical_report, "samples")["duplicate_sample"]
    assert duplicate.column == "set_id,sample_id"
    assert duplicate.unexpected_count == 2
    assert duplicate.offending == [{"set_id": SYNTHETIC_SET, "sample_id": "s002"}]


def test_unknown_label_is_reported_with_its_value(critical_report):
    label = failed(critical_report, "samples")["bad_label"]
    assert label.unexpected_values == ["maybe"]
    assert label.offending == [{"set_id": SYNTHETIC_SET, "sample_id": "s001", "value": "maybe"}]


def test_non_monotonic_frames_name_the_group_and_frame(critical_report):
    frames = failed(critical_report, "keypoints")["frames_not_increasing"]
    assert frames.unexpected_count == 1
    assert frames.offending == [
        {"set_id": SYNTHETIC_SET, "sample_id": "s002", "view": "kinect", "frame": 5, "value": -1.0}
    ]


def test_confidence_above_one_fails_on_its_column(critical_report):
    confidence = failed(critical_report, "keypoints")["bad_confidence"]
    assert confidence.column == "left_knee_conf"
    assert confidence.unexpected_values == [pytest.approx(1.2)]
    assert confidence.offending[0]["sample_id"] == "s001"
    assert confidence.offending[0]["frame"] == 3


def test_missing_column_is_reported_not_raised(critical_report):
    features = failed(critical_report, "features")
    assert features["bad_schema"].unexpected_values == ["missing column trunk_inclination", "unexpected column bonus"]
    assert features["bad_schema"].unexpected_count == 2
    assert "trunk_inclination" in features["angle_out_of_range"].error
    assert any("could not be checked" in line for line in critical_report.summary_lines())


def test_non_critical_faults_pass_critical_but_are_named(warning_report):
    assert warning_report.passed_critical
    assert all(not o.critical for o in warning_report.outcomes() if not o.success)
    incomplete = failed(warning_report, "feature_sample_views")["incomplete_keypoints"]
    assert incomplete.offending == [
        {"set_id": SYNTHETIC_SET, "sample_id": "s002", "view": "front", "value": pytest.approx(0.5)}
    ]
    warn_lines = [line for line in warning_report.summary_lines() if line.startswith("WARN")]
    assert any("s002 (front view)" in line for line in warn_lines)


def test_sample_warnings_list_each_offending_sample(warning_report):
    warnings = {(w.reason, w.sample_id): w for w in sample_warnings(warning_report)}
    assert set(warnings) == {
        ("implausible_performer", "s001"),
        ("incomplete_keypoints", "s002"),
        ("implausible_coordinates", "s001"),
    }
    assert all(w.stage == "validate" and w.set_id == SYNTHETIC_SET for w in warnings.values())
    incomplete = warnings[("incomplete_keypoints", "s002")]
    assert incomplete.value == "0.5"
    outcome = failed(warning_report, "feature_sample_views")["incomplete_keypoints"]
    assert incomplete.detail == f"Expected {outcome.description}; found 0.5 in the front view."
    assert warnings[("implausible_performer", "s001")].detail.endswith("; found 150.")
    assert warnings[("implausible_performer", "s001")].value == "150"
    assert warnings[("implausible_coordinates", "s001")].value == "8"


# --- the gate judges samples: confined failures quarantine, systemic ones block ----------------


def _four_samples() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The clean tables with two more samples (s003, s004), four in all."""
    frames = [synthetic_samples(), synthetic_keypoints(), synthetic_features()]
    more = [t.assign(sample_id=t["sample_id"].map({"s001": "s003", "s002": "s004"})) for t in frames]
    return tuple(pd.concat([t, m], ignore_index=True) for t, m in zip(frames, more))


def _confidence_above_one(keypoints: pd.DataFrame, sample_ids: list[str]) -> pd.DataFrame:
    keypoints = keypoints.copy()
    for sample_id in sample_ids:
        keypoints.loc[row_of(keypoints, sample_id, "front", 4), "left_knee_conf"] = np.float32(1.3)
        keypoints.loc[row_of(keypoints, sample_id, "front", 7), "left_knee_conf"] = np.float32(1.3)
    return keypoints


def test_a_critical_failure_in_one_sample_quarantines_it_and_passes(gx_context):
    samples, keypoints, features = _four_samples()
    report = validate_tables(
        samples, _confidence_above_one(keypoints, ["s003"]), features, PARAMS, EXERCISES, gx_context
    )
    assert report.passed_critical
    (rejection,) = report.rejections
    assert (rejection.sample_id, rejection.stage, rejection.reason) == ("s003", "validate", "bad_confidence")
    assert rejection.value == "1.3"
    assert rejection.detail == (
        "Expected left_knee_conf is between 0 and 1 or empty; found 1.3 at synthetic_set/s003 (front view, frame 4)"
        " and 1 more row(s). The sample is left out of the dataset until it is fixed and delivered again."
    )
    confidence = failed(report, "keypoints")["bad_confidence"]
    assert confidence.quarantined == 1 and not confidence.blocking
    assert report.summary()["n_failed_critical"] == 0
    assert report.summary()["n_samples_quarantined"] == 1
    assert any(line.startswith("QUARANTINED 1 sample(s): keypoints") for line in report.summary_lines())


def test_the_same_failure_in_most_samples_blocks_publishing(gx_context):
    samples, keypoints, features = _four_samples()
    # Every sample: above max_quarantined_share (0.5), the dataset is wrong.
    report = validate_tables(
        samples, _confidence_above_one(keypoints, ["s001", "s002", "s003", "s004"]), features, PARAMS, EXERCISES,
        gx_context,
    )  # fmt: skip
    assert not report.passed_critical and report.rejections == []
    assert failed(report, "keypoints")["bad_confidence"].blocking
    (fail_line,) = [line for line in report.summary_lines() if line.startswith("FAIL")]
    assert fail_line == (
        "FAIL keypoints: expected left_knee_conf is between 0 and 1 or empty; 8 unexpected, e.g. 1.3; in "
        "synthetic_set/s001 (front view, frame 4), synthetic_set/s002 (front view, frame 4), "
        "synthetic_set/s003 (front view, frame 4) and 1 more"
    )
    # exactly half is still "a few samples"
    half = validate_tables(
        samples, _confidence_above_one(keypoints, ["s001", "s003"]), features, PARAMS, EXERCISES, gx_context
    )
    assert half.passed_critical and {r.sample_id for r in half.rejections} == {"s001", "s003"}


def test_systemic_failures_block_however_few_rows_fail(gx_context):
    samples, keypoints, features = _four_samples()
    duplicated = pd.concat([samples, samples.iloc[[3]]], ignore_index=True)  # one duplicate key
    report = validate_tables(duplicated, keypoints, features, PARAMS, EXERCISES, gx_context)
    assert not report.passed_critical and report.rejections == []
    assert failed(report, "samples")["duplicate_sample"].blocking


def test_offending_rows_follow_gx_semantics_at_the_bounds():
    from formset.schemas.expectations import Check
    from formset.tasks.validate import offending_rows

    table = pd.DataFrame({"v": [0.0, 1.0, 1.0000001, -0.1, None], "s": ["a", "b", None, "c", "a"]})
    between = Check("expect_column_values_to_be_between", {"column": "v", "min_value": 0, "max_value": 1}, True, "r", "d")
    assert offending_rows(between, table).tolist() == [False, False, True, True, False]
    open_high = Check("expect_column_values_to_be_between", {"column": "v", "min_value": 1, "max_value": None}, True, "r", "d")
    assert offending_rows(open_high, table).tolist() == [True, False, False, True, False]
    in_set = Check("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b"]}, True, "r", "d")
    assert offending_rows(in_set, table).tolist() == [False, False, False, True, False]
    not_null = Check("expect_column_values_to_not_be_null", {"column": "v"}, True, "r", "d")
    assert offending_rows(not_null, table).tolist() == [False, False, False, False, True]


# --- the report's counts, and what per-frame results name (make mutation) -----------------------


def test_summary_counts_critical_failures_warnings_and_quarantined_samples_apart(
    clean_report, critical_report, warning_report
):
    n_checks = len(clean_report.outcomes())
    assert clean_report.summary() == {
        "passed_critical": True, "n_expectations": n_checks, "n_failed_critical": 0, "n_failed_warning": 0,
        "n_failed_quarantined": 0, "n_samples_quarantined": 0,
    }  # fmt: skip
    assert warning_report.summary() == {
        "passed_critical": True, "n_expectations": n_checks, "n_failed_critical": 0, "n_failed_warning": 3,
        "n_failed_quarantined": 0, "n_samples_quarantined": 0,
    }  # fmt: skip
    # bad_label and bad_confidence are confined to one sample each, but the systemic failures
    # (duplicate key, schema) block: nothing is quarantined, all six block.
    assert critical_report.summary() == {
        "passed_critical": False, "n_expectations": n_checks, "n_failed_critical": 6, "n_failed_warning": 0,
        "n_failed_quarantined": 0, "n_samples_quarantined": 0,
    }  # fmt: skip
    lines = warning_report.summary_lines()
    assert lines[0] == (
        f"validation: {n_checks} expectations, 0 critical failures, 3 warnings, 0 samples quarantined: "
        "tables may be published"
    )
    assert [line.split(" ", 1)[0] for line in lines[1:]] == ["WARN"] * 3
    lines = critical_report.summary_lines()
    assert lines[0].endswith("6 critical failures, 0 warnings, 0 samples quarantined: tables must NOT be published")
    assert [line.split(" ", 1)[0] for line in lines[1:]] == ["FAIL"] * 6


def test_a_per_frame_failure_is_counted_whole_and_named_from_its_first_rows(gx_context):
    from formset.tasks.validate import FRAME_ROWS_NAMED

    samples, keypoints, features = _four_samples()
    keypoints = keypoints.copy()
    front = keypoints["view"] == "front"
    for sample_id in ("s001", "s002", "s003"):  # 3 x 12 offending rows, more than FRAME_ROWS_NAMED
        keypoints.loc[front & (keypoints["sample_id"] == sample_id), "left_knee_conf"] = np.float32(1.3)
    report = validate_tables(samples, keypoints, features, PARAMS, EXERCISES, gx_context)
    confidence = failed(report, "keypoints")["bad_confidence"]
    assert FRAME_ROWS_NAMED == 20 and confidence.unexpected_count == 36
    # The first 20 offending rows are s001's 12 and 8 of s002's: s003 is counted, not named.
    assert [(o["sample_id"], o["view"], o["frame"]) for o in confidence.offending] == [
        ("s001", "front", 0), ("s002", "front", 0)
    ]  # fmt: skip
    assert confidence.blocking and report.rejections == []


def test_frame_steps_of_rows_with_a_missing_key_are_computed_within_them():
    keypoints = pd.DataFrame(
        {"set_id": ["s"] * 4, "sample_id": [None, None, "a", "a"], "view": ["front"] * 4, "frame": [3, 1, 0, 4]}
    )
    np.testing.assert_array_equal(frame_steps(keypoints)[FRAME_STEP].to_numpy(), [np.nan, -2, np.nan, 4])


def test_a_missing_value_confined_to_a_sample_is_found_empty():
    from formset.schemas.expectations import Check
    from formset.tasks.validate import _sample_rejections

    check = Check("expect_column_values_to_not_be_null", {"column": "age"}, True, "missing_value", "age is filled in")
    rows = pd.DataFrame({"set_id": ["s"], "sample_id": ["a"], "age": [None]})
    (rejection,) = _sample_rejections(check, rows)
    assert rejection.value is None
    assert rejection.detail == (
        "Expected age is filled in; found empty at s/a. The sample is left out of the dataset until it is fixed "
        "and delivered again."
    )
