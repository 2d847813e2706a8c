"""The stage registry (flows/registry.py) and the import closures it takes stages' code from
(formset/codedeps.py): dvc.yaml is generated from it, and a stage's code is every module it
can run."""

from __future__ import annotations

import ast
import subprocess
import sys

import yaml
from conftest import REPO

from formset.codedeps import _resolve, import_closure, imported_modules
from formset.flows import registry


def test_the_committed_dvc_yaml_is_the_one_the_registry_generates():
    # Fails when a stage's imports changed and nobody ran `formset dvc-yaml`: DVC would then
    # miss a code change of that stage.
    assert (REPO / "dvc.yaml").read_text() == registry.dvc_yaml()


def test_the_generated_dvc_yaml_holds_every_stage_in_order_with_its_declarations():
    stages = yaml.safe_load(registry.dvc_yaml())["stages"]
    assert list(stages) == [s.name for s in registry.STAGES] == list(registry.STAGE_NAMES)
    compare = stages["compare"]
    assert compare["cmd"] == "formset stage compare"
    assert compare["params"] == ["compare", "cluster.max_distance"]
    assert compare["deps"][:5] == ["data/catalog", "data/features", "data/quarantine/validate", "data/reps", "models/clusters.json"]
    assert compare["metrics"] == [{"metrics/compare.json": {"cache": False}}]
    assert stages["train"]["plots"][1] == {"plots/roc.csv": {"cache": False, "template": "simple", "x": "fpr", "y": "tpr"}}
    assert stages["ingest"]["outs"] == ["data/catalog", "data/quarantine/ingest"]


def test_a_stage_s_code_is_what_its_module_can_import_and_nothing_of_other_stages():
    keypoints, ingest = set(registry.stage_code("keypoints")), set(registry.stage_code("ingest"))
    # Reached only through a function-level import (pose backends are deferred: heavy).
    assert {"tasks/pose/mediapipe_backend.py", "tasks/pose/mmpose_backend.py", "tasks/readers/video.py", "schemas/series.py"} <= keypoints
    assert {"flows/stages/keypoints.py", "flows/stages/partitions.py", "formset/storage.py", "formset/provenance.py", "flows/runner.py"} <= keypoints
    assert "flows/stages/ingest.py" not in keypoints and "flows/stages/keypoints.py" not in ingest
    assert "tasks/pose/mediapipe_backend.py" not in ingest and "tasks/readers/video.py" not in ingest
    assert "tasks/ingest.py" in ingest and "tasks/ingest.py" not in keypoints
    # Shared maths lives in tasks/maths/: reps smooths with it and does not run normalize.
    assert "tasks/maths/smoothing.py" in registry.stage_code("reps") and "tasks/normalize.py" not in registry.stage_code("reps")
    assert "tasks/cluster.py" in registry.stage_code("compare")
    assert "tasks/validate.py" not in registry.stage_code("cluster")
    assert "tasks/validate.py" in registry.stage_code("validate")


def test_a_stage_s_flow_loads_without_the_other_stages_heavy_modules():
    # `formset stage normalize` (what `dvc repro` runs) must not wait for torch or
    # great-expectations, which only the train, exercise and validate stages import.
    probe = (
        "import sys; from formset.flows.registry import load_flow; flow = load_flow('normalize'); "
        "print(flow.name, flow.fn.__module__, 'torch' in sys.modules, 'great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["normalize", "formset.flows.stages.normalize", "False", "False"]


def test_relative_imports_resolve_against_the_importing_module():
    node = ast.parse("from ..schemas import tables").body[0]
    assert _resolve(node, "formset.tasks.keypoints", is_package=False) == "formset.schemas"
    assert _resolve(ast.parse("from . import video").body[0], "formset.tasks", is_package=True) == "formset.tasks"
    assert _resolve(ast.parse("from .video import x").body[0], "formset.tasks.readers.openpose", is_package=False) == "formset.tasks.readers.video"


def test_imports_name_package_modules_only_and_submodules_by_their_own_name():
    tree = ast.parse(
        "import numpy\nfrom formset.schemas import tables, SKELETONS\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from formset.tasks import train\n"
        "def f():\n    from formset.tasks.pose.backends import get_backend\n"
    )
    found = imported_modules(tree.body, "formset.example")
    assert found == {"formset.schemas", "formset.schemas.tables", "formset.tasks.pose.backends"}


def test_the_closure_follows_imports_through_modules_and_packages():
    closure = import_closure({"formset.tasks.pose.backends"})
    assert {"formset.tasks.pose.mediapipe_backend", "formset.tasks.readers.video", "formset.quarantine", "formset.schemas.vocab"} <= closure
    assert {"formset", "formset.tasks", "formset.schemas"} <= closure  # their __init__ run first
    assert "formset.tasks.train" not in closure
