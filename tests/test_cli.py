"""The CLI as a newcomer meets it: what ``formset`` prints and writes on small projects.

Commands that only read built tables run on projects whose tables are written here directly
through the schemas (``formset.storage.write_table``), without Prefect flows; ``add-set`` runs
on a hand-written delivery (``conftest.synthetic_set``) that it refuses before anything is
recorded.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from typer.testing import CliRunner

from formset import catalog, cli
from formset.config import Project
from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.schemas.tables import FEATURES, KEYPOINTS, QUARANTINE, SAMPLES, joint_columns
from formset.schemas.vocab import FAULTS
from formset.storage import to_arrow, write_table
from formset.tasks.delivery import check_report, problem_groups
from formset.tasks.ingest import PROBLEM_COLUMNS
from formset.tasks.quality import card_markdown, dataset_card

SET_ID = "lab-a"
#: (sample_id, label, faults: None = all six empty, else those flagged 1, the rest 0)
BUILT_SAMPLES = (
    ("sq_01", "correct", ()),
    ("sq_02", "incorrect", ("fault_left_knee", "fault_torso")),
    ("lu_01", None, None),
)
#: The video of lab-a/sq_01: frames, (width, height), frame rate.
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 6, (64, 48), 10.0
CLIP = "videos/sq_01_front.mp4"


def run(*args: str):
    return CliRunner().invoke(cli.app, list(args))


def flat(text: str) -> str:
    """The words of ``text`` on one line: what a person reads, whatever the terminal wrapped."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """An empty project (``params.yaml`` only) that the CLI finds through ``FORMSET_ROOT``."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")
    monkeypatch.setenv("FORMSET_ROOT", str(root))
    monkeypatch.setenv("PREFECT_HOME", str(root / ".prefect"))
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    monkeypatch.setattr(cli.console, "width", 250)  # tables on one line per row
    return Project(root)


def catalog_rows(set_id: str, samples: tuple = BUILT_SAMPLES) -> pd.DataFrame:
    """``SAMPLES`` rows of ``samples``; lab-a/sq_01 has a front video (``CLIP``)."""
    rows = [
        {
            **dict.fromkeys(SAMPLES.names),
            **{fault: None if faults is None else int(fault in faults) for fault in FAULTS},
            "set_id": set_id,
            "sample_id": sample_id,
            "subject_id": "p1",
            "exercise": "squat",
            "label": label,
            "fps": CLIP_FPS,
            "kinect_units": "m",
            "front_video": CLIP if sample_id == "sq_01" else None,
            "content_key": f"key-{sample_id}",
        }
        for sample_id, label, faults in samples
    ]
    return to_arrow(pd.DataFrame(rows), SAMPLES).to_pandas()


def deliver(project: Project, set_id: str, sample_ids: list[str]) -> None:
    """``data/sets/<set_id>/samples.csv`` naming ``sample_ids`` (the set as delivered)."""
    set_dir = project.path(catalog.DELIVERED_SETS) / set_id
    set_dir.mkdir(parents=True)
    with (set_dir / "samples.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sample_id", "subject_id", "exercise", "front_video"])
        writer.writerows([sample_id, "p1", "squat", CLIP] for sample_id in sample_ids)


def build(project: Project, set_id: str = SET_ID, quarantined: list[tuple] = ()) -> None:
    """What a build leaves of a delivered set: its catalog and ingest quarantine partitions.

    ``quarantined``: (sample_id, reason, detail) records of samples ingest left out.
    """
    deliver(project, set_id, [s for s, *_ in BUILT_SAMPLES] + [s for s, *_ in quarantined])
    write_table(catalog_rows(set_id), project.path(catalog.SAMPLES) / f"{set_id}.parquet", SAMPLES)
    records = pd.DataFrame(
        [(set_id, sample_id, "ingest", reason, detail, None) for sample_id, reason, detail in quarantined],
        columns=QUARANTINE.names,
    )
    write_table(records, project.path(catalog.quarantine_of("ingest")) / f"{set_id}.parquet", QUARANTINE)


# --- naming a sample: report, overlay ---------------------------------------------------


@pytest.mark.parametrize("command", ["report", "overlay"])
def test_an_unknown_sample_suggests_the_closest_ids_and_how_to_list_them(project, command):
    build(project)
    result = run(command, "lab-a/sq_1")
    assert result.exit_code == 1
    said = flat(result.output)
    assert "no sample 'lab-a/sq_1': did you mean lab-a/sq_01, lab-a/sq_02 or lab-a/lu_01?" in said
    assert (
        "`formset sets` lists the sets; the sample ids of a set are in data/catalog/samples/lab-a.parquet (built) "
        "and data/sets/lab-a/samples.csv (delivered)." in said
    )
    assert "formset run" not in said  # the project is built: building again would not help
    assert not project.reports_dir.exists()


def test_a_sample_of_an_unknown_set_suggests_the_sample_of_the_set_it_resembles(project):
    build(project)
    said = flat(run("report", "lab_a/sq_02").output)
    assert "no sample 'lab_a/sq_02': did you mean lab-a/sq_02" in said


def test_a_delivered_sample_that_is_not_built_yet_says_to_run_formset_run(project):
    build(project)
    deliver(project, "lab-b", ["sq_01"])
    result = run("report", "lab-b/sq_01")
    assert result.exit_code == 1
    assert flat(result.output) == "lab-b/sq_01 is in data/sets but not built yet: run `formset run`."


def test_a_sample_quarantined_at_ingest_says_why_and_what_to_fix(project):
    detail = "row 5 (sample_id 'sq_03'), column 'label': 'good' is not one of correct, incorrect, or empty"
    build(project, quarantined=[("sq_03", "bad_label", detail)])
    result = run("overlay", "lab-a/sq_03")
    assert result.exit_code == 1
    assert flat(result.output) == (
        f"lab-a/sq_03 was quarantined at ingest (bad_label): {detail}. To fix: use correct or incorrect, "
        "or leave the label empty. `formset quarantine` lists every quarantined sample."
    )


@pytest.mark.parametrize("command", ["report", "overlay"])
@pytest.mark.parametrize("argument", ["sq_01", "lab-a/", "/sq_01", "lab-a/sq_01/front"])
def test_a_malformed_sample_argument_says_the_expected_form(project, command, argument):
    build(project)
    result = run(command, argument)
    assert result.exit_code == 2
    assert f"give the sample as <set_id>/<sample_id> (e.g. real-squat/squat_side), got {argument!r}" in flat(result.output)


# --- overlay: where it writes -------------------------------------------------------------


@pytest.fixture
def overlay_project(project) -> Project:
    """lab-a built, with a SYNTHETIC front video of sq_01 (gray frames) and its keypoints."""
    build(project)
    video = project.path(catalog.DELIVERED_SETS) / SET_ID / CLIP
    video.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, CLIP_SIZE)
    for _ in range(CLIP_FRAMES):
        writer.write(np.full((CLIP_SIZE[1], CLIP_SIZE[0], 3), 90, np.uint8))
    writer.release()
    points = {"neck": (32.0, 10.0), "mid_hip": (32.0, 25.0), "left_knee": (28.0, 35.0), "left_ankle": (28.0, 45.0)}
    values = np.full((CLIP_FRAMES, len(JOINTS), 4), np.nan, np.float32)  # x, y, z, conf
    for name, xy in points.items():
        values[:, JOINT_INDEX[name], :2] = xy
        values[:, JOINT_INDEX[name], 3] = 0.9
    rows = pd.DataFrame(values.reshape(CLIP_FRAMES, -1), columns=joint_columns()).assign(
        set_id=SET_ID, sample_id="sq_01", view="front", source="mediapipe_blazepose33", units="px",
        derived_joints="", frame=np.arange(CLIP_FRAMES, dtype=np.int32), time_s=np.arange(CLIP_FRAMES) / CLIP_FPS,
        image_width=CLIP_SIZE[0], image_height=CLIP_SIZE[1],
    )  # fmt: skip
    write_table(rows, project.path(catalog.KEYPOINTS) / f"{SET_ID}.parquet", KEYPOINTS)
    return project


def test_overlay_frame_without_png_writes_under_reports_and_says_where(overlay_project, monkeypatch):
    project = overlay_project
    monkeypatch.chdir(project.root)  # where a person runs it
    result = run("overlay", "lab-a/sq_01", "--frame", "2")
    assert result.exit_code == 0, result.output
    expected = project.reports_dir / SET_ID / "sq_01_front_frame2.png"
    assert flat(result.output) == f"wrote frame 2 of lab-a/sq_01 (front) to {expected}"
    image = cv2.imread(str(expected))
    assert image.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    assert sorted(p.name for p in project.root.iterdir()) == ["data", "params.yaml", "reports"]  # nothing else in the root


def test_overlay_video_without_out_writes_under_reports(overlay_project, monkeypatch):
    project = overlay_project
    monkeypatch.chdir(project.root)
    result = run("overlay", "lab-a/sq_01")
    assert result.exit_code == 0, result.output
    expected = project.reports_dir / SET_ID / "sq_01_front_overlay.mp4"
    assert flat(result.output) == f"wrote {CLIP_FRAMES} frames of lab-a/sq_01 (front) with its skeleton to {expected}"
    assert expected.stat().st_size > 0


# --- add-set: the refusal, grouped ---------------------------------------------------------


def test_a_refused_delivery_groups_its_problems_before_the_rows(project, synthetic_set):
    path = synthetic_set / "samples.csv"
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["exercise"] = "clean_and_jerk"
    rows[0]["label"], rows[1]["label"] = "good", "bad"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    exercises = ", ".join(project.params().exercises)

    result = run("add-set", str(synthetic_set))
    assert result.exit_code == 1
    said = flat(result.output)
    grouped = (
        f"problems in {path}, by kind: "
        f"3 rows: exercise 'clean_and_jerk' is not one of {exercises} — add it to params.yaml: exercises, or correct the name "
        "2 rows: label is not one of correct, incorrect, or empty (2 values: 'good', 'bad') — "
        "use correct or incorrect, or leave the label empty "
        f"problems in {path}, row by row"
    )
    assert grouped in said  # before the table: it ends with the table's title
    assert f"2 sq_01 exercise 'clean_and_jerk' is not one of {exercises}" in said.split("row by row")[1]
    assert "Refused: nothing was added." in said


def test_problem_groups_say_a_shared_value_once_and_list_differing_ones():
    problems = pd.DataFrame.from_records(
        [
            (2, "a", "kinect_csv", "missing_file", "'k/a.csv' does not exist in the set folder", "k/a.csv"),
            (3, "b", "kinect_csv", "missing_file", "'k/b.csv' does not exist in the set folder", "k/b.csv"),
            (3, "b", "age", "bad_value", "'200' is not a whole number from 5 to 100 (years)", "200"),
            (4, "c", None, "no_source", "names no source: fill in at least one of kinect_csv", None),
            (5, "d", "age", "bad_value", "'200' is not a whole number from 5 to 100 (years)", "200"),
        ],
        columns=PROBLEM_COLUMNS,
    )
    report = check_report(problems)
    groups = problem_groups(report)
    shown = groups[["rows", "column", "reason", "value", "problem"]]
    assert shown.astype(object).where(shown.notna(), None).values.tolist() == [
        [2, "kinect_csv", "missing_file", None, "kinect_csv does not exist in the set folder (2 values: 'k/a.csv', 'k/b.csv')"],
        [2, "age", "bad_value", "200", "age '200' is not a whole number from 5 to 100 (years)"],
        [1, "(row)", "no_source", None, "names no source: fill in at least one of kinect_csv"],
    ]
    assert groups["fix"].iloc[0] == "copy the file into the set folder, or correct its path in samples.csv"


# --- sets in 80 columns -------------------------------------------------------------------


def formset_sets_at_80_columns(project: Project) -> list[str]:
    """``formset sets`` as a person runs it in an 80-column terminal: its lines."""
    env = {**os.environ, "COLUMNS": "80", "FORMSET_ROOT": str(project.root)}
    proc = subprocess.run([sys.executable, "-m", "formset.cli", "sets"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize(
    ("set_ids", "lab_a"),
    [
        # One table: its header, then lab-a's row.
        (["lab-a", "squats-may-2024-front", "synthetic-demo"],
         ["set version samples", "unlabeled quarantined added", "lab-a 2 4 1 / 1 / 2 1 2026-11-30"]),
        # Too long a set id for the table: one paragraph per set.
        (["lab-a", "squats-may-2024-front-and-diagonal-cameras"],
         ["lab-a: version 2, added 2026-11-30; 4 samples: 1 correct, 1 incorrect, 2 unlabeled; quarantined: 1"]),
    ],
)  # fmt: skip
def test_sets_fit_80_columns_with_every_set_id_whole(project, set_ids, lab_a):
    for set_id in set_ids:
        build(project, set_id, quarantined=[("sq_09", "bad_label", "why")])
    version = {"version": 2, "n_samples": 4, "labels": {"correct": 1, "incorrect": 1, "unlabeled": 2}, "added": "2026-11-30T09:00:00+00:00"}
    project.path(catalog.SET_REGISTRY).write_text(json.dumps({"lab-a": [version]}))

    lines = formset_sets_at_80_columns(project)
    assert max(map(len, lines)) <= 80
    assert not any("…" in line or "..." in line for line in lines)
    for set_id in set_ids[1:]:
        assert any(set_id in line.split() or f"{set_id}:" in line.split() for line in lines), set_id
    said = flat("\n".join(lines))
    assert all(text in said for text in lab_a), said


# --- quarantine ----------------------------------------------------------------------------


def test_quarantine_says_so_when_no_sample_is_quarantined(project):
    build(project)
    result = run("quarantine")
    assert result.exit_code == 0
    assert result.output.strip() == "no samples quarantined"


def test_quarantine_lists_what_is_wrong_and_what_to_fix(project):
    detail = "row 5 (sample_id 'sq_03'), column 'exercise': 'clean_and_jerk' is not one of squat, lunge"
    build(project, quarantined=[("sq_03", "unknown_exercise", detail), ("sq_04", "no_such_reason", "something odd")])
    result = run("quarantine")
    assert result.exit_code == 0
    header, *rows = [line.split("  ") for line in result.output.splitlines() if line.strip() and "──" not in line]
    assert [cell.strip() for cell in header if cell.strip()] == ["sample", "stage / reason", "what is wrong", "what to fix"]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        ["lab-a/sq_03", "ingest / unknown_exercise", detail, "add it to params.yaml: exercises, or correct the name"],
        ["lab-a/sq_04", "ingest / no_such_reason", "something odd", "see what is wrong"],
    ]


def test_quarantine_also_lists_samples_validation_flagged_and_kept(project):
    build(project)
    detail = "Expected the share of frames missing a core joint is at most 0.3; found 0.667 in the front view."
    flagged = pd.DataFrame([(SET_ID, "sq_01", "validate", "incomplete_keypoints", detail, "0.667")], columns=QUARANTINE.names)
    write_table(flagged, project.path(catalog.VALIDATION) / "warnings.parquet", QUARANTINE)
    result = run("quarantine")
    assert result.exit_code == 0
    said = flat(result.output)
    assert said.startswith("no samples quarantined flagged by validation, kept in the dataset")
    assert f"lab-a/sq_01 incomplete_keypoints {detail} check the recording: core joints are hidden" in said


# --- the dataset card -----------------------------------------------------------------------


def test_card_says_how_many_samples_have_at_least_one_fault(project):
    samples = pd.concat([catalog_rows(SET_ID), catalog_rows("lab-b", (("b1", "incorrect", ("fault_neck",)),))])
    empty = {name: schema.empty_table().to_pandas() for name, schema in (("keypoints", KEYPOINTS), ("features", FEATURES), ("quarantine", QUARANTINE))}
    validation = {"passed_critical": True, "n_expectations": 1, "n_failed_critical": 0, "n_failed_warning": 0}
    card = dataset_card(samples, empty["keypoints"], empty["features"], empty["quarantine"], empty["quarantine"], validation, "docs/index.html")
    project.path(catalog.DATASET_CARD).parent.mkdir(parents=True)
    project.path(catalog.DATASET_CARD).write_text(card_markdown(card))

    result = run("card")
    assert result.exit_code == 0, result.output
    said = flat(result.output)
    # sq_02 and b1 have a fault; sq_01 has none (all 0); lu_01 leaves all six empty.
    assert "samples with at least one fault: 2 (0 with features)" in said
    assert "samples with no fault (none is 1, at least one is 0): 1 (0 with features)" in said
    assert "samples whose fault columns are all empty, counted as neither: 1 (0 with features)" in said
