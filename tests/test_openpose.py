"""OpenPose JSON folder reader, on synthetic frame files whose values are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from formset.quarantine import SampleError
from formset.schemas.skeleton import JOINT_INDEX, SOURCES
from formset.tasks.readers.openpose import read_openpose_folder

BODY25 = SOURCES["openpose_body25"].joints
COCO18 = SOURCES["openpose_coco18"].joints


def indexed_person(n_joints: int) -> np.ndarray:
    """Synthetic person whose joint i sits at pixel (10 i + 1, 5 i + 2), confidence 0.9."""
    i = np.arange(n_joints)
    return np.stack([10 * i + 1.0, 5 * i + 2.0, np.full(n_joints, 0.9)], axis=-1)


def figure(centre_x: float, centre_y: float, height: float, n_joints: int = 25) -> np.ndarray:
    """Synthetic stick figure: joints spread over a box ``height`` tall and half as wide."""
    rng = np.random.default_rng(0)
    offsets = rng.uniform(-0.5, 0.5, size=(n_joints, 2)) * [height / 2, height]
    xy = np.array([centre_x, centre_y]) + offsets
    return np.concatenate([xy, np.full((n_joints, 1), 0.8)], axis=-1)


def write_frame(folder, index: int, people: list[np.ndarray], key: str = "pose_keypoints_2d") -> None:
    folder.mkdir(exist_ok=True)
    data = {"version": 1.3, "people": [{key: p.ravel().tolist()} for p in people]}
    (folder / f"synthetic_{index:012d}_keypoints.json").write_text(json.dumps(data))


def test_body25_joints_map_by_name(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(25)])
    series = read_openpose_folder(tmp_path / "f", "front")
    for name, canonical in (("RHip", "right_hip"), ("LBigToe", "left_toe"), ("MidHip", "mid_hip"), ("Neck", "neck")):
        i = BODY25.index(name)
        np.testing.assert_array_equal(series.points[0, JOINT_INDEX[canonical], :2], [10 * i + 1, 5 * i + 2])
        assert series.confidence[0, JOINT_INDEX[canonical]] == pytest.approx(0.9)
    assert np.isnan(series.points[..., 2]).all()  # 2-D: z is missing
    assert np.isnan(series.points[0, JOINT_INDEX["head"]]).all()  # BODY_25 has no head top
    assert (series.source, series.units, series.view, series.derived_joints) == ("openpose_body25", "px", "front", ())


def test_coco18_maps_rhip_and_derives_mid_hip(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(18)])
    series = read_openpose_folder(tmp_path / "f", "diagonal")
    assert series.source == "openpose_coco18" and series.derived_joints == ("mid_hip",)
    right_hip = series.points[0, JOINT_INDEX["right_hip"]]
    np.testing.assert_array_equal(right_hip[:2], [81, 42])  # COCO-18 index 8 is RHip
    assert COCO18[8] == "RHip"
    left_hip = series.points[0, JOINT_INDEX["left_hip"]]
    np.testing.assert_array_equal(left_hip[:2], [111, 57])  # index 11 is LHip
    mid_hip = series.points[0, JOINT_INDEX["mid_hip"]]
    np.testing.assert_array_equal(mid_hip[:2], [96, 49.5])
    assert np.isnan(mid_hip[2])


def test_old_key_is_accepted(tmp_path):
    write_frame(tmp_path / "new", 0, [indexed_person(25)])
    write_frame(tmp_path / "old", 0, [indexed_person(25)], key="pose_keypoints")
    new = read_openpose_folder(tmp_path / "new", "front")
    old = read_openpose_folder(tmp_path / "old", "front")
    np.testing.assert_array_equal(new.points, old.points)


def test_zero_triplet_is_missing_not_pixel_origin(tmp_path):
    person = indexed_person(25)
    person[BODY25.index("LKnee")] = 0
    write_frame(tmp_path / "f", 0, [person])
    series = read_openpose_folder(tmp_path / "f", "front")
    knee = JOINT_INDEX["left_knee"]
    assert np.isnan(series.points[0, knee]).all() and np.isnan(series.confidence[0, knee])
    assert np.isfinite(series.points[0, JOINT_INDEX["right_knee"], :2]).all()


def test_min_confidence_drops_weak_joints(tmp_path):
    person = indexed_person(25)
    person[BODY25.index("RWrist"), 2] = 0.05
    write_frame(tmp_path / "f", 0, [person])
    series = read_openpose_folder(tmp_path / "f", "front", min_confidence=0.1)
    assert np.isnan(series.points[0, JOINT_INDEX["right_wrist"]]).all()
    assert np.isfinite(series.points[0, JOINT_INDEX["left_wrist"], :2]).all()


def test_frame_index_comes_from_file_names_with_gaps(tmp_path):
    for index in (12, 0, 5):  # written out of order
        write_frame(tmp_path / "f", index, [indexed_person(25)])
    (tmp_path / "f" / "notes.txt").write_text("not a frame")
    series = read_openpose_folder(tmp_path / "f", "front", fps=10.0)
    np.testing.assert_array_equal(series.frame, [0, 5, 12])
    np.testing.assert_allclose(series.time_s, [0.0, 0.5, 1.2])


def test_performer_is_followed_when_bystander_is_listed_first(tmp_path):
    n_frames = 8
    folder = tmp_path / "f"
    for f in range(n_frames):
        performer = figure(640 + 3 * f, 360, 400)  # central, large, moving slowly right
        bystander = figure(1150, 420, 150)  # at the side, smaller
        if f == 6:
            people = [bystander]  # the performer is not detected in this frame
        elif f % 2 == 0:
            people = [bystander, performer]
        else:
            people = [performer, bystander]
        write_frame(folder, f, people)
    series = read_openpose_folder(folder, "front")
    nose = JOINT_INDEX["nose"]
    expected_x = figure(0, 360, 400)[BODY25.index("Nose"), 0] + 640 + 3 * np.arange(n_frames)
    found = np.arange(n_frames) != 6
    np.testing.assert_allclose(series.points[found, nose, 0], expected_x[found], rtol=1e-6)
    # frame 6 is kept, with nobody in it, rather than switching to the bystander
    np.testing.assert_array_equal(series.frame, np.arange(n_frames))
    assert np.isnan(series.points[6]).all()


def test_frames_with_nobody_are_kept_as_missing_rows(tmp_path):
    write_frame(tmp_path / "f", 0, [])
    write_frame(tmp_path / "f", 1, [indexed_person(25)])
    series = read_openpose_folder(tmp_path / "f", "front")
    np.testing.assert_array_equal(series.frame, [0, 1])
    assert np.isnan(series.points[0]).all() and np.isfinite(series.points[1, JOINT_INDEX["nose"], :2]).all()


def test_bad_json_names_the_file(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(25)])
    (tmp_path / "f" / "synthetic_000000000001_keypoints.json").write_text('{"people": [')
    with pytest.raises(SampleError) as error:
        read_openpose_folder(tmp_path / "f", "front")
    assert error.value.reason == "bad_json"
    assert "synthetic_000000000001_keypoints.json" in error.value.detail


def test_unknown_number_of_values(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(17)])
    with pytest.raises(SampleError) as error:
        read_openpose_folder(tmp_path / "f", "front")
    assert error.value.reason == "unknown_keypoint_format" and "51 values" in error.value.detail


def test_body25_and_coco18_mixed_in_one_folder(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(25)])
    write_frame(tmp_path / "f", 1, [indexed_person(18)])
    with pytest.raises(SampleError) as error:
        read_openpose_folder(tmp_path / "f", "front")
    assert error.value.reason == "mixed_keypoint_format"


def test_folder_without_frame_files(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "frame_1_keypoints.json").write_text("{}")  # index is not 12 digits
    with pytest.raises(SampleError) as error:
        read_openpose_folder(tmp_path / "f", "front")
    assert error.value.reason == "no_frames"


def test_nobody_in_any_frame(tmp_path):
    write_frame(tmp_path / "f", 0, [])
    write_frame(tmp_path / "f", 1, [])
    with pytest.raises(SampleError) as error:
        read_openpose_folder(tmp_path / "f", "front")
    assert error.value.reason == "no_person_detected"


def test_scores_above_one_are_clipped_to_one_and_counted(tmp_path):
    # Real OpenPose output: scores are not clipped, a few come out a little above 1.
    person = indexed_person(25)
    person[BODY25.index("RHip"), 2] = 1.02
    person[BODY25.index("LKnee"), 2] = 1.0  # exactly 1 is in range: not counted
    write_frame(tmp_path / "f", 0, [person])
    other = indexed_person(25)
    other[BODY25.index("Neck"), 2] = 1.004
    write_frame(tmp_path / "f", 1, [other])
    series = read_openpose_folder(tmp_path / "f", "front")
    assert series.confidence[0, JOINT_INDEX["right_hip"]] == 1.0
    assert series.confidence[1, JOINT_INDEX["neck"]] == 1.0
    assert series.confidence[0, JOINT_INDEX["right_knee"]] == pytest.approx(0.9)
    assert np.nanmax(series.confidence) == 1.0
    assert series.read_notes == {"confidence_clipped": 2}
    np.testing.assert_array_equal(series.points[0, JOINT_INDEX["right_hip"], :2], [10 * BODY25.index("RHip") + 1, 5 * BODY25.index("RHip") + 2])


def test_a_clean_folder_has_no_read_notes(tmp_path):
    write_frame(tmp_path / "f", 0, [indexed_person(25)])
    assert read_openpose_folder(tmp_path / "f", "front").read_notes == {}


# --- choosing and following the performer, exactly (make mutation) -------------------------------


def test_of_people_of_one_size_the_one_nearest_the_image_centre_is_the_performer(tmp_path):
    folder = tmp_path / "f"
    left, centre, right = figure(200, 360, 300), figure(640, 360, 300), figure(1080, 360, 300)
    write_frame(folder, 0, [left, right, centre])
    series = read_openpose_folder(folder, "front")
    nose = BODY25.index("Nose")
    np.testing.assert_allclose(series.points[0, JOINT_INDEX["nose"], 0], centre[nose, 0], rtol=1e-6)


def test_the_tracking_cost_is_the_mean_shared_joint_step_and_the_size_change_in_body_sizes():
    from formset.tasks.readers.openpose import _boxes, _track_cost

    last = np.array([[0.0, 0.0, 0.9], [0.0, 10.0, 0.9], [0.0, 20.0, 0.9]])
    moved = last + [[3.0, 4.0, 0.0], [6.0, 8.0, 0.0], [6.0, 8.0, 0.0]]  # steps 5, 10, 10 px
    half_seen = last + [[6.0, 8.0, 0.0], [6.0, 8.0, 0.0], [0.0, 0.0, 0.0]]
    half_seen[2, :2] = np.nan  # the third joint not detected: steps 10, 10 over the two shared
    candidates = np.stack([moved, half_seen])
    centre, size = _boxes(candidates)
    cost, step = _track_cost(last, candidates, centre, size, body_size=20.0)
    reference = np.maximum(size, 20.0)
    np.testing.assert_allclose(step, [25 / 3 / reference[0], 10 / reference[1]])
    np.testing.assert_allclose(cost, step + np.abs(size - 20.0) / reference)


def test_a_frame_file_that_cannot_be_read_names_itself(tmp_path):
    folder = tmp_path / "f"
    write_frame(folder, 0, [figure(640, 360, 300)])
    (folder / "synthetic_000000000001_keypoints.json").mkdir()  # not a file
    with pytest.raises(SampleError) as raised:
        read_openpose_folder(folder, "front")
    assert raised.value.reason == "unreadable_file"
    assert raised.value.detail.startswith("synthetic_000000000001_keypoints.json cannot be read: ")
