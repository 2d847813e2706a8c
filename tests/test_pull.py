"""Pulling published versions by tag (formset.pull, `formset pull`, `formset versions`) from
another directory, in a throw-away git + DVC project with two published versions whose data
is only in its DVC remote; no pipeline runs."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
from conftest import git_dvc_project, run_ok
from dvc.repo.open_repo import clean_repos
from typer.testing import CliRunner

from formset import pull
from formset.cli import app

OLD, NEW = "data-2026-11-01", "data-2026-11-02"

# The stage: one features partition per set, each with a provenance record, and a model file.
MAKE_TABLES = """\
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from formset.storage import write_table

params = yaml.safe_load(Path("params.yaml").read_text())["make"]
schema = pa.schema([("set_id", pa.string()), ("x", pa.float64())])
for set_id in params["sets"]:
    record = {"stage": "normalize", "code": f"formset test v{params['value']}", "key": f"{set_id}-{params['value']}"}
    write_table(pd.DataFrame({"set_id": [set_id] * 3, "x": [float(params["value"])] * 3}),
                Path("data/features") / f"{set_id}.parquet", schema, record)
Path("models").mkdir(exist_ok=True)
Path("models/classifier.pt").write_bytes(f"model v{params['value']}".encode())
Path("metrics").mkdir(exist_ok=True)
Path("metrics/train.json").write_text(json.dumps({"accuracy": params["value"] / 10, "f1": 0.5}))
"""


def _publish(root: Path, value: int, sets: list[str], tag: str) -> None:
    """Build a version with DVC, push it, commit it and tag it, as the nightly does."""
    (root / "params.yaml").write_text(json.dumps({"make": {"value": value, "sets": sets}}))
    run_ok(root, sys.executable, "-m", "dvc", "repro", "--quiet")
    run_ok(root, sys.executable, "-m", "dvc", "push", "--quiet")
    identity = ("-c", "user.name=test", "-c", "user.email=test@localhost")
    run_ok(root, "git", "add", "-A")
    run_ok(root, "git", *identity, "commit", "-q", "-m", f"Dataset version {tag}")
    run_ok(root, "git", *identity, "tag", "-a", tag, "-m", tag)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Iterator[Path]:
    """Two published versions whose data is in the DVC remote only: no DVC cache, no
    workspace outputs. The remote is configured relatively, like the real project's."""
    root = git_dvc_project(tmp_path_factory.mktemp("pull") / "project", files=())
    (root / ".dvc" / "config").write_text("[core]\n    remote = local\n['remote \"local\"']\n    url = ../.dvc-storage\n")
    (root / ".gitignore").write_text("/.dvc-storage/\n")
    (root / "make_tables.py").write_text(MAKE_TABLES)
    (root / "dvc.yaml").write_text(textwrap.dedent(f"""\
        stages:
          make:
            cmd: {sys.executable} make_tables.py
            deps: [make_tables.py]
            params: [make]
            outs: [data/features, models/classifier.pt]
            metrics:
              - metrics/train.json:
                  cache: false
        """))
    _publish(root, 1, ["a", "b"], OLD)
    _publish(root, 2, ["a", "b", "c"], NEW)
    for local_copy in (".dvc/cache", "data", "models"):
        shutil.rmtree(root / local_copy)
    yield root
    clean_repos()  # the temporary clones DVC made of the file:// URL


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory outside any formset project."""
    monkeypatch.delenv("FORMSET_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_older_version_reads_as_it_was_published(project, elsewhere):
    features = pull.read_table("features", rev=OLD, repo=str(project))
    assert sorted(features["set_id"].unique()) == ["a", "b"] and (features["x"] == 1.0).all()
    assert {record["code"] for record in features.attrs["provenance"].values()} == {"formset test v1"}


def test_the_latest_published_version_is_the_default_also_from_a_git_url(project, elsewhere):
    # A git URL makes DVC read a temporary clone, where the relative remote would point at nothing.
    features = pull.read_arrow("features", repo=f"file://{project}", columns=["x"])
    assert features.column_names == ["x"] and set(features.column("x").to_pylist()) == {2.0}
    assert list(pull.partition_records(features)) == [f"data/features/{s}.parquet" for s in "abc"]


def test_provenance_gives_every_partitions_record(project, elsewhere):
    records = pull.provenance("features", rev=OLD, repo=str(project))
    assert records == {
        f"data/features/{s}.parquet": {"stage": "normalize", "code": "formset test v1", "key": f"{s}-1"} for s in "ab"
    }


def test_formset_pull_writes_one_parquet_file_and_the_model(project, elsewhere):
    runner = CliRunner()
    result = runner.invoke(app, ["pull", "features", "--rev", OLD, "-o", "features.parquet", "--repo", f"file://{project}"])
    assert result.exit_code == 0, result.output
    assert "6 rows" in result.output and "a, b" in result.output and "formset test v1" in result.output
    table = pq.read_table(elsewhere / "features.parquet")
    assert table.num_rows == 6 and set(table.column("x").to_pylist()) == {1.0}
    result = runner.invoke(app, ["pull", "classifier", "-o", "model.pt", "--repo", str(project)])
    assert result.exit_code == 0, result.output
    assert NEW in result.output and "latest published" in result.output
    assert (elsewhere / "model.pt").read_bytes() == b"model v2"


def test_formset_versions_lists_the_tags_with_commits_and_metrics(project, elsewhere):
    result = CliRunner().invoke(app, ["versions", "--repo", str(project), "--json"])
    assert result.exit_code == 0, result.output
    versions = json.loads(result.output)
    assert [v["tag"] for v in versions] == [OLD, NEW]
    assert [v["date"] for v in versions] == ["2026-11-01", "2026-11-02"]
    assert versions[0]["commit"] == run_ok(project, "git", "rev-parse", f"{OLD}^{{commit}}").strip()
    assert [v["metrics"]["metrics/train.json"]["accuracy"] for v in versions] == [0.1, 0.2]
    table = CliRunner().invoke(app, ["versions", "--repo", str(project)])
    assert table.exit_code == 0 and OLD in table.output and "0.200" in table.output


def test_unknown_names_revisions_and_missing_data_say_what_there_is(project, elsewhere, tmp_path):
    with pytest.raises(pull.UnknownTable, match="Known names: classifier, features, metrics/train"):
        pull.read_arrow("keypoint", repo=str(project))
    with pytest.raises(pull.UnknownRevision, match=f"{OLD}, {NEW}"):
        pull.read_arrow("features", rev="data-2030-01-01", repo=str(project))
    (tmp_path / "empty-remote").mkdir()
    with pytest.raises(pull.DataMissing, match="dvc push"):
        pull.read_arrow("features", rev=OLD, repo=str(project), remote_url=str(tmp_path / "empty-remote"))
    result = CliRunner().invoke(app, ["pull", "keypoint", "-o", "k.parquet", "--repo", str(project)])
    assert result.exit_code == 1 and "Known names" in result.output


def test_names_come_from_the_outputs_of_dvc_yaml():
    spec = {"stages": {
        "ingest": {"outs": ["data/catalog", "data/quarantine/ingest"]},
        "keypoints": {"outs": ["data/keypoints", "data/quarantine/keypoints"]},
        "compare": {"outs": ["data/compare"], "metrics": [{"metrics/compare.json": {"cache": False}}]},
        "train": {"outs": ["models/classifier.pt"], "metrics": [{"metrics/train.json": {"cache": False}}]},
    }}
    assert pull.table_paths(spec) == {
        "catalog": "data/catalog/samples",
        "catalog/files": "data/catalog/files",
        "catalog/samples": "data/catalog/samples",
        "catalog/sets": "data/catalog/sets",
        "classifier": "models/classifier.pt",
        "compare": "data/compare/verdicts.parquet",
        "compare/distances": "data/compare/distances.parquet",
        "compare/rep_scores": "data/compare/rep_scores.parquet",
        "compare/verdicts": "data/compare/verdicts.parquet",
        "keypoints": "data/keypoints",
        "metrics": "metrics",
        "metrics/compare": "metrics/compare.json",
        "metrics/train": "metrics/train.json",
        "quarantine": "data/quarantine",
        "quarantine/ingest": "data/quarantine/ingest",
        "quarantine/keypoints": "data/quarantine/keypoints",
    }
