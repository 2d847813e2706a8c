"""Tests of the data quality report: the dataset card on a small dataset whose counts are
known by construction, and GX Data Docs built from the small validation tables of
``test_validate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_validate import EXERCISES, PARAMS, synthetic_features, synthetic_keypoints, synthetic_samples

from formset import catalog
from formset.schemas.skeleton import JOINTS
from formset.schemas.tables import FEATURES, KEYPOINTS, QUARANTINE, SAMPLES, joint_columns
from formset.schemas.vocab import FAULTS
from formset.storage import read_table, to_arrow, write_table
from formset.tasks.quality import UNLABELED, build_data_docs, card_markdown, dataset_card, missing_keypoint_rate
from formset.tasks.validate import ephemeral_context, validate_tables

REPO = Path(__file__).resolve().parent.parent

#: (set_id, sample_id, subject_id, exercise, label, faults flagged 1)
CARD_SAMPLES = (
    ("lab-a", "a1", "p1", "squat", "correct", ()),
    ("lab-a", "a2", "p2", "squat", "incorrect", ("fault_left_knee", "fault_torso")),
    ("lab-a", "a3", "p1", "lunge", None, None),
    ("lab-b", "b1", "p3", "squat", "incorrect", ("fault_left_knee",)),
)
#: (sample_id, view) -> frames in the keypoints table; lab-b/b1 and lab-a/a3 have no features.
CARD_FRAMES = {("a1", "front"): 8, ("a1", "kinect"): 4, ("a2", "front"): 8, ("b1", "front"): 4}
VALIDATION_SUMMARY = {"passed_critical": True, "n_expectations": 68, "n_failed_critical": 0, "n_failed_warning": 1}


def card_samples() -> pd.DataFrame:
    rows = [
        {
            **dict.fromkeys(SAMPLES.names),
            **{f: None if faults is None else int(f in faults) for f in FAULTS},
            "set_id": set_id,
            "sample_id": sample_id,
            "subject_id": subject,
            "exercise": exercise,
            "label": label,
            "fps": 30.0,
            "kinect_units": "m",
            "content_key": f"key-{sample_id}",
        }
        for set_id, sample_id, subject, exercise, label, faults in CARD_SAMPLES
    ]
    return to_arrow(pd.DataFrame(rows), SAMPLES).to_pandas()


def card_keypoints() -> pd.DataFrame:
    """Every joint at 0.5, except: left_knee missing in 5 of the 20 front frames (25 %), its
    y alone missing in 1 more front frame of lab-b/b1 (30 % in all), nose missing in every
    kinect frame."""
    set_of = {sample_id: set_id for set_id, sample_id, *_ in CARD_SAMPLES}
    frames = pd.DataFrame(
        [
            {"set_id": set_of[s], "sample_id": s, "view": v, "frame": f, "time_s": f / 30.0}
            for (s, v), n in CARD_FRAMES.items()
            for f in range(n)
        ]
    ).assign(source="synthetic", units=lambda t: np.where(t["view"] == "kinect", "m", "px"), derived_joints="")
    values = pd.DataFrame(0.5, index=frames.index, columns=joint_columns())
    front = frames["view"] == "front"
    values.loc[front & (frames["sample_id"] == "a2") & (frames["frame"] < 5), ["left_knee_x", "left_knee_y"]] = np.nan
    values.loc[front & (frames["sample_id"] == "b1") & (frames["frame"] == 0), "left_knee_y"] = np.nan
    values.loc[frames["view"] == "kinect", ["nose_x", "nose_y", "nose_z"]] = np.nan
    table = pd.concat([frames, values], axis="columns").assign(image_width=None, image_height=None)
    return to_arrow(table, KEYPOINTS).to_pandas()


def card_features() -> pd.DataFrame:
    """Feature rows for lab-a/a1 (front, kinect) and lab-a/a2 (front) only."""
    keypoints = card_keypoints()
    rows = keypoints[keypoints["sample_id"].isin(["a1", "a2"])].reset_index(drop=True)
    derived = {"reference_frame": 0, "torso_length": 1.0, "interpolated_joints": 0}
    deltas_and_angles = {c: 0.0 for c in FEATURES.names if c not in rows.columns and c not in derived}
    table = rows.assign(**derived, **deltas_and_angles)
    return to_arrow(table, FEATURES).to_pandas()


def records(*rows: tuple) -> pd.DataFrame:
    """``QUARANTINE`` rows from (set_id, sample_id, stage, reason)."""
    frame = pd.DataFrame(rows, columns=["set_id", "sample_id", "stage", "reason"]).assign(detail="why", value=None)
    return to_arrow(frame, QUARANTINE).to_pandas()


@pytest.fixture(scope="module")
def card() -> dict:
    quarantine = records(
        ("lab-a", "a3", "keypoints", "missing_file"),
        ("lab-b", "b1", "normalize", "too_short"),
        ("lab-b", "b7", "ingest", "bad_label"),
        ("lab-b", "b8", "ingest", "bad_label"),
        ("lab-c", None, "ingest", "bad_set_file"),
    )
    warnings = records(
        ("lab-a", "a1", "validate", "incomplete_keypoints"),
        ("lab-a", "a1", "validate", "incomplete_keypoints"),
        ("lab-a", "a2", "validate", "implausible_coordinates"),
    )
    return dataset_card(
        card_samples(), card_keypoints(), card_features(), quarantine, warnings, VALIDATION_SUMMARY, "docs/index.html"
    )


# --- the dataset card (pandas only) --------------------------------------------------------


def test_sample_counts_by_set_exercise_label_and_fault(card):
    samples = card["samples"]
    assert (samples["total"], samples["with_features"]) == (4, 2)
    assert samples["by_set"] == {
        "lab-a": {"samples": 3, "with_features": 2},
        "lab-b": {"samples": 1, "with_features": 0},
    }
    assert samples["by_exercise"] == {
        "lunge": {"samples": 1, "with_features": 0},
        "squat": {"samples": 3, "with_features": 2},
    }
    assert samples["by_label"] == {
        UNLABELED: {"samples": 1, "with_features": 0},
        "correct": {"samples": 1, "with_features": 1},
        "incorrect": {"samples": 2, "with_features": 1},
    }
    assert samples["by_fault"]["fault_left_knee"] == {"samples": 2, "with_features": 1}
    assert samples["by_fault"]["fault_torso"] == {"samples": 1, "with_features": 1}
    assert samples["by_fault"]["fault_neck"] == {"samples": 0, "with_features": 0}


def test_samples_with_at_least_one_fault_and_samples_whose_faults_are_all_empty(card):
    # a2 and b1 flag a fault; a1 flags none (all 0); a3 leaves all six empty: neither.
    assert card["samples"]["by_fault_status"] == {
        "with_fault": {"samples": 2, "with_features": 1},
        "without_fault": {"samples": 1, "with_features": 1},
        "faults_empty": {"samples": 1, "with_features": 0},
    }
    text = card_markdown(card)
    assert "- samples with at least one fault: 2 (1 with features)" in text
    assert "- samples whose fault columns are all empty, counted as neither: 1 (0 with features)" in text


def test_subjects_are_counted_once_overall_and_per_set(card):
    assert card["subjects"] == {"total": 3, "by_set": {"lab-a": 2, "lab-b": 1}}


def test_frames_and_sample_views_per_view_in_view_order(card):
    assert card["views"] == {
        "front": {"sample_views": 3, "keypoint_frames": 20, "feature_frames": 16},
        "kinect": {"sample_views": 1, "keypoint_frames": 4, "feature_frames": 4},
    }


def test_missing_keypoint_rate_is_the_share_of_frames_with_x_or_y_missing(card):
    rates = card["missing_keypoint_rate"]
    assert list(rates) == ["front", "kinect"]
    assert list(rates["front"]) == list(JOINTS)
    assert rates["front"]["left_knee"] == pytest.approx(6 / 20)
    assert rates["kinect"]["nose"] == 1.0
    assert rates["kinect"]["left_knee"] == 0.0
    others = [j for j in JOINTS if j != "left_knee"]
    assert all(rates["front"][j] == 0.0 for j in others)


def test_missing_keypoint_rate_of_a_joint_missing_in_a_quarter_of_the_frames():
    keypoints = card_keypoints()
    keypoints.loc[keypoints["view"] == "front", "left_knee_y"] = 0.5  # only x now: 5 of 20
    assert missing_keypoint_rate(keypoints)["front"]["left_knee"] == 0.25


def test_quarantine_and_warnings_are_counted_by_reason(card):
    assert card["quarantine"] == {
        "samples": 5,
        "by_reason": [
            {"stage": "ingest", "reason": "bad_label", "samples": 2},
            {"stage": "ingest", "reason": "bad_set_file", "samples": 1},
            {"stage": "keypoints", "reason": "missing_file", "samples": 1},
            {"stage": "normalize", "reason": "too_short", "samples": 1},
        ],
    }
    assert card["validation"] == {
        **VALIDATION_SUMMARY,
        "data_docs": "docs/index.html",
        "suite_pages": {},
        "warnings_by_reason": [
            {"reason": "implausible_coordinates", "sample_views": 1, "samples": 1},
            {"reason": "incomplete_keypoints", "sample_views": 2, "samples": 1},
        ],
    }


def test_card_is_plain_json(card):
    assert json.loads(json.dumps(card, allow_nan=False)) == card


def test_markdown_has_every_section_and_links_the_data_docs(card):
    text = card_markdown(card)
    for heading in ("# Dataset card", "## Samples", "## Views and frames", "## Missing keypoints", "## Quarantine", "## Validation"):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "4 samples ingested from 2 sets, 2 with features; 3 subjects; 5 quarantined. Validation passed." in text
    assert "| left_knee | 30.0 % | 0.0 % |" in text
    assert "| normalize | too_short | 1 |" in text
    assert "| incomplete_keypoints | 2 | 1 |" in text
    assert "[Data Docs](docs/index.html)" in text


def test_markdown_of_an_empty_quarantine_and_a_failed_validation(card):
    failed = {
        **card,
        "quarantine": {"samples": 0, "by_reason": []},
        "validation": {**card["validation"], "passed_critical": False, "n_failed_critical": 2},
    }
    text = card_markdown(failed)
    assert "No sample was quarantined." in text
    assert "Validation FAILED: nothing may be published." in text
    assert "FAILED: 68 expectations, 2 critical failures" in text


# --- Data Docs (Great Expectations) --------------------------------------------------------


def test_data_docs_show_every_suite_and_its_validation_result(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # GX must leave nothing in the working directory
    context = ephemeral_context()
    features = synthetic_features()
    features.loc[features.index[0], "angle_left_knee"] = 200.0  # one critical failure to show
    report = validate_tables(synthetic_samples(), synthetic_keypoints(), features, PARAMS, EXERCISES, context)

    index = build_data_docs(context, tmp_path / "docs")

    assert index == tmp_path / "docs" / "index.html"
    assert [p.name for p in tmp_path.iterdir()] == ["docs"]
    html = index.read_text()
    for suite in report.suites:
        assert f"validations/{suite}/" in html
        assert (tmp_path / "docs" / "expectations" / f"{suite}.html").is_file()
        assert len(list((tmp_path / "docs" / "validations" / suite).rglob("*.html"))) == 1
    (features_page,) = (tmp_path / "docs" / "validations" / "features").rglob("*.html")
    assert "angle_left_knee" in features_page.read_text()


def small_project(root: Path, samples: pd.DataFrame, keypoints: pd.DataFrame | None = None):
    """A project at ``root`` holding the small validation tables, one set, one ingest rejection."""
    from formset.config import Project

    project = Project(root)
    shutil.copy(REPO / "params.yaml", project.params_file)
    set_id = samples.loc[0, "set_id"]
    write_table(samples, project.path(catalog.SAMPLES) / f"{set_id}.parquet", SAMPLES)
    write_table(synthetic_keypoints() if keypoints is None else keypoints, project.path(catalog.KEYPOINTS) / f"{set_id}.parquet", KEYPOINTS)
    project.path(catalog.SETS).mkdir(parents=True)
    (project.path(catalog.SETS) / f"{set_id}.parquet").touch()  # the set is registered
    write_table(synthetic_features(), project.path(catalog.FEATURES) / f"{set_id}.parquet", FEATURES)
    rejected = records((set_id, "s003", "ingest", "missing_file"))
    write_table(rejected, project.path(catalog.quarantine_of("ingest")) / f"{set_id}.parquet", QUARANTINE)
    return project


def test_a_refused_build_still_gets_its_card_and_data_docs(tmp_path):
    from formset.flows.stages.validate import validate_and_report

    samples = synthetic_samples()
    samples["label"] = "maybe"  # critical, and in every sample: the dataset is wrong, not a few samples
    project = small_project(tmp_path, samples)

    report = validate_and_report(project)

    assert not report.passed_critical
    card = json.loads(project.path(catalog.DATASET_CARD).with_suffix(".json").read_text())
    assert card["validation"]["passed_critical"] is False
    assert card["validation"]["data_docs"] == "docs/index.html"
    # The index needs scripts from CDNs; the card links every suite's result page directly.
    pages = card["validation"]["suite_pages"]
    assert set(pages) == set(report.suites)
    assert all((project.path(catalog.QUALITY) / page).is_file() for page in pages.values())
    assert f"| samples | [{pages['samples']}]({pages['samples']}) |" in project.path(catalog.DATASET_CARD).read_text()
    assert card["quarantine"]["by_reason"] == [{"stage": "ingest", "reason": "missing_file", "samples": 1}]
    assert "Validation FAILED" in project.path(catalog.DATASET_CARD).read_text()
    assert "samples" in project.path(catalog.DATA_DOCS_INDEX).read_text()
    assert sorted(p.name for p in project.path(catalog.QUALITY).iterdir()) == ["dataset_card.json", "dataset_card.md", "docs"]


def test_data_docs_are_rebuilt_only_when_the_validated_tables_change(tmp_path):
    from formset.flows.stages.validate import validate_and_report

    project = small_project(tmp_path, synthetic_samples())
    validate_and_report(project)
    first = {p: p.read_bytes() for p in project.path(catalog.QUALITY).rglob("*") if p.is_file()}

    validate_and_report(project)  # nothing changed: GX would stamp new run times
    assert {p: p.read_bytes() for p in project.path(catalog.QUALITY).rglob("*") if p.is_file()} == first

    features = synthetic_features()
    features.loc[features.index[0], "angle_left_knee"] = 200.0
    write_table(features, project.path(catalog.FEATURES) / "synthetic_set.parquet", FEATURES)
    validate_and_report(project)
    assert project.path(catalog.DATA_DOCS_INDEX).read_bytes() != first[project.path(catalog.DATA_DOCS_INDEX)]


def test_a_sample_the_gate_quarantines_is_recorded_and_left_out_downstream(tmp_path):
    from formset.flows.stages.partitions import gated_features
    from formset.flows.stages.validate import validate_and_report

    keypoints = synthetic_keypoints()
    odd = (keypoints["sample_id"] == "s002") & (keypoints["frame"] == 4)
    keypoints.loc[odd, "left_knee_conf"] = np.float32(1.3)
    project = small_project(tmp_path, synthetic_samples(), keypoints)

    report = validate_and_report(project)

    assert report.passed_critical
    quarantined = read_table(project.path(catalog.quarantine_of("validate")), QUARANTINE)
    assert quarantined[["sample_id", "stage", "reason"]].values.tolist() == [["s002", "validate", "bad_confidence"]]
    assert set(gated_features(project)["sample_id"]) == {"s001"}
    assert set(gated_features(project, "synthetic_set")["sample_id"]) == {"s001"}
    card = json.loads(project.path(catalog.DATASET_CARD).with_suffix(".json").read_text())
    assert card["samples"]["with_features"] == 1
    assert {"stage": "validate", "reason": "bad_confidence", "samples": 1} in card["quarantine"]["by_reason"]
    assert json.loads((project.path(catalog.VALIDATION) / "summary.json").read_text())["n_samples_quarantined"] == 1
