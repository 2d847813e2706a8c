"""The stages of the pipeline, declared once.

For each stage: the flow that runs it, the tables and files it reads and writes, its
params groups, and its code. The code is not listed by hand: it is the import closure of
the stage's module (``formset.codedeps``), so a module a stage imports, however indirectly,
is part of it. ``dvc.yaml`` is generated from this registry (``formset dvc-yaml``; a test
fails when the committed file differs), and the per-set incremental key
(``formset.incremental.code_digest``) hashes the code files that ``dvc.yaml`` lists, so DVC
and the per-set reuse always agree on what a stage's code is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from formset import catalog
from formset.catalog import Table
from formset.codedeps import code_files, import_closure

if TYPE_CHECKING:
    from prefect import Flow

#: The package holding one module per stage, ``<package>.<stage>``, with its flow ``<stage>_flow``.
STAGES_PACKAGE = "formset.flows.stages"


@dataclass(frozen=True)
class Plot:
    """A plot file of ``dvc plots``: its template and axes."""

    table: Table
    template: str
    x: str
    y: str


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    ``reads`` and ``writes`` are tables and files of the catalog (``formset.catalog``; tables
    are folders of per-set Parquet partitions); ``params`` are params.yaml groups or
    ``group.key``; ``notes`` says why an output exists, written as a comment above it in
    ``dvc.yaml``.
    """

    name: str
    reads: tuple[Table, ...]
    writes: tuple[Table, ...]
    params: tuple[str, ...]
    metrics: tuple[Table, ...] = ()
    plots: tuple[Plot, ...] = ()
    notes: dict[Table, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return f"{STAGES_PACKAGE}.{self.name}"

    @property
    def flow(self) -> str:
        return f"{self.name}_flow"

    @property
    def code(self) -> tuple[str, ...]:
        return stage_code(self.name)


def _quarantines(*stages: str) -> tuple[Table, ...]:
    """The quarantine tables of ``stages``."""
    return tuple(catalog.quarantine_of(stage) for stage in stages)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        reads=(catalog.DELIVERED_SETS,),
        writes=(catalog.CATALOG, catalog.quarantine_of("ingest")),
        params=("exercises", "ingest"),
    ),
    Stage(
        "keypoints",
        reads=(catalog.DELIVERED_SETS, catalog.CATALOG),
        writes=(catalog.KEYPOINTS, catalog.quarantine_of("keypoints")),
        params=("keypoints",),
    ),
    Stage(
        "normalize",
        reads=(catalog.KEYPOINTS,),
        writes=(catalog.FEATURES, catalog.quarantine_of("normalize")),
        params=("normalize",),
    ),
    Stage(
        "validate",
        reads=(catalog.CATALOG, catalog.KEYPOINTS, catalog.FEATURES, *_quarantines("ingest", "keypoints", "normalize")),
        writes=(catalog.VALIDATION_REPORT, catalog.VALIDATION_WARNINGS, catalog.quarantine_of("validate"), catalog.QUALITY),
        params=("exercises", "validate"),
        metrics=(catalog.VALIDATION_SUMMARY,),
        notes={
            catalog.quarantine_of("validate"): "Samples a critical expectation failed in, when confined to a few: left out downstream.",
            catalog.QUALITY: "The quality report: the dataset card (Markdown and JSON) and the great-expectations Data Docs.",
        },
    ),
    Stage(
        "exercise",
        reads=(catalog.CATALOG, catalog.FEATURES, catalog.quarantine_of("validate"), catalog.VALIDATION_SUMMARY),
        writes=(catalog.EXERCISE_MODEL, catalog.EXERCISE_PREDICTIONS),
        params=("recognition", *(f"train.{key}" for key in ("views", "joints", "axes", "angles", "max_frames", "cv_folds", "seed"))),
        metrics=(catalog.EXERCISE_METRICS,),
        plots=(Plot(catalog.EXERCISE_CONFUSION, "confusion", x="predicted", y="actual"),),
        notes={
            catalog.EXERCISE_MODEL: "Exercise recognition (tasks/exercise.py), fitted on every sample.",
            catalog.EXERCISE_PREDICTIONS: "Its out-of-fold predictions, one row per sample: what the reps stage checks.",
            catalog.EXERCISE_CONFUSION: "Exercise recognition's out-of-fold predictions, every sample.",
        },
    ),
    Stage(
        "reps",
        reads=(
            catalog.CATALOG, catalog.FEATURES, *_quarantines("keypoints", "normalize", "validate"),
            catalog.VALIDATION_SUMMARY, catalog.EXERCISE_PREDICTIONS, catalog.EXERCISE_METRICS,
        ),
        writes=(catalog.REP_TABLES,),
        params=("reps",),
    ),
    Stage(
        "cluster",
        reads=(catalog.CATALOG, catalog.FEATURES, catalog.quarantine_of("validate"), catalog.VALIDATION_SUMMARY),
        writes=(catalog.CLUSTERS, catalog.SCORES),
        params=("cluster",),
        metrics=(catalog.CLUSTER_METRICS,),
        notes={catalog.CLUSTER_METRICS: "Scored rows, exercises without correct executions, and why the stage skipped, if it did."},
    ),
    Stage(
        "compare",
        reads=(catalog.CATALOG, catalog.FEATURES, catalog.quarantine_of("validate"), catalog.REP_TABLES, catalog.CLUSTERS),
        writes=(catalog.COMPARISONS,),
        params=("compare", "cluster.max_distance"),
        metrics=(catalog.COMPARE_METRICS,),
        notes={catalog.COMPARE_METRICS: "The learned DTW thresholds and AUCs, versioned with the dataset."},
    ),
    Stage(
        "train",
        reads=(
            catalog.CATALOG, catalog.FEATURES, catalog.quarantine_of("validate"), catalog.VALIDATION_SUMMARY,
            catalog.EXERCISE_PREDICTIONS,
        ),
        writes=(catalog.CLASSIFIER, catalog.FAULT_MODEL, catalog.PREDICTIONS),
        params=("train",),
        metrics=(catalog.TRAIN_METRICS, catalog.FAULT_METRICS),
        plots=(
            Plot(catalog.CONFUSION, "confusion", x="predicted", y="actual"),
            Plot(catalog.ROC, "simple", x="fpr", y="tpr"),
        ),
        notes={
            catalog.FAULT_MODEL: "Body-part fault heads (tasks/faults.py), fitted on the labeled samples.",
            catalog.PREDICTIONS: "Out-of-fold predictions of the cross-validation, one row per labeled sample.",
            catalog.CONFUSION: "The out-of-fold predictions (every labeled sample, predicted unseen).",
        },
    ),
)

BY_NAME = {stage.name: stage for stage in STAGES}
#: The stages' names, in pipeline order.
STAGE_NAMES: tuple[str, ...] = tuple(BY_NAME)


def load_flow(name: str) -> Flow:
    """The Prefect flow of stage ``name``, its module imported on first use: each stage's
    module imports what it runs (torch for train, great-expectations for validate), which
    a command running another stage need not load."""
    stage = BY_NAME[name]
    return getattr(importlib.import_module(stage.module), stage.flow)


@lru_cache(maxsize=None)
def stage_code(name: str) -> tuple[str, ...]:
    """The source files stage ``name`` runs: its module's import closure, relative to the
    source root (``tasks/pose/mediapipe_backend.py``), sorted."""
    return tuple(code_files(import_closure({BY_NAME[name].module})))


HEADER = """\
# GENERATED by `formset dvc-yaml` from flows/registry.py: edit the registry, not this file.
# Each stage runs the matching Prefect flow (`formset stage <name>`), so `dvc repro` and
# `formset run` are the same stages with the same deps, params and outs. A stage's code deps
# are the import closure of its module: every module it can run.
"""


def _item(path: str, note: str | None, indent: str, extra: list[str] | None = None) -> list[str]:
    lines = [f"{indent}# {note}"] if note else []
    lines.append(f"{indent}- {path}{':' if extra else ''}")
    lines += [f"{indent}    {line}" for line in extra or []]
    return lines


def dvc_yaml() -> str:
    """The text of ``dvc.yaml`` for the registry's stages."""
    lines = [HEADER.rstrip("\n"), "stages:"]
    for stage in STAGES:
        lines += [f"  {stage.name}:", f"    cmd: formset stage {stage.name}", "    deps:"]
        for table in stage.reads:
            lines += _item(table.path, stage.notes.get(table), "      ")
        for path in stage.code:
            lines += _item(path, None, "      ")
        lines.append("    params:")
        lines += [f"      - {group}" for group in stage.params]
        lines.append("    outs:")
        for table in stage.writes:
            lines += _item(table.path, stage.notes.get(table), "      ")
        if stage.metrics:
            lines.append("    metrics:")
            for table in stage.metrics:
                lines += _item(table.path, stage.notes.get(table), "      ", ["cache: false"])
        if stage.plots:
            lines.append("    plots:")
            for plot in stage.plots:
                lines += _item(plot.table.path, stage.notes.get(plot.table), "      ", ["cache: false", f"template: {plot.template}", f"x: {plot.x}", f"y: {plot.y}"])
        lines.append("")
    return "\n".join(lines)
