"""Incremental builds (formset/incremental.py): the code digest of a stage, whether a partition
is current, and which stages DVC would run, in throw-away projects."""

from __future__ import annotations

import hashlib
import sys

import pandas as pd
import pyarrow as pa
from conftest import git_dvc_project, run_ok

from formset.config import Project
from formset.incremental import code_digest, is_current, stale_stages
from formset.storage import write_table

SCHEMA = pa.schema([pa.field("id", pa.string())])
DVC_YAML = """stages:
  build:
    cmd: cp in.txt out.txt
    deps: [in.txt, tasks, data/sets, gone.py]
    outs: [out.txt]
  other:
    cmd: echo other > other.txt
    outs: [other.txt]
"""


def project_with_code(root) -> Project:
    """A project whose ``build`` stage depends on a file, a folder of code, data and a file
    that does not exist."""
    root.mkdir()
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "in.txt").write_text("input\n")
    (root / "tasks" / "sub").mkdir(parents=True)
    (root / "tasks" / "b.py").write_text("B = 2\n")
    (root / "tasks" / "sub" / "a.py").write_text("A = 1\n")
    (root / "data" / "sets").mkdir(parents=True)
    (root / "data" / "sets" / "one.csv").write_text("x\n")
    return Project(root)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_code_digest_hashes_every_code_file_of_the_stage_in_order(tmp_path):
    project = project_with_code(tmp_path / "project")
    contents = {"in.txt": "input\n", "tasks/b.py": "B = 2\n", "tasks/sub/a.py": "A = 1\n"}
    lines = [f"{path}\t{sha256(text)}\n" for path, text in contents.items()] + ["gone.py\tmissing\n"]
    assert code_digest(project, "build") == sha256("".join(lines))
    assert code_digest(project, "other") == sha256("")


def test_the_code_digest_follows_code_and_ignores_data(tmp_path):
    project = project_with_code(tmp_path / "project")
    before = code_digest(project, "build")
    (project.root / "data" / "sets" / "two.csv").write_text("y\n")
    assert code_digest(project, "build") == before
    (project.root / "tasks" / "sub" / "a.py").write_text("A = 3\n")
    assert code_digest(project, "build") != before


def test_a_partition_is_current_with_its_key_and_every_companion(tmp_path):
    partition, companion = tmp_path / "part.parquet", tmp_path / "quarantine.parquet"
    assert not is_current(partition, "k1")
    write_table(pd.DataFrame({"id": ["a"]}), partition, SCHEMA, {"key": "k1"})
    assert is_current(partition, "k1")
    assert not is_current(partition, "k2")
    assert not is_current(partition, "k1", companion)
    write_table(pd.DataFrame({"id": ["a"]}), companion, SCHEMA)
    assert is_current(partition, "k1", companion)
    write_table(pd.DataFrame({"id": ["a"]}), partition, SCHEMA)  # no provenance record
    assert not is_current(partition, "k1")


def test_stale_stages_are_those_dvc_would_run_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the project: `formset run` may start in a subfolder
    root = git_dvc_project(tmp_path / "project", files=())
    (root / "dvc.yaml").write_text(DVC_YAML.replace("deps: [in.txt, tasks, data/sets, gone.py]", "deps: [in.txt]"))
    (root / "in.txt").write_text("input\n")
    project = Project(root)
    assert stale_stages(project, ["build", "other"]) == {"build", "other"}
    run_ok(root, sys.executable, "-m", "dvc", "repro", "-q")
    assert stale_stages(project, ["build", "other"]) == set()
    (root / "in.txt").write_text("changed\n")
    assert stale_stages(project, ["build", "other"]) == {"build"}
    assert stale_stages(project, ["other"]) == set()
