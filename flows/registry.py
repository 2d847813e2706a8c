"""The stages of the pipeline, declared once.

For each stage: the flow that runs it, the tables and files it reads and writes, its
params groups, and its code. The code is not listed by hand: it is the import closure of
the stage's flow (``formset.codedeps``), so a module a stage imports, however indirectly,
is part of it. ``dvc.yaml`` is generated from this registry (``formset dvc-yaml``; a test
fails when the committed file differs), and the per-set incremental key
(``formset.incremental.code_digest``) hashes the code files that ``dvc.yaml`` lists, so DVC
and the per-set reuse always agree on what a stage's code is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from formset.codedeps import code_files, function_imports, import_closure, module_file, source_root

#: The module holding one Prefect flow per stage, ``<stage>_flow``.
FLOWS_MODULE = "formset.flows.stages"


@dataclass(frozen=True)
class Plot:
    """A plot file of ``dvc plots``: its template and axes."""

    path: str
    template: str
    x: str
    y: str


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    ``reads`` and ``writes`` are project paths (tables are folders of per-set Parquet
    partitions); ``params`` are params.yaml groups or ``group.key``; ``notes`` says why an
    output exists, written as a comment above it in ``dvc.yaml``.
    """

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    params: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def flow(self) -> str:
        return f"{self.name}_flow"

    @property
    def code(self) -> tuple[str, ...]:
        return stage_code(self.name)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        reads=("data/sets",),
        writes=("data/catalog", "data/quarantine/ingest"),
        params=("exercises", "ingest"),
    ),
    Stage(
        "keypoints",
        reads=("data/sets", "data/catalog"),
        writes=("data/keypoints", "data/quarantine/keypoints"),
        params=("keypoints",),
    ),
    Stage(
        "normalize",
        reads=("data/keypoints",),
        writes=("data/features", "data/quarantine/normalize"),
        params=("normalize",),
    ),
    Stage(
        "validate",
        reads=(
            "data/catalog", "data/keypoints", "data/features",
            "data/quarantine/ingest", "data/quarantine/keypoints", "data/quarantine/normalize",
        ),
        writes=("data/validation/report.json", "data/validation/warnings.parquet", "data/quarantine/validate", "data/quality"),
        params=("exercises", "validate"),
        metrics=("data/validation/summary.json",),
        notes={
            "data/quarantine/validate": "Samples a critical expectation failed in, when confined to a few: left out downstream.",
            "data/quality": "The quality report: dataset_card.{md,json} and Data Docs (docs/index.html).",
        },
    ),
    Stage(
        "exercise",
        reads=("data/catalog", "data/features", "data/quarantine/validate", "data/validation/summary.json"),
        writes=("models/exercise_model.pt", "data/exercise_predictions"),
        params=("recognition", *(f"train.{key}" for key in ("views", "joints", "axes", "angles", "max_frames", "cv_folds", "seed"))),
        metrics=("metrics/exercise.json",),
        plots=(Plot("plots/exercise_confusion.csv", "confusion", x="predicted", y="actual"),),
        notes={
            "models/exercise_model.pt": "Exercise recognition (tasks/exercise.py), fitted on every sample.",
            "data/exercise_predictions": "Its out-of-fold predictions, one row per sample: what the reps stage checks.",
            "plots/exercise_confusion.csv": "Exercise recognition's out-of-fold predictions, every sample.",
        },
    ),
    Stage(
        "reps",
        reads=(
            "data/catalog", "data/features", "data/quarantine/keypoints", "data/quarantine/normalize",
            "data/quarantine/validate", "data/validation/summary.json", "data/exercise_predictions",
            "metrics/exercise.json",
        ),
        writes=("data/reps",),
        params=("reps",),
    ),
    Stage(
        "cluster",
        reads=("data/catalog", "data/features", "data/quarantine/validate", "data/validation/summary.json"),
        writes=("models/clusters.json", "data/scores"),
        params=("cluster",),
        metrics=("metrics/cluster.json",),
        notes={"metrics/cluster.json": "Scored rows, exercises without correct executions, and why the stage skipped, if it did."},
    ),
    Stage(
        "compare",
        reads=("data/catalog", "data/features", "data/quarantine/validate", "data/reps", "models/clusters.json"),
        writes=("data/compare",),
        params=("compare", "cluster.max_distance"),
        metrics=("metrics/compare.json",),
        notes={"metrics/compare.json": "The learned DTW thresholds and AUCs, versioned with the dataset."},
    ),
    Stage(
        "train",
        reads=(
            "data/catalog", "data/features", "data/quarantine/validate", "data/validation/summary.json",
            "data/exercise_predictions",
        ),
        writes=("models/classifier.pt", "models/fault_model.pt", "data/predictions"),
        params=("train",),
        metrics=("metrics/train.json", "metrics/faults.json"),
        plots=(
            Plot("plots/confusion.csv", "confusion", x="predicted", y="actual"),
            Plot("plots/roc.csv", "simple", x="fpr", y="tpr"),
        ),
        notes={
            "models/fault_model.pt": "Body-part fault heads (tasks/faults.py), fitted on the labeled samples.",
            "data/predictions": "Out-of-fold predictions of the cross-validation, one row per labeled sample.",
            "plots/confusion.csv": "The out-of-fold predictions (every labeled sample, predicted unseen).",
        },
    ),
)

BY_NAME = {stage.name: stage for stage in STAGES}


@lru_cache(maxsize=None)
def stage_code(name: str) -> tuple[str, ...]:
    """The source files stage ``name`` runs: its flow's module and that flow's import closure,
    relative to the source root (``tasks/pose_mediapipe.py``), sorted."""
    modules = import_closure(function_imports(FLOWS_MODULE, BY_NAME[name].flow))
    flows_file = module_file(FLOWS_MODULE).relative_to(source_root()).as_posix()
    return tuple(sorted({flows_file, *code_files(modules)}))


HEADER = """\
# GENERATED by `formset dvc-yaml` from flows/registry.py: edit the registry, not this file.
# Each stage runs the matching Prefect flow (`formset stage <name>`), so `dvc repro` and
# `formset run` are the same stages with the same deps, params and outs. A stage's code deps
# are the import closure of its flow: every module it can run.
"""


def _item(path: str, notes: dict[str, str], indent: str, extra: list[str] | None = None) -> list[str]:
    lines = [f"{indent}# {notes[path]}"] if path in notes else []
    lines.append(f"{indent}- {path}{':' if extra else ''}")
    lines += [f"{indent}    {line}" for line in extra or []]
    return lines


def dvc_yaml() -> str:
    """The text of ``dvc.yaml`` for the registry's stages."""
    lines = [HEADER.rstrip("\n"), "stages:"]
    for stage in STAGES:
        lines += [f"  {stage.name}:", f"    cmd: formset stage {stage.name}", "    deps:"]
        for path in (*stage.reads, *stage.code):
            lines += _item(path, stage.notes, "      ")
        lines.append("    params:")
        lines += [f"      - {group}" for group in stage.params]
        lines.append("    outs:")
        for path in stage.writes:
            lines += _item(path, stage.notes, "      ")
        if stage.metrics:
            lines.append("    metrics:")
            for path in stage.metrics:
                lines += _item(path, stage.notes, "      ", ["cache: false"])
        if stage.plots:
            lines.append("    plots:")
            for plot in stage.plots:
                lines += _item(plot.path, stage.notes, "      ", ["cache: false", f"template: {plot.template}", f"x: {plot.x}", f"y: {plot.y}"])
        lines.append("")
    return "\n".join(lines)
