"""The table catalog: what it holds, and that no code spells a table's path but the catalog."""

from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

import pytest
import yaml

from formset import catalog
from formset.config import Project
from formset.flows import registry
from formset.pull import TABLES_INSIDE, output_name, table_paths
from formset.schemas import tables
from formset.versioning import stage_outputs

REPO = Path(__file__).resolve().parents[1]
#: The source folders whose code must take table paths from the catalog.
SOURCE_DIRS = ("formset", "flows", "tasks")
CATALOG_FILE = REPO / "formset" / "catalog.py"


def test_per_set_tables_are_where_they_were_with_their_schema_and_key():
    expected = {
        catalog.SAMPLES: ("data/catalog/samples", tables.SAMPLES, ("set_id", "sample_id")),
        catalog.SETS: ("data/catalog/sets", tables.SETS, ("set_id",)),
        catalog.FILES: ("data/catalog/files", tables.FILES, ("set_id", "sample_id", "role", "path")),
        catalog.KEYPOINTS: ("data/keypoints", tables.KEYPOINTS, ("set_id", "sample_id", "view", "frame")),
        catalog.FEATURES: ("data/features", tables.FEATURES, ("set_id", "sample_id", "view", "frame")),
        catalog.KINEMATICS: ("data/reps/kinematics", tables.KINEMATICS, ("set_id", "sample_id", "view", "frame")),
        catalog.REPS: ("data/reps/reps", tables.REPS, ("set_id", "sample_id", "view", "rep")),
        catalog.RECORDINGS: ("data/reps/recordings", tables.RECORDINGS, ("set_id", "sample_id", "view")),
        catalog.PREDICTIONS: ("data/predictions", tables.PREDICTIONS, ("set_id", "sample_id")),
        catalog.EXERCISE_PREDICTIONS: ("data/exercise_predictions", tables.EXERCISE_PREDICTIONS, ("set_id", "sample_id")),
    }
    for table, (path, schema, key) in expected.items():
        assert (table.path, table.schema, table.key, table.partitioning) == (path, schema, key, ("set_id",)), table.name


def test_whole_dataset_tables_are_single_files():
    expected = {
        catalog.JOINT_SCORES: ("data/scores/joint_scores.parquet", tables.SCORES, ("set_id", "sample_id", "view", "joint")),
        catalog.VERDICTS: ("data/compare/verdicts.parquet", tables.VERDICTS, ("set_id", "sample_id", "view", "rep")),
        catalog.DISTANCES: ("data/compare/distances.parquet", tables.DISTANCES, ("set_id", "sample_id", "view", "rep", "feature")),
        catalog.REP_SCORES: ("data/compare/rep_scores.parquet", tables.REP_SCORES, ("set_id", "sample_id", "view", "rep", "joint")),
        catalog.VALIDATION_WARNINGS: ("data/validation/warnings.parquet", tables.QUARANTINE, catalog.REJECTION_KEY),
    }
    for table, (path, schema, key) in expected.items():
        assert (table.path, table.schema, table.key, table.partitioning) == (path, schema, key, ()), table.name


def test_quarantine_is_partitioned_by_stage_then_set():
    assert catalog.QUARANTINE.path == "data/quarantine"
    assert catalog.QUARANTINE.partitioning == ("stage", "set_id")
    ingest = catalog.quarantine_of("ingest")
    assert (ingest.name, ingest.path, ingest.schema, ingest.partitioning) == (
        "quarantine/ingest", "data/quarantine/ingest", tables.QUARANTINE, ("set_id",)
    )
    project = Project(Path("/p"))
    assert project.path(catalog.quarantine_of("validate")) == Path("/p/data/quarantine/validate")
    assert project.path(catalog.QUARANTINE) == Path("/p/data/quarantine")


def test_files_that_are_not_tables_have_no_schema():
    expected = {
        "classifier": "models/classifier.pt",
        "exercise_model": "models/exercise_model.pt",
        "fault_model": "models/fault_model.pt",
        "clusters": "models/clusters.json",
        "metrics/train": "metrics/train.json",
        "metrics/faults": "metrics/faults.json",
        "metrics/exercise": "metrics/exercise.json",
        "metrics/cluster": "metrics/cluster.json",
        "metrics/compare": "metrics/compare.json",
        "plots/confusion": "plots/confusion.csv",
        "plots/roc": "plots/roc.csv",
        "plots/exercise_confusion": "plots/exercise_confusion.csv",
        "validation/report": "data/validation/report.json",
        "validation/summary": "data/validation/summary.json",
        "quality/dataset_card": "data/quality/dataset_card.md",
        "registry": "data/registry.json",
    }
    for name, path in expected.items():
        assert (catalog.BY_NAME[name].path, catalog.BY_NAME[name].schema, catalog.BY_NAME[name].key) == (path, None, ()), name
    delivered = catalog.DELIVERED_SETS
    assert (delivered.name, delivered.path, delivered.schema, delivered.partitioning) == ("sets", "data/sets", None, ("set_id",))
    assert [model.name for model in catalog.MODELS] == ["classifier", "exercise_model", "fault_model"]


def test_folders_of_several_tables_pull_their_first_part_by_their_own_name():
    assert TABLES_INSIDE == {
        "data/catalog": ("samples", "sets", "files"),
        "data/reps": ("reps", "recordings", "kinematics"),
        "data/compare": ("verdicts.parquet", "distances.parquet", "rep_scores.parquet"),
    }
    spec = {"stages": {"s": {"outs": ["data/catalog", "data/reps", "data/compare"]}}}
    paths = table_paths(spec)
    assert paths["catalog"] == "data/catalog/samples"
    assert paths["reps"] == "data/reps/reps"
    assert paths["compare"] == "data/compare/verdicts.parquet"
    assert paths["compare/rep_scores"] == "data/compare/rep_scores.parquet"


def test_names_are_unique_and_a_stage_output_s_name_is_what_pull_calls_it():
    assert len(catalog.BY_NAME) == len(catalog.TABLES)
    assert len({table.path for table in catalog.TABLES}) == len(catalog.TABLES)
    outputs = stage_outputs(yaml.safe_load(registry.dvc_yaml()))
    by_path = {table.path: table for stage in registry.STAGES for table in (*stage.writes, *stage.metrics)}
    by_path.update({plot.table.path: plot.table for stage in registry.STAGES for plot in stage.plots})
    assert set(outputs) == set(by_path)
    for path, table in by_path.items():
        assert output_name(path) == table.name, path
    for folder in (table for table in catalog.TABLES if table.parts):
        for part in folder.parts:
            assert part.path == f"{folder.path}/{part.file_name}"
            assert part.name == f"{folder.name}/{PurePosixPath(part.file_name).stem}"


def test_the_project_paths_are_the_catalog_s():
    project = Project(Path("/p"))
    assert project.path(catalog.KEYPOINTS) == Path("/p/data/keypoints")
    assert (project.path(catalog.KEYPOINTS), project.path(catalog.FEATURES), project.path(catalog.CATALOG), project.path(catalog.REP_TABLES), project.path(catalog.COMPARISONS)) == (
        Path("/p/data/keypoints"), Path("/p/data/features"), Path("/p/data/catalog"), Path("/p/data/reps"), Path("/p/data/compare"),
    )
    assert (project.path(catalog.DELIVERED_SETS), project.path(catalog.SET_REGISTRY), project.path(catalog.SCORES)) == (
        Path("/p/data/sets"), Path("/p/data/registry.json"), Path("/p/data/scores"),
    )
    assert (project.path(catalog.DATASET_CARD), project.path(catalog.DATA_DOCS_INDEX), project.path(catalog.VALIDATION)) == (
        Path("/p/data/quality/dataset_card.md"), Path("/p/data/quality/docs/index.html"), Path("/p/data/validation"),
    )
    assert (project.path(catalog.PREDICTIONS), project.path(catalog.EXERCISE_PREDICTIONS), project.path(catalog.METRICS)) == (
        Path("/p/data/predictions"), Path("/p/data/exercise_predictions"), Path("/p/metrics"),
    )


# ---------------------------------------------------------------- no path spelled elsewhere
def _forbidden_substrings() -> list[str]:
    """What only the catalog may spell: every path of more than one component, the file name
    of every entry with a suffix (``classifier.pt``, ``verdicts.parquet``) and the pull name
    of every table inside a folder of several (``catalog/samples``)."""
    paths = {table.path for table in catalog.TABLES if "/" in table.path}
    names = {table.file_name for table in catalog.TABLES if PurePosixPath(table.file_name).suffix}
    parts = {part.name for table in catalog.TABLES for part in table.parts}
    return sorted(paths | names | parts)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def spelled_table_paths(source: str) -> list[str]:
    """The catalog paths, file names and sub-table names ``source`` spells as string constants
    (docstrings aside): a path or file name anywhere in a string; a sub-table name
    (``samples``, ``kinematics``) joined to a path (``/ "samples"``) or listed with another
    of its folder's parts."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    forbidden = _forbidden_substrings()
    parts = {table.path: {part.file_name for part in table.parts} for table in catalog.TABLES if table.parts}
    part_names = set().union(*parts.values())
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            hits += [f"{node.lineno}: {text}" for text in forbidden if text in node.value]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in part_names:
                    hits.append(f"{node.lineno}: / {side.value!r}")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            listed = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            for folder, names in parts.items():
                if len(listed & names) > 1:
                    hits.append(f"{node.lineno}: parts of {folder}: {sorted(listed & names)}")
    return hits


def test_the_scan_finds_a_spelled_path_a_joined_sub_table_and_a_listed_folder():
    source = '''
"""Docstrings may name data/keypoints."""
KEYPOINTS = project.root / "data/keypoints"
MODEL = "models/classifier.pt"
samples = project.path(catalog.CATALOG) / "samples"
parts = ("reps", "recordings")
word = "samples"
'''
    kinematics = 'pull.read_table("reps/kinematics")'
    assert sorted(spelled_table_paths(source + kinematics)) == [
        "3: data/keypoints", "4: classifier.pt", "4: models/classifier.pt", "5: / 'samples'",
        "6: parts of data/reps: ['recordings', 'reps']", "8: reps/kinematics",
    ]


@pytest.mark.parametrize("path", sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py") if p != CATALOG_FILE), ids=str)
def test_no_source_file_spells_a_table_path(path):
    assert spelled_table_paths(path.read_text()) == []
