"""A data engineer's week, end to end in a throw-away project: the nightly publishes a
version; an annotator adds a new set (``formset add-set``) and the next nightly is killed
halfway (the published version stays whole) and completed by the one after, which recomputes the new set only; a nightly
with nothing new publishes nothing; a changed parameter re-does its stage and those after
it. What was recomputed is read from ``.formset/last-build.json``, not inferred from time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import formset, make_project, project_env

from formset.schemas import tables
from formset.storage import read_table

pytestmark = pytest.mark.slow

#: Per-set stages whose partition of a set depends on that set alone. (Reps also reads exercise
#: recognition's verdicts on the set's samples, which a new set's people may change.)
PER_SET_STAGES = ("ingest", "keypoints", "normalize")
#: Outputs dvc.yaml keeps out of the cache (git holds them).
UNCACHED = ("metrics/", "plots/", "data/validation/summary.json")


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout.strip()


def flat_text(text: str) -> str:
    """``text`` with every run of whitespace one space (rich and Prefect wrap long lines)."""
    return " ".join(text.split())


def last_build(project: Path) -> dict:
    return json.loads((project / ".formset" / "last-build.json").read_text())["work"]


def computed_sets(build: dict, stage: str) -> list[str]:
    return [s["set_id"] for s in build[stage]["computed"]]


def remote_holds(remote: Path, lock_text: str) -> bool:
    """True when every cached output of a ``dvc.lock`` is in the (local) DVC remote; the
    uncached ones (metrics, plots) are in git."""
    project_outs = [
        (out["path"], out["md5"])
        for stage in yaml.safe_load(lock_text)["stages"].values()
        for out in stage.get("outs", [])
    ]
    cached = [md5 for path, md5 in project_outs if not path.startswith(UNCACHED)]
    return bool(cached) and all((remote / "files" / "md5" / h[:2] / h[2:]).is_file() for h in cached)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("daily") / "project", subjects=2)


def test_the_nightly_publishes_a_tagged_version(project):
    run = formset(project, "nightly")
    tag = f"data-{date.today().isoformat()}"
    assert f"published {tag}" in run.stdout
    assert git(project, "tag", "--list", "data-*").split() == [tag]
    assert remote_holds(project.parent / "project-remote", git(project, "show", f"{tag}:dvc.lock"))


def test_a_killed_nightly_leaves_the_published_version_whole_and_the_next_completes_it(project):
    (tag,) = git(project, "tag", "--list", "data-*").split()
    published_commit, published_lock = git(project, "rev-list", "-n", "1", tag), git(project, "show", f"{tag}:dvc.lock")
    delivery = project.parent / "inbox" / "second-set"
    formset(project, "sample", str(delivery), "--subjects", "1", "--seed", "1")
    added = formset(project, "add-set", str(delivery))
    assert "second-set" in added.stdout and git(project, "log", "-1", "--format=%s") == "add-set second-set v1"
    marker = project / "data" / "keypoints" / "second-set.parquet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "formset.cli", "nightly"], cwd=project, env=project_env(project),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the nightly finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    assert git(project, "tag", "--list", "data-*").split() == [tag]
    assert git(project, "rev-list", "-n", "1", tag) == published_commit
    assert git(project, "show", f"{tag}:dvc.lock") == published_lock
    assert remote_holds(project.parent / "project-remote", published_lock)

    run = formset(project, "nightly")
    assert f"published {tag}.2" in run.stdout
    build = last_build(project)
    for stage in PER_SET_STAGES:
        assert "synthetic-demo" in build[stage]["reused"], stage
        assert set(computed_sets(build, stage)) <= {"second-set"}, stage
    assert computed_sets(build, "normalize") == ["second-set"]
    assert "second-set" in computed_sets(build, "reps")
    # No duplicate or partial rows: every sample once per view and frame, every sample there.
    keypoints = read_table(project / "data" / "keypoints", tables.KEYPOINTS)
    features = read_table(project / "data" / "features", tables.FEATURES)
    for table in (keypoints, features):
        assert not table.duplicated(["set_id", "sample_id", "view", "frame"]).any()
    delivered = sum(len(pd.read_csv(d / "samples.csv")) for d in (project / "data" / "sets").iterdir())
    assert len(features[["set_id", "sample_id"]].drop_duplicates()) == delivered
    assert git(project, "show", f"{tag}.2:data/sets.dvc") != git(project, "show", f"{tag}:data/sets.dvc")


def test_an_older_version_is_pulled_after_a_newer_one_was_published(project, tmp_path):
    from formset import pull

    tag, newer = git(project, "tag", "--list", "data-*", "--sort=creatordate").split()
    assert set(pull.read_table("features", rev=newer, repo=str(project))["set_id"]) == {"synthetic-demo", "second-set"}
    older = pull.read_table("features", rev=tag, repo=str(project))
    assert set(older["set_id"]) == {"synthetic-demo"}
    assert {record["stage"] for record in older.attrs["provenance"].values()} == {"normalize"}

    env = {k: v for k, v in project_env(project).items() if k != "FORMSET_ROOT"}  # from elsewhere
    proc = subprocess.run(
        [sys.executable, "-m", "formset.cli", "pull", "features", "--rev", tag, "-o", "features.parquet", "--repo", f"file://{project}"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pulled = pd.read_parquet(tmp_path / "features.parquet")
    assert len(pulled) == len(older) and set(pulled["set_id"]) == {"synthetic-demo"}

    source = pull.resolve(newer, str(project))
    for name in pull.tables_at(pull.version_fs(source), source):  # every table and model pulls
        pull.pull_file(name, tmp_path / "every" / name.replace("/", "_"), rev=newer, repo=str(project))


def test_a_nightly_with_nothing_new_publishes_nothing_and_costs_little(project):
    tags = git(project, "tag", "--list", "data-*").split()
    run = formset(project, "nightly")
    assert "no new version" in run.stdout
    assert git(project, "tag", "--list", "data-*").split() == tags
    assert set(last_build(project).values()) == {"up to date"}


def test_a_changed_parameter_redoes_its_stage_and_those_after_it(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["normalize"]["smoothing_sigma"] = 1.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    formset(project, "run")
    build = last_build(project)
    assert build["ingest"] == build["keypoints"] == "up to date"
    assert sorted(computed_sets(build, "normalize")) == ["second-set", "synthetic-demo"]
    assert isinstance(build["train"], dict) and "accuracy" in build["train"]


def test_a_nightly_whose_validation_fails_exits_non_zero_and_publishes_nothing(project):
    import pyarrow as pa
    import pyarrow.parquet as pq

    formset(project, "nightly")  # publish what the previous test changed first
    tags, head = git(project, "tag", "--list", "data-*").split(), git(project, "rev-parse", "HEAD")
    remote = project.parent / "project-remote"
    pushed = sorted(p.relative_to(remote) for p in remote.rglob("*"))
    # A duplicated key in the built catalog (as a faulty copy or a bad merge would leave it):
    # the partition keeps its provenance record, so no stage rebuilds it; validation sees it.
    partition = project / "data" / "catalog" / "samples" / "synthetic-demo.parquet"
    catalog = pq.read_table(partition)
    pq.write_table(pa.concat_tables([catalog, catalog.slice(0, 1)]), partition)

    run = formset(project, "nightly", check=False)

    assert run.returncode == 1
    output = flat_text(run.stdout + run.stderr)
    assert "each (set_id, sample_id) appears once" in output  # the failed expectation, in words
    assert git(project, "tag", "--list", "data-*").split() == tags
    assert git(project, "rev-parse", "HEAD") == head
    assert sorted(p.relative_to(remote) for p in remote.rglob("*")) == pushed
    summary = json.loads((project / "data" / "validation" / "summary.json").read_text())
    assert summary["passed_critical"] is False and summary["n_failed_critical"] >= 1
