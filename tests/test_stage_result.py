"""A stage's result in a build, and what the build, ``formset run`` and the nightly do with it."""

from __future__ import annotations

import io
import json
import sys

import pytest
from conftest import git_dvc_project, run_ok
from rich.console import Console

from formset import cli, gitops
from formset.config import Project
from formset.flows import build, nightly
from formset.flows.registry import STAGES
from formset.stage_result import EVERY_SET_CURRENT, UP_TO_DATE, StageResult

#: A per-set stage that computed one set and reused another, as its flow returns it.
NORMALIZE = {"computed": [{"set_id": "second-set", "frames": 120, "quarantined": 0}], "reused": ["synthetic-demo"]}


def test_a_per_set_stage_that_computed_a_set_is_computed_with_its_sets():
    result = StageResult.of_run("normalize", NORMALIZE)
    assert (result.status, result.reason, result.computed_sets, result.reused_sets) == (
        "computed", None, ("second-set",), ("synthetic-demo",)
    )
    assert result.ran and result.is_per_set and result.record() == NORMALIZE


def test_a_per_set_stage_that_computed_no_set_reused_every_set():
    summary = {"computed": [], "reused": ["a", "b"]}
    result = StageResult.of_run("keypoints", summary)
    assert (result.status, result.reason, result.computed_sets, result.reused_sets) == ("reused", EVERY_SET_CURRENT, (), ("a", "b"))
    assert result.ran and result.record() == summary


def test_a_stage_that_skipped_its_work_says_why():
    summary = {"skipped": "no labeled samples (label correct or incorrect)", "rows": 0}
    result = StageResult.of_run("train", summary)
    assert (result.status, result.reason, result.computed_sets) == ("skipped", "no labeled samples (label correct or incorrect)", ())
    assert result.ran and not result.is_per_set and result.record() == summary


def test_a_whole_dataset_stage_that_ran_computed():
    result = StageResult.of_run("train", {"accuracy": 0.9})
    assert (result.status, result.reason, result.ran, result.is_per_set) == ("computed", None, True, False)


def test_a_stage_dvc_found_up_to_date_did_not_run_and_records_up_to_date():
    result = StageResult.up_to_date("ingest")
    assert (result.stage, result.status, result.reason, result.summary, result.ran) == ("ingest", "reused", "up to date", None, False)
    assert result.record() == UP_TO_DATE == "up to date"
    with pytest.raises(AttributeError):
        result.status = "computed"  # frozen


def test_the_nightly_line_names_what_computed_and_what_skipped():
    results = {
        "ingest": StageResult.up_to_date("ingest"),
        "keypoints": StageResult.of_run("keypoints", {"computed": [], "reused": ["a"]}),
        "normalize": StageResult.of_run("normalize", NORMALIZE),
        "validate": StageResult.of_run("validate", {"n_expectations": 40}),
        "train": StageResult.of_run("train", {"skipped": "one person"}),
    }
    assert nightly.describe_work(results) == "rebuilt normalize (second-set), validate, train; train skipped: one person"
    assert nightly.describe_work({name: StageResult.up_to_date(name) for name in ("ingest", "train")}) == "nothing rebuilt"


def test_formset_run_prints_each_stage_s_work(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=200))
    cli.print_work({
        "ingest": StageResult.up_to_date("ingest"),
        "normalize": StageResult.of_run("normalize", NORMALIZE),
        "keypoints": StageResult.of_run("keypoints", {"computed": [], "reused": ["a", "b"]}),
        "train": StageResult.of_run("train", {"skipped": "one person"}),
        "cluster": StageResult.of_run("cluster", {"rows": 3}),
    })  # fmt: skip
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.getvalue().splitlines() if line.count("│") == 3}
    assert rows == {
        "ingest": "up to date",
        "normalize": "computed 1 set(s) second-set; reused 1",
        "keypoints": "computed 0 set(s); reused 2",
        "train": "skipped: one person",
        "cluster": "ran",
    }


@pytest.fixture
def project(tmp_path, no_global_git_identity) -> Project:
    """A git + DVC project with one (empty) set, a committed fake dvc.lock and a local remote."""
    root = git_dvc_project(tmp_path / "project")
    run_ok(root, sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(tmp_path / "remote"))
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (root / "data" / "sets" / "a-set").mkdir(parents=True)
    return Project(root)


def test_a_build_with_nothing_out_of_date_runs_no_stage_and_records_up_to_date(project, monkeypatch):
    monkeypatch.setattr(build, "track_inputs", lambda _project: None)
    monkeypatch.setattr(build, "stale_stages", lambda _project, _names: set())
    monkeypatch.setattr(build, "build_dataset", lambda *args: pytest.fail("no stage is out of date: no flow runs"))
    work = build.build_and_record(project)
    assert work == {stage.name: StageResult.up_to_date(stage.name) for stage in STAGES}
    recorded = json.loads((project.state_dir / "last-build.json").read_text())
    assert recorded["work"] == {stage.name: "up to date" for stage in STAGES}
    assert list(recorded["seconds"]) == ["build"]


def test_a_nightly_with_every_stage_up_to_date_publishes_no_new_version(project, monkeypatch, capsys):
    first = nightly.publish(project, "first")
    monkeypatch.setattr(nightly, "build_and_record", lambda _project: {s.name: StageResult.up_to_date(s.name) for s in STAGES})
    result = nightly.nightly_flow.fn(str(project.root), 0.0)
    assert (result["work"], result["tag"], result["commit"]) == ("nothing rebuilt", None, first["commit"])
    assert gitops.tags(project, "data-*") == [first["tag"]]
    assert f"nothing changed since {first['tag']}: no new version" in capsys.readouterr().out
