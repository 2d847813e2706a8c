"""The keypoints stage and the pose-backend seam, on synthetic sets built in tmp_path."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULTS

from formset.quarantine import Rejection, SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import JOINT_INDEX, JOINTS
from formset.schemas.tables import KEYPOINTS
from formset.storage import to_arrow
from formset.tasks.keypoints import (
    assemble_samples,
    extract_sample,
    is_video_column,
    keypoints_for_samples,
    read_view_outcome,
    series_table,
    series_to_frame,
    source_columns,
)
from formset.tasks.pose.backends import get_backend

PARAMS = replace(DEFAULTS.keypoints, openpose_min_confidence=0.0, min_frames=3, pose_backend="none")
N_FRAMES = 4


def synthetic_series(view: str = "front", n_frames: int = N_FRAMES, image_size=(640, 480)) -> KeypointSeries:
    """Synthetic 2-D series: joint j of frame f at (f + j, 100 + j) px, confidence j / 25."""
    frame, joint = np.meshgrid(np.arange(n_frames), np.arange(len(JOINTS)), indexing="ij")
    points = np.stack([frame + joint, 100.0 + joint, np.full(frame.shape, np.nan)], axis=-1).astype(np.float32)
    confidence = (joint / len(JOINTS)).astype(np.float32)
    return KeypointSeries(
        points=points,
        confidence=confidence,
        frame=np.arange(n_frames) * 2,
        time_s=np.arange(n_frames) / 15.0,
        view=view,
        source="openpose_coco18",
        units="px",
        image_size=image_size,
    )


class SyntheticBackend:
    """Test double of a pose backend: returns a synthetic series and records its calls."""

    name = "synthetic"

    def __init__(self):
        self.calls = []

    def extract(self, video, view):
        self.calls.append((video, view))
        return synthetic_series(view, image_size=(1080, 1920))


def write_kinect(path, n_frames: int = N_FRAMES) -> None:
    rows = ["0.5,0.5,0.5,2"] * 25  # every joint tracked at (0.5, 0.5, 0.5) m
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(rows) for _ in range(n_frames)) + "\n")


def write_openpose(folder, n_frames: int = N_FRAMES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    person = np.tile([100.0, 200.0, 0.9], 25).tolist()
    for f in range(n_frames):
        data = {"people": [{"pose_keypoints_2d": person}]}
        (folder / f"synthetic_{f:012d}_keypoints.json").write_text(json.dumps(data))


def sample_row(sample_id: str = "s1", **sources) -> dict:
    row = {
        "set_id": "synthetic-set",
        "sample_id": sample_id,
        "fps": 30.0,
        "kinect_units": "m",
        **{c: None for c in ("front_video", "diagonal_video", "kinect_csv", "openpose_front", "openpose_diagonal")},
    }
    row.update(sources)
    return row


def test_series_to_frame_round_trips_through_the_arrow_schema():
    series = synthetic_series()
    frame = series_to_frame(series, "synthetic-set", "s1")
    assert list(frame.columns) == KEYPOINTS.names
    table = to_arrow(frame, KEYPOINTS).to_pandas()
    knee = JOINT_INDEX["left_knee"]
    np.testing.assert_array_equal(table["left_knee_x"], series.points[:, knee, 0])
    np.testing.assert_array_equal(table["left_knee_y"], series.points[:, knee, 1])
    assert table["left_knee_z"].isna().all()
    np.testing.assert_array_equal(table["left_knee_conf"], series.confidence[:, knee])
    np.testing.assert_array_equal(table["frame"], [0, 2, 4, 6])
    assert (table["derived_joints"] == "mid_hip").all()
    assert (table["image_width"] == 640).all() and (table["image_height"] == 480).all()


def test_series_to_frame_without_image_size_has_null_size():
    series = synthetic_series(image_size=None)
    table = to_arrow(series_to_frame(series, "synthetic-set", "s1"), KEYPOINTS)
    assert table["image_width"].null_count == N_FRAMES


def test_series_table_puts_each_views_rows_after_the_previous_with_its_own_identity():
    front, side = synthetic_series("front"), synthetic_series("diagonal", n_frames=2, image_size=None)
    table = to_arrow(series_table([("set-a", "s1", front), ("set-b", "s2", side)]), KEYPOINTS).to_pandas()
    assert table["set_id"].tolist() == ["set-a"] * 4 + ["set-b"] * 2
    assert table["sample_id"].tolist() == ["s1"] * 4 + ["s2"] * 2
    assert table["view"].tolist() == ["front"] * 4 + ["diagonal"] * 2
    np.testing.assert_array_equal(table["frame"], [0, 2, 4, 6, 0, 2])
    np.testing.assert_allclose(table["time_s"], [0, 1 / 15, 2 / 15, 3 / 15, 0, 1 / 15])
    assert table["image_width"].iloc[3] == 640 and table["image_height"].iloc[3] == 480
    assert table["image_width"].iloc[4:].isna().all() and table["image_height"].iloc[4:].isna().all()
    knee = JOINT_INDEX["left_knee"]
    np.testing.assert_array_equal(table["left_knee_x"], [*front.points[:, knee, 0], *side.points[:, knee, 0]])
    np.testing.assert_array_equal(table["left_knee_conf"], [*front.confidence[:, knee], *side.confidence[:, knee]])


def test_extract_sample_reads_each_view(tmp_path):
    write_kinect(tmp_path / "kinect" / "s1.csv")
    write_openpose(tmp_path / "op" / "front")
    sample = sample_row(kinect_csv="kinect/s1.csv", openpose_front="op/front", diagonal_video="diag.mp4")
    backend = SyntheticBackend()
    views = extract_sample(sample, tmp_path, PARAMS, backend)
    assert [s.view for s in views] == ["front", "diagonal", "kinect"]
    assert [s.source for s in views] == ["openpose_body25", "openpose_coco18", "kinect_v2"]
    assert backend.calls == [(tmp_path / "diag.mp4", "diagonal")]
    np.testing.assert_allclose(views[2].points[0, JOINT_INDEX["mid_hip"]], [0.5, 0.5, 0.5])


def test_openpose_is_preferred_over_video_for_the_same_view(tmp_path):
    write_openpose(tmp_path / "op" / "front")
    backend = SyntheticBackend()
    views = extract_sample(sample_row(openpose_front="op/front", front_video="front.mp4"), tmp_path, PARAMS, backend)
    assert backend.calls == [] and views[0].source == "openpose_body25"


def test_video_without_backend_is_rejected(tmp_path):
    with pytest.raises(SampleError) as error:
        extract_sample(sample_row(front_video="front.mp4"), tmp_path, PARAMS, None)
    assert error.value.reason == "no_pose_backend" and "front.mp4" in error.value.detail


def test_view_with_too_few_found_frames_is_rejected(tmp_path):
    write_openpose(tmp_path / "op" / "front", n_frames=2)
    (tmp_path / "op" / "front" / "synthetic_000000000009_keypoints.json").write_text('{"people": []}')
    with pytest.raises(SampleError) as error:
        extract_sample(sample_row(openpose_front="op/front"), tmp_path, PARAMS, None)
    assert error.value.reason == "too_few_frames" and error.value.value == "2"


def test_sample_without_any_source_is_rejected(tmp_path):
    with pytest.raises(SampleError) as error:
        extract_sample(sample_row(kinect_csv=float("nan")), tmp_path, PARAMS, None)
    assert error.value.reason == "no_source"


def test_keypoints_for_samples_keeps_good_samples_and_quarantines_bad_ones(tmp_path):
    set_dir = tmp_path / "synthetic-set"
    write_kinect(set_dir / "b.csv")
    write_openpose(set_dir / "b_front")
    samples = pd.DataFrame(
        [
            sample_row("b", kinect_csv="b.csv", openpose_front="b_front"),
            sample_row("a", kinect_csv="absent.csv"),
        ]
    )
    table, rejections = keypoints_for_samples(samples, tmp_path, PARAMS)
    assert [(r.sample_id, r.stage, r.reason) for r in rejections] == [("a", "keypoints", "missing_file")]
    assert set(table["sample_id"]) == {"b"}
    assert list(table["view"]) == ["front"] * N_FRAMES + ["kinect"] * N_FRAMES
    assert list(table["frame"]) == list(range(N_FRAMES)) * 2
    assert to_arrow(table, KEYPOINTS).num_rows == 2 * N_FRAMES


def test_keypoints_for_samples_with_every_sample_rejected_is_an_empty_table(tmp_path):
    table, rejections = keypoints_for_samples(pd.DataFrame([sample_row("a")]), tmp_path, PARAMS)
    assert table.empty and list(table.columns) == KEYPOINTS.names
    assert [r.reason for r in rejections] == ["no_source"]


def test_get_backend_none_and_unknown():
    assert get_backend("none", {}) is None
    with pytest.raises(ValueError, match="none"):
        get_backend("no-such-backend", {})


def test_source_columns_name_one_column_per_view_and_which_are_videos():
    sample = sample_row(openpose_front="op/front", front_video="front.mp4", diagonal_video="diag.mp4")
    columns = source_columns(sample)
    assert columns == {"front": "openpose_front", "diagonal": "diagonal_video"}
    assert [is_video_column(c) for c in columns.values()] == [False, True]
    assert source_columns(sample_row(kinect_csv=float("nan"))) == {}


def test_read_view_outcome_returns_a_picklable_rejection(tmp_path):
    outcome = read_view_outcome(sample_row("a", kinect_csv="absent.csv"), "kinect_csv", tmp_path, PARAMS, None)
    assert isinstance(outcome, Rejection)
    assert (outcome.set_id, outcome.sample_id, outcome.stage, outcome.reason) == (
        "synthetic-set", "a", "keypoints", "missing_file"
    )
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_assemble_samples_matches_the_serial_reading(tmp_path):
    set_dir = tmp_path / "synthetic-set"
    write_kinect(set_dir / "b.csv")
    write_openpose(set_dir / "b_front")
    rows = [
        sample_row("b", kinect_csv="b.csv", openpose_front="b_front", diagonal_video="b.mp4"),
        sample_row("a", kinect_csv="absent.csv", diagonal_video="a.mp4"),
    ]
    samples = pd.DataFrame(rows)
    backend = SyntheticBackend()
    outcomes = {
        row["sample_id"]: {
            view: read_view_outcome(row, column, set_dir, PARAMS, backend)
            for view, column in reversed(source_columns(row).items())  # arrival order must not matter
        }
        for row in rows
    }
    table, rejections = assemble_samples(samples, outcomes)
    serial_table, serial_rejections = keypoints_for_samples(samples, tmp_path, PARAMS, SyntheticBackend())
    pd.testing.assert_frame_equal(table, serial_table)
    assert rejections == serial_rejections == [
        Rejection("synthetic-set", "a", "keypoints", "missing_file", rejections[0].detail, rejections[0].value)
    ]


def test_assemble_samples_rejects_the_whole_sample_with_its_first_failing_view():
    good = synthetic_series("front")
    diagonal_error = Rejection("synthetic-set", "s1", "keypoints", "unreadable_video", "diagonal is damaged")
    kinect_error = Rejection("synthetic-set", "s1", "keypoints", "missing_file", "kinect is missing")
    samples = pd.DataFrame([sample_row("s1"), sample_row("s2")])
    outcomes = {"s1": {"kinect": kinect_error, "front": good, "diagonal": diagonal_error}}
    table, rejections = assemble_samples(samples, outcomes)
    assert table.empty
    assert [(r.sample_id, r.reason) for r in rejections] == [("s1", "unreadable_video"), ("s2", "no_source")]
