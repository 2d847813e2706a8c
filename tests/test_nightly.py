"""Publishing a dataset version, the nightly deployment and the project lock, in throw-away
git + DVC projects without running the pipeline (the end-to-end nightly is in
test_daily.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from conftest import git_dvc_project, run_ok

from formset import gitops
from formset.config import Project
from formset.flows import nightly
from formset.locking import ProjectBusy, project_lock
from formset.stage_result import ValidationFailed

pytestmark = pytest.mark.usefixtures("no_global_git_identity")


@pytest.fixture
def project(tmp_path) -> Project:
    """A git + DVC project with the pipeline's files, one committed (fake) dvc.lock and a
    local remote; no identity in its git config, as on a fresh server."""
    root = git_dvc_project(tmp_path / "project")
    run_ok(root, sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(tmp_path / "remote"))
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    return Project(root)


def test_publishing_commits_the_version_records_and_tags_them(project):
    result = nightly.publish(project, "rebuilt everything")
    assert result["tag"] == f"data-{date.today().isoformat()}"
    files = gitops.git(project, "show", "--name-only", "--format=", result["tag"]).stdout.split()
    assert {"dvc.lock", "dvc.yaml", "params.yaml"} <= set(files)
    author = gitops.git(project, "log", "-1", "--format=%an").stdout.strip()
    assert author == "formset"


def test_nothing_changed_publishes_no_new_version(project):
    first = nightly.publish(project, "first")
    again = nightly.publish(project, "nothing rebuilt")
    assert again["tag"] is None and again["commit"] == first["commit"]
    assert gitops.tags(project, "data-*") == [first["tag"]]


def test_a_second_version_the_same_day_gets_a_numbered_tag(project):
    first = nightly.publish(project, "first")
    with open(project.root / "dvc.lock", "a") as lock:
        lock.write("# another version\n")
    second = nightly.publish(project, "retrained")
    assert second["tag"] == f"{first['tag']}.2"
    assert nightly.last_published(project) == second["tag"]


def test_a_commit_left_untagged_by_a_killed_run_is_tagged_by_the_next(project):
    gitops.commit(project, ["dvc.lock", "dvc.yaml", "params.yaml"], "committed, then killed before the tag")
    result = nightly.publish(project, "nothing rebuilt")
    assert result["tag"] is not None
    assert gitops.git(project, "rev-list", "-n", "1", result["tag"]).stdout.strip() == gitops.head(project)


def test_a_failed_validation_publishes_nothing(project, monkeypatch):
    def failing_build(_project):
        raise ValidationFailed("critical expectations failed: keypoints.frame is not increasing")

    published = []
    monkeypatch.setattr(nightly, "build_and_record", failing_build)
    monkeypatch.setattr(nightly, "publish", lambda *args: published.append(args))
    with pytest.raises(ValidationFailed, match="frame is not increasing"):
        nightly.nightly_flow.fn(str(project.root), 0.0)
    assert published == [] and gitops.tags(project) == []


def test_the_deployment_runs_on_the_cron_schedule_of_params_yaml(project):
    text = (project.root / "params.yaml").read_text().replace('cron: "0 2 * * *"', 'cron: "30 23 * * 1-5"')
    (project.root / "params.yaml").write_text(text)
    deployment = nightly.nightly_deployment(project)
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "30 23 * * 1-5"
    assert deployment.parameters["root"] == str(project.root)
    assert deployment.entrypoint == "formset.flows.nightly.nightly_flow"


def test_a_second_command_refuses_with_a_clear_message_while_one_runs(project):
    with project_lock(project, "formset nightly"):
        env = {**os.environ, "FORMSET_ROOT": str(project.root)}
        proc = subprocess.run(
            [sys.executable, "-m", "formset.cli", "run"], cwd=project.root, env=env, capture_output=True, text=True
        )
        with pytest.raises(ProjectBusy, match="formset nightly"):
            with project_lock(project, "another", wait_s=1.0):
                pass
    assert proc.returncode == 75
    assert "busy" in proc.stdout and "formset nightly" in proc.stdout and "Nothing was done" in proc.stdout
    with project_lock(project, "after"):  # released when its holder is done
        pass
