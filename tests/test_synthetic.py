"""The synthetic labeled-set generator: formats, determinism, labels and known answers.

Most tests read one small synthetic set (2 subjects x 2 exercises x 2 executions = 8 samples)
written once per module, parsed back with plain ``csv`` / ``json``; the label tests use the
plan of the default-size set without writing it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from formset.schemas.vocab import FAULTS, SLUG
from formset.tasks.synthetic import generator as syn

SMALL = {"n_subjects": 2, "exercises": ("squat", "push_up"), "executions_per_exercise": 2, "seed": 3}
SMALL_SET_ID = "synthetic-small"
FPS = 15.0
CONTRACT_COLUMNS = (
    "sample_id", "subject_id", "exercise", "kinect_csv", "openpose_front", "openpose_diagonal",
    "label", *FAULTS, "age", "gender", "height_cm", "weight_kg", "rep_count",
)  # fmt: skip
FRAME_FILE = re.compile(r"^(?P<stem>.+)_(?P<index>\d{12})_keypoints\.json$")
KEYPOINT_COUNTS = {"openpose_body25": 75, "openpose_coco18": 54}
KINECT_FIELDS = 100


def write_small_set(root: Path) -> Path:
    set_dir = root / SMALL_SET_ID
    syn.generate_set(set_dir, set_id=SMALL_SET_ID, fps=FPS, **SMALL)
    return set_dir


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """The small synthetic set, written once for the module."""
    return write_small_set(tmp_path_factory.mktemp("sets"))


@pytest.fixture(scope="module")
def small_plan() -> dict[str, syn.Execution]:
    return {e.sample_id: e for e in syn.plan_set(**SMALL)}


def read_samples(set_dir: Path) -> list[dict[str, str]]:
    with (set_dir / "samples.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


def read_frames(folder: Path) -> dict[int, dict]:
    """OpenPose folder -> {frame index: parsed JSON}."""
    frames = {}
    for file in folder.iterdir():
        match = FRAME_FILE.match(file.name)
        assert match, f"unexpected file name {file.name}"
        frames[int(match["index"])] = json.loads(file.read_text())
    return frames


def kinect_rows(path: Path) -> tuple[list[str] | None, list[list[str]]]:
    """(header or None, data rows) of a Kinect CSV, blank lines skipped."""
    with path.open(newline="") as stream:
        rows = [row for row in csv.reader(stream) if row]
    if rows[0][0] in ("frame", "time_s"):
        return rows[0], rows[1:]
    return None, rows


# --- pure functions, known answers -----------------------------------------------------------


def test_project_points_of_known_points_through_a_known_camera():
    # Camera at the sensor looking straight along +z: image right is -x, image down is -y.
    camera = syn.look_at(np.zeros(3), np.array([0.0, 0.0, 5.0]), focal_px=1000.0, image_size=(1280, 720))
    points = np.array([[0.5, 0.2, 2.0], [0.0, 0.0, 4.0], [0.0, 0.0, -1.0]])
    uv, depth = syn.project_points(points, camera)
    np.testing.assert_allclose(uv[0], [640 - 1000 * 0.5 / 2, 360 - 1000 * 0.2 / 2])
    np.testing.assert_allclose(uv[1], [640, 360])
    np.testing.assert_allclose(depth, [2.0, 4.0, -1.0])
    assert np.isnan(uv[2]).all()  # behind the camera


def test_look_at_puts_the_target_at_the_image_centre_at_its_distance():
    position, target = np.array([2.0, 0.3, 0.5]), np.array([0.0, -0.1, 2.7])
    camera = syn.look_at(position, target, focal_px=900.0)
    uv, depth = syn.project_points(target, camera)
    np.testing.assert_allclose(uv, [640, 360], atol=1e-9)
    np.testing.assert_allclose(depth, np.linalg.norm(target - position))
    np.testing.assert_allclose(camera.rotation @ camera.rotation.T, np.eye(3), atol=1e-12)


def test_bend_joint_places_the_middle_joint_at_both_bone_lengths_towards_the_pole():
    root, end = np.array([0.0, 0.0, 0.0]), np.array([0.0, -0.6, 0.0])
    middle = syn.bend_joint(root, end, 0.5, 0.5, pole=np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(middle, [0.0, -0.3, 0.4])


def test_place_in_room_faces_the_sensor_with_the_left_side_at_negative_x():
    placement = syn.Placement(distance_m=2.5, lateral_m=0.1, floor_y_m=-0.8, yaw_rad=0.0, centre_forward_m=0.0)
    body = syn.body_vector(left=[0.2, 0.0], up=[1.0, 0.0], forward=[0.0, 0.3])
    np.testing.assert_allclose(syn.place_in_room(body, placement), [[-0.1, 0.2, 2.5], [0.1, -0.8, 2.2]])


def test_depth_phase_rests_then_dips_once_per_rep_to_its_depth():
    reps = syn.Reps(1.0, (2.0, 1.5), (1.0, 0.5), (0.5, 0.5), (0.5,), 1.0)
    time_s = np.arange(0, reps.total_s, 0.01)
    phase = syn.depth_phase(reps, time_s)
    assert reps.total_s == pytest.approx(6.0)
    assert np.all(phase[time_s < 1.0] == 0) and np.all(phase[time_s > 5.0] == 0)
    assert phase[np.argmin(np.abs(time_s - 2.0))] == pytest.approx(1.0)  # bottom of rep 1
    assert phase[np.argmin(np.abs(time_s - 4.25))] == pytest.approx(0.5)  # bottom of rep 2
    rising_into_a_rep = np.diff((phase > 0.1).astype(int)) == 1
    assert rising_into_a_rep.sum() == reps.count


@pytest.mark.parametrize("exercise", ["squat", "push_up"])
def test_bone_lengths_scale_with_height_and_stay_constant(exercise):
    execution = next(e for e in syn.plan_set(**SMALL) if e.exercise == exercise and e.label == "correct")
    phase = np.linspace(0, 1, 9)
    for height in (1.5, 1.9):
        points = syn.POSES[exercise](phase, height, execution.form)
        for a, b, segment in (("left_hip", "left_knee", "thigh"), ("right_knee", "right_ankle", "shank"), ("mid_hip", "neck", "torso")):
            length = np.linalg.norm(points[:, syn.POINT_INDEX[a]] - points[:, syn.POINT_INDEX[b]], axis=-1)
            np.testing.assert_allclose(length / height, syn.SEGMENT[segment], rtol=0.01)


# --- the written set: formats ---------------------------------------------------------------


def test_set_yaml_has_the_contract_keys_and_says_synthetic(small_set):
    info = yaml.safe_load((small_set / "set.yaml").read_text())
    assert list(info) == ["set_id", "title", "annotator", "created", "license", "fps", "kinect_units", "notes"]
    assert info["set_id"] == SMALL_SET_ID and SLUG.match(info["set_id"])
    assert info["fps"] == FPS and info["kinect_units"] == "m"
    assert "SYNTHETIC" in info["title"] and "SYNTHETIC" in info["notes"]


def test_samples_csv_has_every_contract_column_plus_session_and_paths_that_exist(small_set):
    rows = read_samples(small_set)
    assert list(rows[0]) == [*CONTRACT_COLUMNS, "session"]
    assert len(rows) == 2 * 2 * 2
    for row in rows:
        assert SLUG.match(row["sample_id"])
        assert (small_set / row["kinect_csv"]).is_file()
        for column in ("openpose_front", "openpose_diagonal"):
            assert row[column].endswith("/") and (small_set / row[column]).is_dir()


def test_kinect_csvs_come_in_both_layouts_with_the_contract_field_counts(small_set):
    seen = set()
    for row in read_samples(small_set):
        path = small_set / row["kinect_csv"]
        header, data = kinect_rows(path)
        if header is None:
            padded = path.read_text().startswith("\n")
            seen.add("raw_padded" if padded else "raw")
            for fields in data:
                # 25 x (x, y, z, state), plus the empty field of a trailing comma when padded.
                assert len(fields) == KINECT_FIELDS + padded and (not padded or fields[-1] == "")
                assert all(f == "" or float(f) == float(f) for f in fields[:KINECT_FIELDS])
                assert set(fields[3:KINECT_FIELDS:4]) <= {"0", "1", "2"}
        else:
            has_state = "SpineBase_state" in header
            seen.add("header" if has_state else "header_no_state")
            joint_columns = [c for c in header if c not in ("frame", "time_s")]
            assert joint_columns == [f"{j}_{f}" for j in syn.KINECT_JOINTS for f in ("x", "y", "z", "state")[: 3 + has_state]]
            assert all(len(fields) == len(header) for fields in data)
            if header[0] == "frame":
                frames = [int(fields[0]) for fields in data]
                assert frames == sorted(frames) and float(data[-1][1]) == pytest.approx(frames[-1] / FPS, abs=1e-4)
    assert seen == set(syn.KINECT_LAYOUTS)


def test_openpose_folders_hold_body25_and_coco18_under_both_keys(small_set, small_plan):
    seen = set()
    for row in read_samples(small_set):
        model, key, _ = small_plan[row["sample_id"]].openpose_format
        seen.add((model, key))
        for column in ("openpose_front", "openpose_diagonal"):
            for document in read_frames(small_set / row[column]).values():
                for person in document["people"]:
                    assert list(person) == [key]
                    keypoints = np.asarray(person[key]).reshape(-1, 3)
                    assert keypoints.size == KEYPOINT_COUNTS[model]
                    found = keypoints[:, 2] > 0
                    assert np.all(keypoints[~found] == 0)  # not found is written 0, 0, 0
                    assert np.all((keypoints[found, 2] >= 0.3) & (keypoints[found, 2] <= 0.95))
    assert seen == {(model, key) for model, key, _ in syn.OPENPOSE_FORMATS}


def test_some_joints_are_not_found_but_only_a_few_percent(small_set):
    found = []
    for row in read_samples(small_set):
        for document in read_frames(small_set / row["openpose_front"]).values():
            for person in document["people"]:
                found.extend(np.asarray(next(iter(person.values()))).reshape(-1, 3)[:, 2] > 0)
    missing_rate = 1 - np.mean(found)
    assert 0.005 < missing_rate < 0.08


def test_dropped_frame_files_and_empty_frames_exactly_where_planned(small_set, small_plan):
    for sample_id, execution in small_plan.items():
        n_frames = len(syn.frame_times(execution.reps, FPS))
        for view in syn.VIEWS:
            frames = read_frames(small_set / "openpose" / sample_id / view)
            assert set(frames) <= set(range(n_frames))
            assert (len(frames) < n_frames) == execution.dropped_frames
            assert 0 in frames and n_frames - 1 in frames
            empty = [i for i, document in frames.items() if not document["people"]]
            assert bool(empty) == execution.empty_frames


def test_bystander_is_present_where_planned_and_sometimes_listed_first(small_set, small_plan):
    planned = {s for s, e in small_plan.items() if e.bystander}
    assert planned and planned != set(small_plan)
    for sample_id, execution in small_plan.items():
        _, world = syn.execution_motion(execution, FPS)
        for view in syn.VIEWS:
            uv, _ = syn.project_points(world, execution.cameras[view])
            performer_centre = uv.mean(axis=1)  # (frame, 2), true pixels
            pairs = [(i, d["people"]) for i, d in read_frames(small_set / "openpose" / sample_id / view).items() if len(d["people"]) == 2]
            assert bool(pairs) == execution.bystander
            first_is_bystander = []
            for i, people in pairs:
                distance = []
                for person in people:
                    keypoints = np.asarray(next(iter(person.values()))).reshape(-1, 3)
                    found = keypoints[:, 2] > 0
                    distance.append(np.linalg.norm(keypoints[found, :2].mean(axis=0) - performer_centre[i]))
                first_is_bystander.append(distance[0] > distance[1])
            if pairs:
                assert 0 < np.mean(first_is_bystander) < 1


def test_rep_count_is_the_number_of_dips_in_the_kinect_skeleton(small_set):
    # Hips (squat) or the base of the neck (push-up) dip below their resting height once a rep.
    dipping_joint = {"squat": "SpineBase", "push_up": "SpineShoulder"}
    for row in read_samples(small_set):
        header, data = kinect_rows(small_set / row["kinect_csv"])
        joint = syn.KINECT_JOINTS.index(dipping_joint[row["exercise"]])
        column = header.index(f"{dipping_joint[row['exercise']]}_y") if header else 4 * joint + 1
        height = pd.to_numeric(pd.Series([fields[column] for fields in data]), errors="coerce").interpolate(limit_direction="both")
        dipped = (height < height.iloc[:10].median() - 0.04).astype(int)
        assert int((dipped.diff() == 1).sum()) == int(row["rep_count"]) >= 2


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(small_set, tmp_path):
    again = write_small_set(tmp_path)
    files = sorted(p.relative_to(small_set) for p in small_set.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((small_set / f).read_bytes() == (again / f).read_bytes() for f in files)
    other = syn.plan_set(**{**SMALL, "seed": SMALL["seed"] + 1})
    assert [e.subject.height_m for e in other] != [e.subject.height_m for e in syn.plan_set(**SMALL)]


def test_rewrites_an_earlier_synthetic_set_but_refuses_other_folders(tmp_path):
    tiny = {"n_subjects": 1, "exercises": ("squat",)}
    syn.generate_set(tmp_path / "tiny", set_id="tiny", executions_per_exercise=2, **tiny)
    rows = syn.generate_set(tmp_path / "tiny", set_id="tiny", executions_per_exercise=1, **tiny)
    assert len(read_samples(tmp_path / "tiny")) == len(rows) == 1
    assert [p.name for p in (tmp_path / "tiny" / "kinect").iterdir()] == ["s01-squat-01.csv"]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("not a synthetic set")
    with pytest.raises(FileExistsError):
        syn.generate_set(precious)
    assert (precious / "notes.txt").read_text() == "not a synthetic set"


# --- labels of the default-size set (planned, not written) ----------------------------------


@pytest.fixture(scope="module")
def default_plan() -> list[syn.Execution]:
    return syn.plan_set()


def test_default_set_labels_are_consistent_and_every_fault_appears_several_times(default_plan):
    samples = syn.samples_table(default_plan)
    assert len(samples) == 8 * 2 * 6 and samples["sample_id"].is_unique
    correct = samples["label"] == "correct"
    assert correct.sum() == (~correct).sum()
    assert (samples.loc[correct, list(FAULTS)] == 0).all().all()
    assert (samples.loc[~correct, list(FAULTS)].sum(axis=1) >= 1).all()
    for exercise in ("squat", "push_up"):
        assert (samples.loc[samples["exercise"] == exercise, list(FAULTS)].sum() >= 3).all(), exercise
    assert (samples["rep_count"] == [e.reps.count for e in default_plan]).all()
    assert samples["rep_count"].isin([2, 3]).all()


def test_default_set_subjects_differ_in_height_weight_age_and_gender(default_plan):
    subjects = syn.samples_table(default_plan).drop_duplicates("subject_id")
    assert len(subjects) == 8
    assert subjects["height_cm"].min() < 160 and subjects["height_cm"].max() > 185
    assert subjects["height_cm"].between(150, 195).all()
    assert subjects["weight_kg"].nunique() == subjects["age"].nunique() == 8
    assert set(subjects["gender"]) == {"female", "male", "other"}


def test_reps_and_rest_have_the_specified_durations(default_plan):
    for execution in default_plan:
        reps = execution.reps
        assert min(reps.durations_s) >= 1.2 and max(reps.durations_s) <= 2.5
        assert reps.rest_start_s >= 0.7 and reps.rest_end_s >= 0.7


# --- faults are visible in the motion -------------------------------------------------------


def _body_motion(execution: syn.Execution) -> np.ndarray:
    """Noise-free body-frame points ``(frame, point, 3)`` of an execution."""
    phase = syn.depth_phase(execution.reps, syn.frame_times(execution.reps, FPS))
    return syn.POSES[execution.exercise](phase, execution.subject.height_m, execution.form)


def _angle_from_vertical(vector: np.ndarray) -> np.ndarray:
    """Sagittal angle (radians, forward positive) of body-frame vectors ``(..., 3)``."""
    return np.arctan2(vector[..., syn.FORWARD], vector[..., syn.UP])


def _squat_measures(points: np.ndarray, height_m: float) -> dict[str, float]:
    p = {name: points[:, i] for name, i in syn.POINT_INDEX.items()}
    lean = _angle_from_vertical(p["neck"] - p["mid_hip"])
    return {
        # Knee inside (+) of its ankle, at the deepest frame.
        "left_knee_in": float(-(p["left_knee"] - p["left_ankle"])[np.argmax(lean), syn.LEFT]),
        "right_knee_in": float((p["right_knee"] - p["right_ankle"])[np.argmax(lean), syn.LEFT]),
        "lean": float(lean.max()),
        "stance": float((p["left_ankle"] - p["right_ankle"])[0, syn.LEFT] / height_m),
        "heel_rise": float(p["left_heel"][:, syn.UP].max() / height_m),
        "hip_lowest": float(p["mid_hip"][:, syn.UP].min() / height_m),
        "hip_shift": float(np.abs(p["mid_hip"][:, syn.LEFT]).max() / height_m),
        "neck_flexion": float((_angle_from_vertical(p["head"] - p["neck"]) - lean).max()),
    }


def _push_up_measures(points: np.ndarray, height_m: float) -> dict[str, float]:
    p = {name: points[:, i] for name, i in syn.POINT_INDEX.items()}
    ankles = (p["left_ankle"] + p["right_ankle"]) / 2
    line = syn.unit(p["neck"] - ankles)
    up_normal = np.cross(line, syn.body_vector(left=1.0))  # perpendicular to the body line, upwards

    def above_line(name: str, start: np.ndarray) -> np.ndarray:
        return np.sum((p[name] - start) * up_normal, axis=-1) / height_m

    torso = _angle_from_vertical(p["neck"] - p["mid_hip"])
    return {
        "hip_above_line": float(above_line("mid_hip", ankles)[0]),
        "head_drop": float((_angle_from_vertical(p["head"] - p["neck"]) - torso).max()),
        "left_knee_below": float(-above_line("left_knee", p["left_ankle"])[0]),
        "right_knee_below": float(-above_line("right_knee", p["right_ankle"])[0]),
        "hands": float((p["left_wrist"] - p["right_wrist"])[0, syn.LEFT] / height_m),
    }


#: Per exercise and fault: (measure, sign): the fault moves the measure up (+1) or down (-1),
#: several alternatives when the fault has variants.
FAULT_MEASURES = {
    "squat": {
        "fault_left_knee": [("left_knee_in", 1)],
        "fault_right_knee": [("right_knee_in", 1)],
        "fault_torso": [("lean", 1)],
        "fault_base_of_support": [("stance", -1), ("heel_rise", 1)],
        "fault_hip_joint": [("hip_lowest", 1), ("hip_shift", 1)],
        "fault_neck": [("neck_flexion", 1)],
    },
    "push_up": {
        "fault_left_knee": [("left_knee_below", 1)],
        "fault_right_knee": [("right_knee_below", 1)],
        "fault_torso": [("hip_above_line", -1)],
        "fault_base_of_support": [("hands", -1)],
        "fault_hip_joint": [("hip_above_line", 1)],
        "fault_neck": [("head_drop", 1)],
    },
}


@pytest.mark.parametrize("exercise", ["squat", "push_up"])
def test_each_single_fault_puts_its_measure_outside_every_correct_execution(default_plan, exercise):
    measure = {"squat": _squat_measures, "push_up": _push_up_measures}[exercise]
    executions = [e for e in default_plan if e.exercise == exercise and len(e.faults) <= 1]
    measured = pd.DataFrame([measure(_body_motion(e), e.subject.height_m) for e in executions])
    faults = pd.Series([e.faults[0] if e.faults else "" for e in executions])
    correct = measured[faults == ""]
    for fault, alternatives in FAULT_MEASURES[exercise].items():
        faulty = measured[faults == fault]
        assert len(faulty) >= 1, fault
        for _, row in faulty.iterrows():
            beyond = [sign * row[m] > (sign * correct[m]).max() for m, sign in alternatives]
            assert any(beyond), (fault, row.to_dict())
