"""Ingest on the synthetic set of conftest.py: accepted whole when valid; each bad case, made
in an otherwise valid copy, quarantines only the bad sample(s) with the right reason."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from formset.schemas.tables import FILES, SAMPLES, SETS
from formset.storage import to_arrow
from formset.tasks.ingest import ingest_set

EXERCISES = ("squat", "lunge", "push_up")
ALL_SAMPLES = {"sq_01", "sq_02", "lu_01"}


def read_rows(set_dir: Path) -> list[dict[str, str]]:
    with (set_dir / "samples.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


def write_rows(set_dir: Path, rows: list[dict[str, str]]) -> None:
    with (set_dir / "samples.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def edit(set_dir: Path, target: str, /, **cells: str) -> None:
    """Change cells of the row whose sample_id is ``target`` in samples.csv."""
    rows = read_rows(set_dir)
    next(row for row in rows if row["sample_id"] == target).update(cells)
    write_rows(set_dir, rows)


def outcome(set_dir: Path) -> tuple[set[str], dict[str, str]]:
    """(accepted sample_ids, sample_id -> quarantine reason) of ingesting ``set_dir``."""
    result = ingest_set(set_dir, EXERCISES)
    assert all(r.stage == "ingest" and r.set_id == set_dir.name for r in result.rejections)
    return set(result.samples["sample_id"]), {r.sample_id: r.reason for r in result.rejections}


def assert_only_quarantined(set_dir: Path, expected: dict[str, str]) -> None:
    accepted, quarantined = outcome(set_dir)
    assert quarantined == expected
    assert accepted == ALL_SAMPLES - set(expected)


def test_a_valid_set_is_accepted_whole(synthetic_set):
    result = ingest_set(synthetic_set, EXERCISES)

    assert result.rejections == []
    assert list(result.set_row) == SETS.names
    assert result.set_row["created"] == "2024-01-15"
    assert (result.set_row["n_rows"], result.set_row["n_accepted"]) == (3, 3)
    to_arrow(pd.DataFrame([result.set_row]), SETS)
    to_arrow(result.samples, SAMPLES)
    to_arrow(result.files, FILES)

    samples = result.samples.set_index("sample_id")
    assert list(samples.index) == ["lu_01", "sq_01", "sq_02"]
    assert samples.loc["sq_02", ["fault_left_knee", "fault_right_knee", "fault_torso"]].tolist() == [1, 1, 0]
    assert samples.loc["sq_02", "fps"] == 25.0 and samples.loc["sq_01", "fps"] == 30.0
    assert samples.loc["sq_01", ["age", "gender", "height_cm", "weight_kg"]].tolist() == [34, "female", 168.0, 61.5]
    assert pd.isna(samples.loc["lu_01", "label"]) and pd.isna(samples.loc["lu_01", "fault_neck"])
    assert samples.loc["sq_01", "openpose_front"] == "openpose/sq_01_front"

    files = result.files
    assert files.groupby("sample_id").size().to_dict() == {"lu_01": 1, "sq_01": 13, "sq_02": 24}
    assert set(files.loc[files["sample_id"] == "sq_02", "role"]) == {"openpose_front", "openpose_diagonal"}
    for row in files.itertuples():
        data = (synthetic_set / row.path).read_bytes()
        assert (row.sha256, row.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    kinect_sha = hashlib.sha256((synthetic_set / "kinect/lu_01.csv").read_bytes()).hexdigest()
    line = f"kinect_csv\tkinect/lu_01.csv\t{kinect_sha}\n"
    assert samples.loc["lu_01", "content_key"] == hashlib.sha256(line.encode()).hexdigest()


@pytest.mark.parametrize(("set_fps", "expected"), [("fps: 20\n", 20.0), ("", 30.0)])
def test_fps_comes_from_the_row_else_set_yaml_else_30(synthetic_set, set_fps, expected):
    set_yaml = synthetic_set / "set.yaml"
    kept = [line for line in set_yaml.read_text().splitlines(True) if not line.startswith("fps")]
    set_yaml.write_text("".join(kept) + set_fps)
    fps = ingest_set(synthetic_set, EXERCISES).samples.set_index("sample_id")["fps"]
    assert fps.to_dict() == {"lu_01": expected, "sq_01": expected, "sq_02": 25.0}


def test_a_missing_file_quarantines_its_sample(synthetic_set):
    (synthetic_set / "kinect/lu_01.csv").unlink()
    assert_only_quarantined(synthetic_set, {"lu_01": "missing_file"})


def test_a_duplicate_sample_id_quarantines_every_row_sharing_it(synthetic_set):
    rows = read_rows(synthetic_set)
    write_rows(synthetic_set, rows + [dict(rows[0])])
    result = ingest_set(synthetic_set, EXERCISES)
    assert [(r.sample_id, r.reason) for r in result.rejections] == [("sq_01", "duplicate_sample_id")] * 2
    assert "rows 2, 5" in result.rejections[0].detail
    assert set(result.samples["sample_id"]) == {"sq_02", "lu_01"}
    assert set(result.files["sample_id"]) == {"sq_02", "lu_01"}


@pytest.mark.parametrize("sample_id", ["Sq_02", "sq 02", "", "-sq"])
def test_a_sample_id_that_is_not_a_slug_is_quarantined(synthetic_set, sample_id):
    edit(synthetic_set, "sq_02", sample_id=sample_id)
    result = ingest_set(synthetic_set, EXERCISES)
    assert [(r.sample_id, r.reason) for r in result.rejections] == [(sample_id, "bad_sample_id")]
    assert set(result.samples["sample_id"]) == {"sq_01", "lu_01"}


def test_an_unknown_exercise_is_quarantined(synthetic_set):
    edit(synthetic_set, "lu_01", exercise="underwater_basket_weaving")
    assert_only_quarantined(synthetic_set, {"lu_01": "unknown_exercise"})


def test_a_label_outside_the_vocabulary_is_quarantined_with_an_actionable_detail(synthetic_set):
    edit(synthetic_set, "sq_02", label="corect")
    result = ingest_set(synthetic_set, EXERCISES)
    (rejection,) = result.rejections
    assert (rejection.sample_id, rejection.reason, rejection.value) == ("sq_02", "bad_label", "corect")
    assert rejection.detail == (
        "row 3 (sample_id 'sq_02'), column 'label': 'corect' is not one of correct, incorrect, or empty"
    )
    assert set(result.samples["sample_id"]) == {"sq_01", "lu_01"}


def test_a_fault_on_a_correct_row_is_quarantined(synthetic_set):
    edit(synthetic_set, "sq_01", fault_torso="1")
    assert_only_quarantined(synthetic_set, {"sq_01": "fault_on_correct"})


def test_a_fault_value_other_than_1_0_or_empty_is_quarantined(synthetic_set):
    edit(synthetic_set, "sq_02", fault_neck="yes")
    assert_only_quarantined(synthetic_set, {"sq_02": "bad_fault"})


@pytest.mark.parametrize("escape", ["parent", "absolute", "file_link", "folder_link", "frame_link"])
def test_a_path_escaping_the_set_dir_is_quarantined(synthetic_set, escape):
    outside = synthetic_set.parent / "outside"
    shutil.copytree(synthetic_set / "openpose/sq_02_front", outside)
    shutil.copy(synthetic_set / "kinect/lu_01.csv", outside / "x.csv")
    if escape == "parent":
        edit(synthetic_set, "lu_01", kinect_csv="../outside/x.csv")  # exists, but outside
    elif escape == "absolute":
        edit(synthetic_set, "lu_01", kinect_csv="/etc/passwd")
    elif escape == "file_link":
        os.symlink(outside / "x.csv", synthetic_set / "kinect/link.csv")
        edit(synthetic_set, "lu_01", kinect_csv="kinect/link.csv")
    elif escape == "folder_link":
        os.symlink(outside, synthetic_set / "openpose/link")
        edit(synthetic_set, "lu_01", openpose_front="openpose/link")
    else:  # one JSON frame of an inside folder links out
        os.symlink(outside / "x.csv", synthetic_set / "openpose/sq_01_front/x_000000000099_keypoints.json")
        edit(synthetic_set, "lu_01", openpose_front="openpose/sq_01_front")
        edit(synthetic_set, "sq_01", openpose_front="")
    assert_only_quarantined(synthetic_set, {"lu_01": "path_escape"})


def test_symlinks_and_dots_that_stay_inside_the_set_are_accepted(synthetic_set):
    os.symlink(synthetic_set / "kinect/lu_01.csv", synthetic_set / "kinect/alias.csv")
    edit(synthetic_set, "lu_01", kinect_csv="./kinect/../kinect/alias.csv")
    result = ingest_set(synthetic_set, EXERCISES)
    assert result.rejections == []
    assert result.samples.set_index("sample_id").loc["lu_01", "kinect_csv"] == "kinect/alias.csv"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("age", "4"),
        ("age", "101"),
        ("age", "thirty"),
        ("age", "30.5"),
        ("gender", "f"),
        ("height_cm", "1.80"),
        ("weight_kg", "300"),
        ("rep_count", "-1"),
        ("fps", "0"),
        ("fps", "inf"),
    ],
)
def test_a_performer_value_out_of_range_is_quarantined(synthetic_set, column, value):
    edit(synthetic_set, "sq_01", **{column: value})
    result = ingest_set(synthetic_set, EXERCISES)
    (rejection,) = result.rejections
    assert (rejection.sample_id, rejection.reason, rejection.value) == ("sq_01", "bad_value", value)
    assert f"column '{column}': '{value}' is not" in rejection.detail
    assert set(result.samples["sample_id"]) == {"sq_02", "lu_01"}


def test_a_row_without_any_source_is_quarantined(synthetic_set):
    edit(synthetic_set, "lu_01", kinect_csv="")
    assert_only_quarantined(synthetic_set, {"lu_01": "no_source"})


@pytest.mark.parametrize(
    ("column", "named"),
    [
        ("kinect_csv", "openpose/sq_01_front"),  # a folder where a file is due
        ("openpose_front", "kinect/lu_01.csv"),  # a file where a folder is due
        ("openpose_front", "openpose/empty"),  # a folder without JSON frames
    ],
)
def test_a_source_of_the_wrong_kind_is_quarantined(synthetic_set, column, named):
    (synthetic_set / "openpose/empty").mkdir()
    (synthetic_set / "openpose/empty/notes.txt").write_text("no frames here")
    edit(synthetic_set, "lu_01", **{column: named})
    assert_only_quarantined(synthetic_set, {"lu_01": "bad_source"})


def test_every_problem_of_a_row_is_reported_and_the_first_gives_the_reason(synthetic_set):
    edit(synthetic_set, "sq_01", label="ok", age="200", kinect_csv="kinect/gone.csv")
    (rejection,) = ingest_set(synthetic_set, EXERCISES).rejections
    assert rejection.reason == "bad_label"
    assert rejection.detail.startswith("row 2 (sample_id 'sq_01'), column 'label': 'ok'")
    assert "; column 'age': '200' is not" in rejection.detail
    assert "; column 'kinect_csv': 'kinect/gone.csv' does not exist" in rejection.detail


LATIN1_CSV = "sample_id,subject_id,exercise\nsq_01,J\xfcrgen,squat\n".encode("latin-1")


def _rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "set.yaml").unlink(), "missing_set_yaml"),
        (lambda d: (d / "set.yaml").write_text("set_id: [unclosed\n"), "bad_set_yaml"),
        (lambda d: (d / "set.yaml").write_text("title: no id\n"), "bad_set_yaml"),
        (lambda d: _rewrite(d / "set.yaml", "set_id: synthetic_set", "set_id: Synthetic Set"), "bad_set_yaml"),
        (lambda d: _rewrite(d / "set.yaml", "set_id: synthetic_set", "set_id: other_set"), "set_id_mismatch"),
        (lambda d: _rewrite(d / "set.yaml", "fps: 30", "fps: -5"), "bad_set_yaml"),
        (lambda d: _rewrite(d / "set.yaml", "kinect_units: m", "kinect_units: inch"), "bad_set_yaml"),
        (lambda d: (d / "samples.csv").unlink(), "missing_samples_csv"),
        (lambda d: _rewrite(d / "samples.csv", "exercise,", "movement,"), "missing_columns"),
        (lambda d: (d / "samples.csv").write_bytes(LATIN1_CSV), "bad_samples_csv"),
        (lambda d: _rewrite(d / "samples.csv", "lu_01", '"lu_01'), "bad_samples_csv"),
    ],
)  # fmt: skip
def test_a_broken_set_yaml_or_samples_csv_rejects_the_whole_set(synthetic_set, damage, reason):
    damage(synthetic_set)
    result = ingest_set(synthetic_set, EXERCISES)
    assert result.set_row is None
    assert result.samples.empty and result.files.empty
    assert list(result.samples.columns) == SAMPLES.names and list(result.files.columns) == FILES.names
    (rejection,) = result.rejections
    assert (rejection.set_id, rejection.sample_id, rejection.reason) == ("synthetic_set", None, reason)


def test_extra_columns_are_kept_as_sorted_json_metadata(synthetic_set):
    rows = read_rows(synthetic_set)
    for row in rows:
        row["camera"] = "phone 2"
    write_rows(synthetic_set, rows)
    metadata = ingest_set(synthetic_set, EXERCISES).samples.set_index("sample_id")["metadata"]
    assert metadata["sq_01"] == '{"camera": "phone 2", "session": "morning"}'
    assert metadata["lu_01"] == '{"camera": "phone 2", "session": ""}'


def test_spreadsheet_quirks_are_accepted_and_lines_are_counted_as_in_the_file(synthetic_set):
    samples_csv = synthetic_set / "samples.csv"
    header, *rows = samples_csv.read_text().splitlines()
    rows[2] = rows[2].replace("lunge", "lunch")
    # BOM, CRLF, trailing commas, a blank line and an all-empty row (line 4) before lu_01.
    text = "\r\n".join([header + ",", rows[0] + ",", rows[1] + ",", "", ",,,", rows[2] + ","]) + "\r\n"
    samples_csv.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = ingest_set(synthetic_set, EXERCISES)
    (rejection,) = result.rejections
    assert rejection.reason == "unknown_exercise"
    assert rejection.detail.startswith("row 6 (sample_id 'lu_01'), column 'exercise': 'lunch'")
    assert set(result.samples["sample_id"]) == {"sq_01", "sq_02"}
    assert result.set_row["n_rows"] == 3
    assert result.samples.set_index("sample_id").loc["sq_01", "metadata"] == '{"session": "morning"}'


def test_a_row_with_too_many_fields_is_quarantined(synthetic_set):
    samples_csv = synthetic_set / "samples.csv"
    samples_csv.write_text(samples_csv.read_text().replace("lunge,", "lunge,extra,", 1))
    assert_only_quarantined(synthetic_set, {"lu_01": "bad_row"})


def test_ingest_is_deterministic_and_independent_of_where_the_set_lies(synthetic_set, tmp_path):
    first = ingest_set(synthetic_set, EXERCISES)
    again = ingest_set(synthetic_set, EXERCISES)
    moved = ingest_set(shutil.copytree(synthetic_set, tmp_path / "elsewhere" / "synthetic_set"), EXERCISES)
    for other in (again, moved):
        assert other.set_row == first.set_row
        pd.testing.assert_frame_equal(other.samples, first.samples)
        pd.testing.assert_frame_equal(other.files, first.files)


def test_content_key_follows_source_files_not_labels(synthetic_set):
    def state() -> tuple[dict[str, str], str]:
        result = ingest_set(synthetic_set, EXERCISES)
        return result.samples.set_index("sample_id")["content_key"].to_dict(), result.set_row["set_hash"]

    keys, set_hash = state()
    edit(synthetic_set, "sq_01", label="incorrect", fault_torso="1")
    relabeled_keys, relabeled_hash = state()
    assert relabeled_keys == keys and relabeled_hash != set_hash

    with (synthetic_set / "kinect/sq_01.csv").open("a") as stream:
        stream.write("12,0.4,\n")
    changed_keys, changed_hash = state()
    assert changed_keys["sq_01"] != keys["sq_01"]
    assert {s: changed_keys[s] for s in ("sq_02", "lu_01")} == {s: keys[s] for s in ("sq_02", "lu_01")}
    assert changed_hash != relabeled_hash


# --- what a rejection says, and the set's content hash (make mutation) ----------------------------


def details(set_dir: Path) -> dict[str, tuple[str, str, str | None]]:
    """sample_id -> (reason, detail, value) of the rejections of ingesting ``set_dir``."""
    return {r.sample_id: (r.reason, r.detail, r.value) for r in ingest_set(set_dir, EXERCISES).rejections}


def test_a_rejection_says_every_problem_of_its_row_and_keeps_the_first_ones_reason_and_value(synthetic_set):
    edit(synthetic_set, "sq_01", fault_torso="1", fault_neck="1", age="thirty")
    assert details(synthetic_set)["sq_01"] == (
        "fault_on_correct",
        "row 2 (sample_id 'sq_01'), column 'label': is 'correct' but fault_torso, fault_neck = 1: a correct "
        "execution has no faults, fix the label or the fault; column 'age': 'thirty' is not a whole number from "
        "5 to 100 (years)",
        "correct",
    )


def test_leading_out_of_the_set_says_so_rather_than_calling_it_a_link(synthetic_set):
    outside = synthetic_set.parent / "outside"
    outside.mkdir()
    shutil.copy(synthetic_set / "kinect/lu_01.csv", outside / "x.csv")
    edit(synthetic_set, "lu_01", kinect_csv="../outside/x.csv")
    reason, detail, value = details(synthetic_set)["lu_01"]
    assert (reason, value) == ("path_escape", "../outside/x.csv")
    assert detail == (
        "row 4 (sample_id 'lu_01'), column 'kinect_csv': '../outside/x.csv' leads out of the set folder ('..'): "
        "keep files inside it"
    )


def test_a_file_named_where_an_openpose_folder_is_due_is_a_bad_source(synthetic_set):
    edit(synthetic_set, "lu_01", openpose_front="kinect/lu_01.csv")
    reason, detail, _ = details(synthetic_set)["lu_01"]
    assert reason == "bad_source"
    assert detail == (
        "row 4 (sample_id 'lu_01'), column 'openpose_front': 'kinect/lu_01.csv' is a file, but openpose_front "
        "must name a folder of OpenPose .json files"
    )


def test_the_set_hash_is_sha256_over_the_set_files_and_each_distinct_source():
    from formset.tasks.ingest import set_hash

    files = pd.DataFrame({"path": ["b.csv", "a.csv", "a.csv"], "sha256": ["22", "11", "11"]})
    text = (
        f"set.yaml\t{hashlib.sha256(b'y').hexdigest()}\nsamples.csv\t{hashlib.sha256(b's').hexdigest()}\n"
        "a.csv\t11\nb.csv\t22\n"
    )
    assert set_hash(b"y", b"s", files) == hashlib.sha256(text.encode()).hexdigest()
