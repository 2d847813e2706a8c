"""``formset add-set`` and ``formset sets`` in throw-away git + DVC projects, on tiny
generated deliveries, without Prefect flows or the pipeline."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import dvc.api
import pandas as pd
import pytest
from conftest import CUT_DECODED_FRAMES, REAL_FRAMES, REAL_VIDEO, cut_real_video, git_dvc_project
from typer.testing import CliRunner

from formset import catalog, cli, gitops
from formset.config import Project
from formset.locking import project_lock
from formset.registry import copy_hashed, read_registry, recover_staging, store_object
from formset.tasks import ingest
from formset.tasks.delivery import WHOLE_SAMPLE, label_changes
from formset.tasks.synthetic.generator import generate_set
from formset.versioning import dvc as run_dvc

pytestmark = pytest.mark.usefixtures("no_global_git_identity")
SET_ID = "lab-a"
#: The delivery folder is named otherwise than its set_id: it is stored as data/sets/<set_id>.
DELIVERY = "delivery-2024-05"
EXERCISES = ("squat", "push_up")  # those of the generated delivery


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """A git + DVC project with the pipeline's files that the CLI finds through
    ``FORMSET_ROOT``; Prefect and DVC state of this test only (``runtime.configure`` keeps
    what is already set)."""
    root = git_dvc_project(tmp_path / "project")
    monkeypatch.setenv("FORMSET_ROOT", str(root))
    monkeypatch.setenv("PREFECT_HOME", str(root / ".prefect"))
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    monkeypatch.setattr(cli.console, "width", 240)  # no wrapped report lines to match
    return Project(root)


@pytest.fixture(scope="module")
def generated_delivery(tmp_path_factory) -> Path:
    """A generated set (2 people, 24 samples), written once per module."""
    set_dir = tmp_path_factory.mktemp("generated") / DELIVERY
    generate_set(set_dir, set_id=SET_ID, n_subjects=2, seed=0)
    return set_dir


@pytest.fixture
def delivery(tmp_path, generated_delivery) -> Path:
    """A fresh copy of the generated delivery, free to edit."""
    return Path(shutil.copytree(generated_delivery, tmp_path / "inbox" / DELIVERY))


def edit_samples(set_dir: Path, edits: dict[tuple[int, str], str]) -> list[dict]:
    """Set ``(row index, column) -> value`` in samples.csv (a new column is added, empty in
    the other rows); return the rows as they were."""
    path = set_dir / "samples.csv"
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    before = [dict(row) for row in rows]
    for (index, column), value in edits.items():
        rows[index][column] = value
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(dict.fromkeys(column for row in rows for column in row)))
        writer.writeheader()
        writer.writerows(rows)
    return before


def report_rows(output: str) -> list[list[str]]:
    """add-set's problem table as ``[line, sample_id, column, problem]`` rows; a problem
    wrapped over several lines of the table is joined back with spaces."""
    rows = []
    for text in output.splitlines():
        cells = [cell.strip() for cell in text.split("│")[1:-1]]
        if len(cells) != 4:
            continue
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1][3] += " " + cells[3]
    return rows


def add_set(*args: str):
    return CliRunner().invoke(cli.app, ["add-set", *map(str, args)])


def dvc_status(project: Project) -> str:
    return run_dvc(project, "status", str(project.path(catalog.DELIVERED_SETS).with_suffix(".dvc").relative_to(project.root)))


def commits(project: Project) -> list[str]:
    return gitops.git(project, "log", "--format=%H", check=False).stdout.split()


def test_an_accepted_delivery_is_copied_tracked_registered_and_committed(project, delivery):
    result = add_set(delivery)
    assert result.exit_code == 0, result.output
    assert f"added set {SET_ID} as version 1" in result.output
    stored = project.path(catalog.DELIVERED_SETS) / SET_ID
    assert (stored / "samples.csv").read_bytes() == (delivery / "samples.csv").read_bytes()
    assert sorted(p.relative_to(stored) for p in stored.rglob("*")) == sorted(p.relative_to(delivery) for p in delivery.rglob("*"))
    assert [p.name for p in project.path(catalog.DELIVERED_SETS).iterdir()] == [SET_ID]  # no staging left behind
    assert (project.root / "data" / "sets.dvc").is_file()
    # Every file was stored in DVC's cache as it was copied: DVC recorded exactly those.
    objects = project.root / ".dvc" / "cache" / "files" / "md5"
    csv_md5 = hashlib.md5((stored / "samples.csv").read_bytes()).hexdigest()
    assert (objects / csv_md5[:2] / csv_md5[2:]).stat().st_ino == (stored / "samples.csv").stat().st_ino
    assert "up to date" in dvc_status(project)
    (entry,) = read_registry(project)[SET_ID]
    assert entry["version"] == 1 and entry["n_samples"] == 24 and entry["source"] == str(delivery)
    assert entry["labels"] == {"correct": 12, "incorrect": 12, "unlabeled": 0} and entry["n_labeled"] == 24
    (head,) = commits(project)
    assert gitops.git(project, "log", "-1", "--format=%s").stdout.strip() == f"add-set {SET_ID} v1"
    committed = gitops.git(project, "show", "--name-only", "--format=", head).stdout.split()
    assert {"data/sets.dvc", "data/registry.json", "data/.gitignore"} <= set(committed)


def test_a_delivery_with_bad_rows_is_refused_with_a_report_and_nothing_changes(project, delivery):
    rows = edit_samples(delivery, {(1, "label"): "good", (4, "kinect_csv"): "../../outside.csv"})
    result = add_set(delivery)
    assert result.exit_code == 1
    # Line 3 of samples.csv is row 1 (line 1 is the header); each problem names its cell.
    assert f"│ 3    │ {rows[1]['sample_id']} │ label      │ 'good' is not one of correct, incorrect, or empty" in result.output
    assert f"│ 6    │ {rows[4]['sample_id']} │ kinect_csv │ '../../outside.csv' leads out of the set folder" in result.output
    assert "Refused: nothing was added" in result.output and "--allow-quarantine" in result.output
    assert list(project.path(catalog.DELIVERED_SETS).iterdir()) == []
    assert not project.path(catalog.SET_REGISTRY).exists() and commits(project) == []


def test_every_video_is_probed_to_its_end_and_a_bad_one_is_a_row_problem(project, delivery):
    videos = delivery / "video"
    videos.mkdir()
    shutil.copy(REAL_VIDEO, videos)  # the real video, whole
    cut_real_video(videos / "cut_index_first.mp4", index_at="first")  # opens, decodes 64 frames
    cut_real_video(videos / "cut_index_last.mp4", index_at="last")  # does not open
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.mp4").write_text("squat, subject 3, second take\n")
    # Each video is its view's only 2-D source, as the keypoints stage will read it.
    rows = edit_samples(delivery, {
        (0, "front_video"): "video/squat_side.mp4", (0, "openpose_front"): "",
        (1, "front_video"): "video/cut_index_first.mp4", (1, "openpose_front"): "",
        (2, "diagonal_video"): "video/cut_index_last.mp4", (2, "openpose_diagonal"): "", (2, "label"): "good",
        (3, "front_video"): "video/empty.mp4", (3, "openpose_front"): "",
        (3, "diagonal_video"): "video/notes.mp4", (3, "openpose_diagonal"): "",
        (4, "front_video"): "video/absent.mp4", (4, "openpose_front"): "",
    })  # fmt: skip
    result = add_set(delivery)
    assert result.exit_code == 1, result.output
    ids = [row["sample_id"] for row in rows]
    expected = [
        ["3", ids[1], "front_video", f"cut_index_first.mp4: decoded {CUT_DECODED_FRAMES} of {REAL_FRAMES} frames (to 2.1 s of 20.5 s; "
         "at least 90% of it must decode, keypoints.min_decoded_fraction): the file was cut off, as when a copy or "
         "transfer is interrupted. Deliver the whole file again."],
        ["4", ids[2], "label", "'good' is not one of correct, incorrect, or empty"],  # ingest's, then the video's
        ["4", ids[2], "diagonal_video", "cut_index_last.mp4 could not be opened as a video by OpenCV 4.11.0 (FFmpeg backend): "
         "the MP4/MOV file ends after 354,238 bytes, inside its 'mdat' box, which runs to byte 2,458,451"],
        ["5", ids[3], "front_video", "The video file empty.mp4 is empty (0 bytes)."],
        ["5", ids[3], "diagonal_video", "notes.mp4 could not be opened as a video by OpenCV 4.11.0 (FFmpeg backend): "
         "it does not start like a video file"],
        ["6", ids[4], "front_video", "'video/absent.mp4' does not exist in the set folder"],  # not probed again
    ]  # fmt: skip
    report = report_rows(result.output)
    assert [row[:3] for row in report] == [row[:3] for row in expected]
    for row, (*_, says) in zip(report, expected):
        assert row[3].startswith(says)
    assert "Refused: nothing was added. 4 row(s) of samples.csv have problems" in result.output
    assert list(project.path(catalog.DELIVERED_SETS).iterdir()) == []

    result = add_set(delivery, "--allow-quarantine")
    assert result.exit_code == 0, result.output
    assert "4 row(s) with problems will be quarantined by the pipeline" in result.output


def test_a_set_id_that_is_not_a_slug_refuses_the_whole_delivery(project, delivery):
    (delivery / "set.yaml").write_text((delivery / "set.yaml").read_text().replace(f"set_id: {SET_ID}", "set_id: Lab A"))
    result = add_set(delivery)
    assert result.exit_code == 1
    assert "Refused, nothing was added" in result.output and "set_id 'Lab A' is not valid" in result.output
    assert not project.path(catalog.DELIVERED_SETS).exists() or list(project.path(catalog.DELIVERED_SETS).iterdir()) == []


def test_allow_quarantine_adds_the_set_and_says_which_rows_the_pipeline_will_quarantine(project, delivery):
    edit_samples(delivery, {(2, "label"): "good"})
    result = add_set(delivery, "--allow-quarantine")
    assert result.exit_code == 0, result.output
    assert "1 row(s) with problems will be quarantined by the pipeline" in result.output
    (entry,) = read_registry(project)[SET_ID]
    assert (entry["n_samples"], entry["n_accepted"]) == (24, 23)
    assert (project.path(catalog.DELIVERED_SETS) / SET_ID / "samples.csv").read_bytes() == (delivery / "samples.csv").read_bytes()


def test_a_relabel_is_the_next_version_listing_exactly_the_changed_cells(project, delivery):
    assert add_set(delivery).exit_code == 0
    (first,) = commits(project)
    old_csv = (delivery / "samples.csv").read_text()
    rows = edit_samples(delivery, {(0, "label"): "incorrect", (0, "fault_torso"): "1"})
    assert (rows[0]["label"], rows[0]["fault_torso"]) == ("correct", "0")

    result = add_set(delivery)
    assert result.exit_code == 0, result.output
    assert f"added set {SET_ID} as version 2" in result.output
    assert [v["version"] for v in read_registry(project)[SET_ID]] == [1, 2]
    sample = rows[0]["sample_id"]
    assert f"│ {sample} │ label       │ correct │ incorrect │" in result.output
    assert f"│ {sample} │ fault_torso │ 0       │ 1         │" in result.output
    assert result.output.count("│ s0") == 2  # no other table row: those two cells only
    assert len(commits(project)) == 2
    # The first version's labels stay retrievable from git + the DVC cache.
    assert dvc.api.read(f"data/sets/{SET_ID}/samples.csv", repo=str(project.root), rev=first) == old_csv


def test_the_same_delivery_twice_changes_nothing(project, delivery):
    assert add_set(delivery).exit_code == 0
    registry, history = project.path(catalog.SET_REGISTRY).read_bytes(), commits(project)
    result = add_set(delivery)
    assert result.exit_code == 0
    assert f"set {SET_ID} is already added as version 1: nothing changed" in result.output
    assert project.path(catalog.SET_REGISTRY).read_bytes() == registry and commits(project) == history


def test_add_set_exits_75_while_another_command_changes_the_project(project, delivery):
    with project_lock(project, "formset nightly"):
        result = add_set(delivery)
    assert result.exit_code == 75
    assert "busy" in result.output and "formset nightly" in result.output
    assert not project.path(catalog.DELIVERED_SETS).exists() and not project.path(catalog.SET_REGISTRY).exists()


def test_sets_lists_registered_sets_and_sets_copied_by_hand(project, delivery):
    assert add_set(delivery, "--no-commit").exit_code == 0
    assert commits(project) == []
    shutil.copytree(delivery, project.path(catalog.DELIVERED_SETS) / "by-hand")  # like `make demo`'s copy
    result = CliRunner().invoke(cli.app, ["sets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["set_id"]: row for row in json.loads(result.output)}
    assert rows[SET_ID]["version"] == 1 and rows["by-hand"]["version"] == "-"
    for row in rows.values():
        assert (row["samples"], row["correct"], row["incorrect"], row["unlabeled"]) == (24, 12, 12, 0)
        assert row["quarantined"] == "not built"


def test_label_changes_lists_added_and_removed_samples():
    columns = ["sample_id", "label", "fault_base_of_support", "fault_left_knee", "fault_right_knee", "fault_torso",
               "fault_hip_joint", "fault_neck", "rep_count"]  # fmt: skip
    old = pd.DataFrame([["a", "correct", *"000000", "3"], ["b", "", *[""] * 6, ""]], columns=columns)
    new = pd.DataFrame([["a", "correct", *"000000", "4"], ["c", "incorrect", *"100000", "2"]], columns=columns)
    assert label_changes(old, new).values.tolist() == [
        ["a", "rep_count", "3", "4"],
        ["b", WHOLE_SAMPLE, "present", "absent"],
        ["c", WHOLE_SAMPLE, "absent", "present"],
    ]


def test_copy_hashed_copies_files_and_links_and_hashes_each_file_as_ingest_does(tmp_path):
    source = tmp_path / "delivery"
    (source / "openpose" / "s1").mkdir(parents=True)
    (source / "samples.csv").write_text("sample_id\n")
    (source / "openpose" / "s1" / "f_000000000000_keypoints.json").write_bytes(b'{"people":[]}')
    (source / "big.bin").write_bytes(bytes(range(256)) * 10_000)  # more than one read
    (tmp_path / "outside.csv").write_text("x\n")
    os.symlink(tmp_path / "outside.csv", source / "out.csv")
    os.symlink("samples.csv", source / "alias.csv")

    hashes = copy_hashed(source, tmp_path / "copy")
    copy = (tmp_path / "copy").resolve()
    files = {p for p in copy.rglob("*") if p.is_file() and not p.is_symlink()}
    assert set(hashes) == files and len(files) == 3
    for path in files:
        assert path.read_bytes() == (source / path.relative_to(copy)).read_bytes()
        assert hashes[path] == ingest.sha256_file(path)
    assert os.readlink(copy / "out.csv") == str(tmp_path / "outside.csv")  # links stay links
    assert os.readlink(copy / "alias.csv") == "samples.csv"


def test_each_copy_becomes_the_dvc_object_of_its_content_once(tmp_path, monkeypatch):
    source, objects = tmp_path / "delivery", tmp_path / "cache" / "files" / "md5"
    (source / "a").mkdir(parents=True)
    (source / "a" / "one.json").write_bytes(b"same")
    (source / "two.json").write_bytes(b"same")  # one object for both
    (source / "three.json").write_bytes(b"other")
    copy_hashed(source, tmp_path / "copy", objects)
    stored = {p.relative_to(objects).as_posix(): p for p in objects.rglob("*") if p.is_file()}
    same, other = hashlib.md5(b"same").hexdigest(), hashlib.md5(b"other").hexdigest()
    assert set(stored) == {f"{same[:2]}/{same[2:]}", f"{other[:2]}/{other[2:]}"}
    assert stored[f"{other[:2]}/{other[2:]}"].stat().st_ino == (tmp_path / "copy" / "three.json").stat().st_ino
    assert stat.S_IMODE(stored[f"{other[:2]}/{other[2:]}"].stat().st_mode) == 0o444
    linked = [(tmp_path / "copy" / name).stat().st_nlink for name in ("a/one.json", "two.json")]
    assert sorted(linked) == [1, 2]  # the second copy of the same bytes stays a plain copy
    # A cache the copy cannot be linked into (another file system): plain copies, no object.
    monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(OSError(18, "Invalid cross-device link")))
    assert not store_object(tmp_path / "copy" / "three.json", hashlib.md5(b"new").hexdigest(), objects)
    assert len([p for p in objects.rglob("*") if p.is_file()]) == 2


def test_ingest_takes_the_hashes_of_the_copy_instead_of_reading_the_files_again(tmp_path, generated_delivery, monkeypatch):
    staged = tmp_path / SET_ID
    hashes = copy_hashed(generated_delivery, staged)
    read_again = ingest.ingest_set(staged, EXERCISES)
    monkeypatch.setattr(ingest, "sha256_file", None)  # every source file's hash must come from the copy
    reused = ingest.ingest_set(staged, EXERCISES, known_hashes=hashes)
    pd.testing.assert_frame_equal(reused.files, read_again.files)
    assert reused.set_row == read_again.set_row and len(reused.files) > 1000


def test_a_set_moved_aside_by_a_killed_add_set_is_put_back(tmp_path):
    sets_dir = tmp_path / "sets"
    (sets_dir / ".lab-a.x1y2.tmp" / ".old").mkdir(parents=True)  # killed between the two renames
    (sets_dir / ".lab-a.x1y2.tmp" / ".old" / "samples.csv").write_text("old\n")
    (sets_dir / ".lab-b.z3.tmp" / "lab-b").mkdir(parents=True)  # killed while staging
    recover_staging(sets_dir)
    assert sorted(p.name for p in sets_dir.iterdir()) == ["lab-a"]
    assert (sets_dir / "lab-a" / "samples.csv").read_text() == "old\n"


def test_a_relabel_after_an_add_set_killed_before_registering_still_lists_the_changes(project, delivery):
    assert add_set(delivery).exit_code == 0
    rows = edit_samples(delivery, {(0, "label"): "incorrect"})
    # Killed after the swap: the new delivery is in data/sets, neither registered nor committed.
    shutil.rmtree(project.path(catalog.DELIVERED_SETS) / SET_ID)
    shutil.copytree(delivery, project.path(catalog.DELIVERED_SETS) / SET_ID)

    result = add_set(delivery)
    assert result.exit_code == 0, result.output
    assert [v["version"] for v in read_registry(project)[SET_ID]] == [1, 2]
    assert f"│ {rows[0]['sample_id']} │ label  │ correct │ incorrect │" in result.output


def test_new_exercises_are_refused_with_the_one_step_that_adds_them(project, delivery):
    edit_samples(delivery, {(0, "exercise"): "hurdle_step", (1, "exercise"): "side_lunge", (2, "exercise"): "hurdle_step"})
    listed = project.params().exercises
    result = add_set(delivery)
    assert result.exit_code == 1
    assert "samples.csv names 2 exercises that params.yaml does not list: hurdle_step, side_lunge." in result.output
    # The step, as it is to be written: params.yaml's list with the new names after it.
    assert f"  exercises: [{', '.join([*listed, 'hurdle_step', 'side_lunge'])}]\n" in result.output
    assert f"then run `formset add-set {delivery}` again" in result.output
    assert list(project.path(catalog.DELIVERED_SETS).iterdir()) == []

    # Doing that one step is all it takes.
    params = project.root / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("jumping_jack]", "jumping_jack, hurdle_step, side_lunge]", 1))
    result = add_set(delivery)
    assert result.exit_code == 0, result.output
    assert f"added set {SET_ID} as version 1" in result.output
    assert "does not list" not in result.output
