"""Kinect v2 CSV reader, on synthetic files whose values are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from formset.quarantine import SampleError
from formset.schemas.skeleton import JOINT_INDEX
from formset.tasks.readers.kinect import KINECT_JOINTS, read_kinect_csv

N_FRAMES = 4
KNEE_LEFT = KINECT_JOINTS.index("KneeLeft")
HEAD = KINECT_JOINTS.index("Head")
FOOT_RIGHT = KINECT_JOINTS.index("FootRight")


def synthetic_skeleton() -> tuple[np.ndarray, np.ndarray]:
    """Synthetic Kinect joints: xyz ``(frame, kinect_joint, 3)`` in metres, state ``(frame, kinect_joint)``.

    Coordinate = frame + joint / 100 + axis / 1000, so every value says where it came from;
    KneeLeft is inferred in frame 1 and not tracked in frame 2, everything else tracked.
    """
    frame, joint, axis = np.meshgrid(np.arange(N_FRAMES), np.arange(25), np.arange(3), indexing="ij")
    xyz = frame + joint / 100 + axis / 1000
    state = np.full((N_FRAMES, 25), 2)
    state[1, KNEE_LEFT] = 1
    state[2, KNEE_LEFT] = 0
    return xyz, state


def raw_rows(xyz: np.ndarray, state: np.ndarray, trailing: str = "") -> list[str]:
    fields = np.concatenate([xyz, state[..., None]], axis=-1).reshape(len(xyz), -1)
    return [",".join(f"{v:g}" for v in row) + trailing for row in fields]


def header_text(xyz: np.ndarray, state: np.ndarray, joints=KINECT_JOINTS, with_state=True) -> str:
    names = ["frame"]
    for joint in joints:
        names += [f"{joint}_x", f"{joint}_y", f"{joint}_z"] + ([f"{joint}_state"] if with_state else [])
    lines = [",".join(names)]
    for f in range(len(xyz)):
        cells = [str(f)]
        for joint in joints:
            j = KINECT_JOINTS.index(joint)
            cells += [f"{v:g}" for v in xyz[f, j]] + ([str(state[f, j])] if with_state else [])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write(tmp_path, text: str, name: str = "synthetic_kinect.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_both_layouts_give_identical_arrays(tmp_path):
    xyz, state = synthetic_skeleton()
    raw = read_kinect_csv(write(tmp_path, "\n".join(raw_rows(xyz, state)) + "\n", "raw.csv"))
    headed = read_kinect_csv(write(tmp_path, header_text(xyz, state), "header.csv"))
    np.testing.assert_array_equal(raw.points, headed.points)
    np.testing.assert_array_equal(raw.confidence, headed.confidence)
    np.testing.assert_array_equal(raw.frame, headed.frame)
    np.testing.assert_array_equal(raw.time_s, headed.time_s)
    assert (raw.view, raw.source, raw.units) == ("kinect", "kinect_v2", "m")


def test_values_land_on_canonical_joints_with_state_confidence(tmp_path):
    xyz, state = synthetic_skeleton()
    series = read_kinect_csv(write(tmp_path, "\n".join(raw_rows(xyz, state))))
    knee = JOINT_INDEX["left_knee"]
    np.testing.assert_allclose(series.points[0, knee], xyz[0, KNEE_LEFT], rtol=1e-6)
    np.testing.assert_allclose(series.points[:, JOINT_INDEX["right_toe"]], xyz[:, FOOT_RIGHT], rtol=1e-6)
    # tracked 1.0, inferred 0.5, not tracked missing (coordinates dropped too)
    np.testing.assert_array_equal(series.confidence[:, knee], [1.0, 0.5, np.nan, 1.0])
    assert np.isnan(series.points[2, knee]).all()
    # a 2-D-only canonical joint the Kinect lacks stays missing
    assert np.isnan(series.points[:, JOINT_INDEX["nose"]]).all()
    np.testing.assert_allclose(series.time_s, np.arange(N_FRAMES) / 30.0)


def test_trailing_comma_and_blank_lines_before_first_row(tmp_path):
    xyz, state = synthetic_skeleton()
    plain = read_kinect_csv(write(tmp_path, "\n".join(raw_rows(xyz, state)), "plain.csv"))
    text = "\n\n  \n" + "\r\n".join(raw_rows(xyz, state, trailing=",")) + "\r\n"
    padded = read_kinect_csv(write(tmp_path, text, "padded.csv"))
    np.testing.assert_array_equal(plain.points, padded.points)
    np.testing.assert_array_equal(plain.confidence, padded.confidence)


@pytest.mark.parametrize("units, per_metre", [("cm", 100), ("mm", 1000)])
def test_centimetres_and_millimetres_become_metres(tmp_path, units, per_metre):
    xyz, state = synthetic_skeleton()
    metres = read_kinect_csv(write(tmp_path, header_text(xyz, state), "m.csv"))
    scaled = read_kinect_csv(write(tmp_path, header_text(xyz * per_metre, state), f"{units}.csv"), units=units)
    np.testing.assert_allclose(scaled.points, metres.points, rtol=1e-6)
    assert scaled.units == "m"


def test_unknown_units_are_rejected(tmp_path):
    xyz, state = synthetic_skeleton()
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, header_text(xyz, state)), units="inch")
    assert error.value.reason == "unknown_units"


def test_absent_joint_columns_are_missing_everywhere_and_no_state_means_tracked(tmp_path):
    xyz, state = synthetic_skeleton()
    joints = [j for j in KINECT_JOINTS if j != "Head"]
    series = read_kinect_csv(write(tmp_path, header_text(xyz, state, joints=joints, with_state=False)))
    head = JOINT_INDEX["head"]
    assert np.isnan(series.points[:, head]).all() and np.isnan(series.confidence[:, head]).all()
    knee = JOINT_INDEX["left_knee"]
    np.testing.assert_array_equal(series.confidence[:, knee], np.ones(N_FRAMES))
    np.testing.assert_allclose(series.points[2, knee], xyz[2, KNEE_LEFT], rtol=1e-6)


def test_empty_and_non_number_cells_are_missing_for_that_frame_only(tmp_path):
    xyz, state = synthetic_skeleton()
    text = header_text(xyz, state).replace(f"\n1,{xyz[1, 0, 0]:g},", "\n1,,").replace(
        f",{xyz[3, 3, 1]:g},", ",oops,"
    )
    series = read_kinect_csv(write(tmp_path, text))
    mid_hip, head = JOINT_INDEX["mid_hip"], JOINT_INDEX["head"]
    assert np.isnan(series.points[1, mid_hip]).all() and np.isnan(series.confidence[1, mid_hip])
    assert np.isnan(series.points[3, head]).all()
    assert np.isfinite(series.points[[0, 2, 3], mid_hip]).all()
    assert np.isfinite(series.points[[0, 1, 2], head]).all()


def test_time_column_is_used_and_frame_gaps_are_kept(tmp_path):
    text = "frame,time_s,SpineBase_x,SpineBase_y,SpineBase_z\n0,0.0,1,2,3\n3,0.1,1,2,3\n7,0.25,1,2,3\n"
    series = read_kinect_csv(write(tmp_path, text))
    np.testing.assert_array_equal(series.frame, [0, 3, 7])
    np.testing.assert_allclose(series.time_s, [0.0, 0.1, 0.25])
    np.testing.assert_allclose(series.points[:, JOINT_INDEX["mid_hip"]], [[1, 2, 3]] * 3)
    no_time = "frame,SpineBase_x,SpineBase_y,SpineBase_z\n0,1,2,3\n3,1,2,3\n7,1,2,3\n"
    without_time = read_kinect_csv(write(tmp_path, no_time, "no_time.csv"), fps=10.0)
    np.testing.assert_allclose(without_time.time_s, [0.0, 0.3, 0.7])


def test_truncated_last_row_is_malformed_with_its_line_number(tmp_path):
    xyz, state = synthetic_skeleton()
    rows = raw_rows(xyz, state)
    rows[-1] = ",".join(rows[-1].split(",")[:37])
    text = "\n\n" + "\n".join(rows) + "\n"  # two blank lines: the last row is on line 6
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "malformed_csv"
    assert "synthetic_kinect.csv" in error.value.detail
    assert "line 6" in error.value.detail
    assert "expected 100" in error.value.detail and "found 37" in error.value.detail


def test_wrong_field_count_in_header_layout(tmp_path):
    xyz, state = synthetic_skeleton()
    text = header_text(xyz, state).replace("\n2,", "\n2,9,", 1)
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "malformed_csv" and "line 4" in error.value.detail


@pytest.mark.parametrize("text", ["", "\n\n  \n", "frame,SpineBase_x,SpineBase_y,SpineBase_z\n"])
def test_no_rows_is_an_empty_file(tmp_path, text):
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "empty_file"


def test_joint_with_some_axes_missing_is_a_bad_header(tmp_path):
    text = "SpineBase_x,SpineBase_y\n1,2\n"
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "bad_header" and "SpineBase" in error.value.detail


def test_unknown_header_column_is_named(tmp_path):
    text = "frame,SpineBase_x,SpineBase_y,SpineBase_z,Spine_Base_w\n0,1,2,3,4\n"
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "bad_header" and "spine_base_w" in error.value.detail


def test_decreasing_frame_index_is_rejected(tmp_path):
    text = "frame,SpineBase_x,SpineBase_y,SpineBase_z\n0,1,2,3\n2,1,2,3\n1,1,2,3\n"
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "bad_frame_index" and "line 4" in error.value.detail


def test_missing_file_is_a_sample_error(tmp_path):
    with pytest.raises(SampleError) as error:
        read_kinect_csv(tmp_path / "absent.csv")
    assert error.value.reason == "missing_file"


def test_duplicated_header_column_is_a_bad_header(tmp_path):
    text = "SpineBase_x,SpineBase_y,SpineBase_z,spinebase_x\n1,2,3,4\n"
    with pytest.raises(SampleError) as error:
        read_kinect_csv(write(tmp_path, text))
    assert error.value.reason == "bad_header" and "more than once" in error.value.detail


# --- what the reader refuses and where it says so (make mutation) ---------------------------------


def header_lines(xyz: np.ndarray, state: np.ndarray) -> list[str]:
    """The header layout as lines: line 1 the header, line f + 2 frame f."""
    return header_text(xyz, state).splitlines()


@pytest.mark.parametrize(
    ("frames", "reason", "line", "value"),
    [
        (["-1", "0", "1", "2"], "bad_frame_index", 2, "-1.0"),  # negative (whole, and nothing before it)
        (["0", "1", "1.5", "3"], "bad_frame_index", 4, "1.5"),  # not whole
        (["0", "2", "1", "1"], "bad_frame_index", 4, "1.0"),  # the first of two bad rows is named
    ],
)
def test_frame_numbers_must_be_whole_non_negative_and_increasing(tmp_path, frames, reason, line, value):
    xyz, state = synthetic_skeleton()
    lines = header_lines(xyz, state)
    for f, number in enumerate(frames):
        lines[f + 1] = ",".join([number, *lines[f + 1].split(",")[1:]])
    with pytest.raises(SampleError) as raised:
        read_kinect_csv(write(tmp_path, "\n".join(lines) + "\n"))
    assert (raised.value.reason, raised.value.value) == (reason, value)
    assert raised.value.detail == f"synthetic_kinect.csv, line {line}: frame must be a whole number, increasing from row to row."


def test_time_must_increase_even_by_less_than_a_second(tmp_path):
    xyz, state = synthetic_skeleton()
    lines = header_lines(xyz, state)
    lines[0] = lines[0].replace("frame,", "frame,time_s,", 1)
    for f, seconds in enumerate(["0.0", "0.5", "0.4", "0.6"]):
        number, rest = lines[f + 1].split(",", 1)
        lines[f + 1] = ",".join([number, seconds, rest])
    with pytest.raises(SampleError) as raised:
        read_kinect_csv(write(tmp_path, "\n".join(lines) + "\n"))
    assert (raised.value.reason, raised.value.value) == ("bad_time", "0.4")
    assert raised.value.detail.startswith("synthetic_kinect.csv, line 4: time_s must be a number of seconds")


def test_na_cells_are_missing_and_windows_line_ends_keep_the_line_numbers(tmp_path):
    xyz, state = synthetic_skeleton()
    lines = header_lines(xyz, state)
    cells = lines[2].split(",")
    cells[1:4] = ["na", "NA", "n/a"]  # SpineBase of frame 1
    lines[2] = ",".join(cells)
    series = read_kinect_csv(write(tmp_path, "\r\n".join(lines) + "\r\n"))
    assert np.isnan(series.points[1, JOINT_INDEX["mid_hip"]]).all()
    assert np.isfinite(series.points[0, JOINT_INDEX["mid_hip"]]).all()
    lines[4] = lines[4].rsplit(",", 3)[0]  # frame 3 cut short: line 5 of the file
    with pytest.raises(SampleError) as raised:
        read_kinect_csv(write(tmp_path, "\r\n".join(lines) + "\r\n"))
    assert raised.value.reason == "malformed_csv" and "line 5" in raised.value.detail


def test_a_header_of_unknown_words_says_what_columns_are_expected(tmp_path):
    with pytest.raises(SampleError) as raised:
        read_kinect_csv(write(tmp_path, "hip,knee,ankle\n1,2,3\n"))
    assert raised.value.reason == "bad_header"
    assert raised.value.detail.startswith(
        "synthetic_kinect.csv, line 1: none of the columns is a Kinect joint column; expected frame, time_s and"
    )


def test_a_first_row_of_missing_cells_is_a_frame_with_nobody_not_a_header(tmp_path):
    xyz, state = synthetic_skeleton()
    nobody = ",".join(["na", "NaN", "", "null", "none", "n/a"] * 16 + ["na"] * 4)  # 100 missing cells
    series = read_kinect_csv(write(tmp_path, "\n".join([nobody, *raw_rows(xyz, state)]) + "\n"))
    assert len(series.frame) == N_FRAMES + 1
    assert np.isnan(series.points[0]).all() and np.isfinite(series.points[1:, JOINT_INDEX["head"]]).all()
