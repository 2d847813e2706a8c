"""Real deliveries never break the build: the whole pipeline on small deliveries of the shapes
annotators send (unlabeled videos, unlabeled OpenPose clips, one person, an exercise with no
correct sample, an odd sample among good ones, no set at all). A stage the data does not allow
says why and skips; the build is recorded, and the nightly still publishes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import (
    REPO,
    SAMPLE_COLUMNS,
    SYNTHETIC_FPS,
    bare_project,
    formset,
    synthetic_kinect_points,
    write_kinect_csv,
    write_openpose_folder,
)

from formset import gitops
from formset.config import Project
from formset.provenance import read_record
from formset.quarantine import StageSkipped
from formset.schemas import tables
from formset.storage import read_table
from formset.summary import flagged_listing
from formset.tasks.learning.model_files import load_model

pytestmark = pytest.mark.slow


def write_delivery(set_dir: Path, rows: list[dict]) -> Path:
    """A labeled set in the input contract; each row gives ``sample_id``, ``subject_id``,
    ``exercise``, optionally ``label`` and ``fault_*``, and ``sources``: ``kinect`` and / or
    ``openpose_front`` (a synthetic squat, ``conftest.synthetic_kinect_points``)."""
    set_dir.mkdir(parents=True)
    (set_dir / "set.yaml").write_text(f"set_id: {set_dir.name}\nfps: {SYNTHETIC_FPS}\nkinect_units: m\n")
    points = synthetic_kinect_points()
    cells = []
    for row in rows:
        cell = dict.fromkeys(SAMPLE_COLUMNS, "")
        cell.update({k: v for k, v in row.items() if k != "sources"})
        if "kinect" in row["sources"]:
            cell["kinect_csv"] = f"kinect/{row['sample_id']}.csv"
            write_kinect_csv(set_dir / cell["kinect_csv"], points)
        if "openpose_front" in row["sources"]:
            cell["openpose_front"] = f"openpose/{row['sample_id']}"
            write_openpose_folder(set_dir / cell["openpose_front"], points, stem=row["sample_id"])
        cells.append(cell)
    with (set_dir / "samples.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        writer.writerows(cells)
    return set_dir


def edit_openpose(folder: Path, edit) -> None:
    """Apply ``edit(frame_index, keypoints)`` to the performer of every frame file, in place;
    ``keypoints`` is the flat BODY_25 list (x, y, confidence per joint)."""
    for index, file in enumerate(sorted(folder.glob("*_keypoints.json"))):
        data = json.loads(file.read_text())
        edit(index, data["people"][0]["pose_keypoints_2d"])
        file.write_text(json.dumps(data))


def flat(text: str) -> str:
    """``text`` with every run of whitespace one space: rich wraps lines at the terminal width."""
    return " ".join(text.split())


def last_work(project: Path) -> dict:
    return json.loads((project / ".formset" / "last-build.json").read_text())["work"]


def recorded_stages(project: Path) -> set[str]:
    return set(yaml.safe_load((project / "dvc.lock").read_text())["stages"])


ALL_STAGES = {"ingest", "keypoints", "normalize", "validate", "exercise", "reps", "cluster", "compare", "train"}
NECK, LEFT_ANKLE = 1, 14  # BODY_25 indices


def test_a_project_with_no_sets_says_how_to_add_one(tmp_path):
    project = bare_project(tmp_path / "project")
    run = formset(project, "run", check=False)
    assert run.returncode == 1
    assert run.stdout.strip() == "no labeled sets in data/sets: add one with `formset add-set DIR`"
    assert "Traceback" not in run.stdout + run.stderr
    assert not (project / "dvc.lock").exists()


def test_unlabeled_videos_only_build_reps_and_skip_training(tmp_path):
    project = bare_project(tmp_path / "project")
    shutil.copytree(REPO / "samples" / "real-squat", project / "data" / "sets" / "real-squat")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["keypoints"]["video_stride"] = 2  # half the frames: the test's time, not the method
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run = formset(project, "run")

    work = last_work(project)
    assert work["train"]["skipped"].startswith("no labeled samples (label correct or incorrect)")
    assert work["exercise"]["skipped"].startswith("every sample is squat")
    assert "no correct executions" in work["cluster"]["skipped"]
    assert "no correct executions by other people" in work["compare"]["skipped"]
    assert "classifier: skipped, no model in this version: no labeled samples" in flat(run.stdout)
    recordings = read_table(project / "data" / "reps" / "recordings", tables.RECORDINGS)
    assert recordings.loc[recordings["primary_view"], "rep_count"].tolist() == [2]
    assert recorded_stages(project) == ALL_STAGES
    with pytest.raises(StageSkipped, match="no labeled samples"):
        load_model(project / "models" / "classifier.pt")
    assert json.loads((project / "metrics" / "train.json").read_text()) == {"skipped": work["train"]["skipped"]}
    assert (project / "plots" / "confusion.csv").read_text().strip() == "actual,predicted"


def test_unlabeled_openpose_clips_with_real_quirks_are_published_by_the_nightly(tmp_path, no_global_git_identity):
    project = bare_project(tmp_path / "project")
    rows = [
        {"sample_id": f"op_{i}", "subject_id": subject, "exercise": exercise, "sources": ["openpose_front"]}
        for i, (subject, exercise) in enumerate([("p1", "squat"), ("p1", "lunge"), ("p2", "squat"), ("p2", "lunge")])
    ]
    set_dir = write_delivery(project / "data" / "sets" / "clips", rows)

    # OpenPose scores a little above 1 (not clipped by OpenPose): 10 values in op_0.
    def above_one(index: int, keypoints: list) -> None:
        if index < 5:
            keypoints[3 * NECK + 2] = keypoints[3 * LEFT_ANKLE + 2] = 1.02

    edit_openpose(set_dir / "openpose" / "op_0", above_one)

    nightly = flat(formset(project, "nightly").stdout)

    (tag,) = gitops.tags(Project(project), "data-*")
    assert f"published {tag}" in nightly and "train skipped: no labeled samples" in nightly
    assert "compare skipped: no correct executions by other people" in nightly
    assert recorded_stages(project) == ALL_STAGES
    assert json.loads((project / "data" / "validation" / "summary.json").read_text())["passed_critical"] is True
    keypoints = read_table(project / "data" / "keypoints", tables.KEYPOINTS)
    assert np.nanmax(keypoints.filter(like="_conf").to_numpy(np.float64)) == 1.0
    record = read_record(project / "data" / "keypoints" / "clips.parquet")
    assert record["read_notes"] == {"op_0/front": {"confidence_clipped": 10}}
    card = flat(formset(project, "card").stdout)
    assert "train skipped in this build: no labeled samples" in card
    assert "cluster skipped in this build: no correct executions to cluster" in card


def test_one_person_skips_what_needs_other_people(tmp_path):
    project = bare_project(tmp_path / "project")
    rows = [
        {"sample_id": "sq_1", "subject_id": "solo", "exercise": "squat", "label": "correct", "sources": ["kinect"]},
        {"sample_id": "sq_2", "subject_id": "solo", "exercise": "squat", "label": "incorrect", "fault_torso": "1", "sources": ["kinect"]},
        {"sample_id": "sq_3", "subject_id": "solo", "exercise": "squat", "label": "correct", "sources": ["openpose_front"]},
    ]
    write_delivery(project / "data" / "sets" / "solo", rows)

    run = formset(project, "run")

    work = last_work(project)
    assert work["train"]["skipped"].startswith("the labeled samples come from one person (solo)")
    assert work["exercise"]["skipped"].startswith("every sample is squat: exercise recognition needs samples of at least two")
    assert work["reps"]["exercise_check"].startswith("trunk posture only: exercise recognition skipped (every sample is squat")
    assert "no correct executions by other people" in work["compare"]["skipped"]
    assert "skipped" not in work["cluster"]  # clustering needs correct executions, not other people
    assert "skipped: the labeled samples come from one person (solo)" in flat(run.stdout)
    assert recorded_stages(project) == ALL_STAGES
    # Every output of train is written, empty: the predictions partition and both plots.
    predictions = read_table(project / "data" / "predictions" / "solo.parquet", tables.PREDICTIONS)
    assert predictions.empty and list(predictions.columns) == tables.PREDICTIONS.names
    assert (project / "plots" / "roc.csv").read_text().strip() == "fpr,tpr,threshold"
    assert (project / "plots" / "confusion.csv").read_text().strip() == "actual,predicted"


def test_an_exercise_without_correct_samples_and_an_odd_sample(tmp_path):
    project = bare_project(tmp_path / "project")
    rows = [
        {"sample_id": "sq_a", "subject_id": "p1", "exercise": "squat", "label": "correct", "sources": ["kinect"]},
        {"sample_id": "sq_b", "subject_id": "p2", "exercise": "squat", "label": "incorrect", "fault_left_knee": "1", "sources": ["kinect"]},
        {"sample_id": "lu_a", "subject_id": "p1", "exercise": "lunge", "label": "incorrect", "fault_torso": "1", "sources": ["kinect"]},
        {"sample_id": "lu_b", "subject_id": "p2", "exercise": "lunge", "label": "incorrect", "fault_neck": "1", "sources": ["kinect"]},
        {"sample_id": "sq_odd", "subject_id": "p3", "exercise": "squat", "label": "correct", "sources": ["openpose_front"]},
    ]
    set_dir = write_delivery(project / "data" / "sets" / "mixed", rows)

    # The odd one: its left ankle (a core joint) lost in 8 of 12 frames.
    def lose_ankle(index: int, keypoints: list) -> None:
        if index >= 4:
            keypoints[3 * LEFT_ANKLE : 3 * LEFT_ANKLE + 3] = [0.0, 0.0, 0.0]

    edit_openpose(set_dir / "openpose" / "sq_odd", lose_ankle)

    formset(project, "run")

    work = last_work(project)
    assert work["cluster"]["exercises_without_correct_executions"] == ["lunge"]
    assert "skipped" not in work["exercise"] and "exercise_check" not in work["reps"]  # two exercises, three people
    compare = json.loads((project / "metrics" / "compare.json").read_text())
    assert "no correct lunge executions by other people" in compare["recording"]["groups"]["lunge/kinect"]["skipped"]
    assert "skipped" not in compare["recording"]["groups"]["squat/kinect"]
    assert "skipped" not in compare  # squats were compared
    warnings = read_table(project / "data" / "validation" / "warnings.parquet", tables.QUARANTINE)
    assert warnings[["sample_id", "reason"]].values.tolist() == [["sq_odd", "incomplete_keypoints"]]
    features = read_table(project / "data" / "features", tables.FEATURES)
    assert "sq_odd" in set(features["sample_id"])  # flagged, kept
    card = json.loads((project / "data" / "quality" / "dataset_card.json").read_text())
    assert card["validation"]["warnings_by_reason"] == [{"reason": "incomplete_keypoints", "sample_views": 1, "samples": 1}]
    listing = flat(formset(project, "quarantine").stdout)
    assert listing.startswith("no samples quarantined flagged by validation, kept in the dataset")
    assert "mixed/sq_odd incomplete_keypoints" in listing
    assert flagged_listing(Project(project))["sample_id"].tolist() == ["sq_odd"]
    assert recorded_stages(project) == ALL_STAGES
