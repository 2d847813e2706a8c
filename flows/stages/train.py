"""The train stage: the correct / incorrect classifier and the body-part fault heads,
cross-validated by people and fitted on everyone."""

from __future__ import annotations

import pandas as pd
from prefect import flow

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import (
    SAMPLE_COLUMNS,
    exercise_predictions,
    gated_digests,
    gated_features,
    partition_digests_in,
    skipped,
    write_csv,
    write_per_set,
)
from formset.incremental import code_digest
from formset.params import plain
from formset.quarantine import StageSkipped
from formset.storage import read_table, write_json
from formset.tasks.faults import evaluate_faults
from formset.tasks.learning.model_files import save_model, save_skipped
from formset.tasks.learning.sequences import build_sequences
from formset.tasks.train import CONFUSION_COLUMNS, ROC_COLUMNS, train_and_evaluate


@flow(name="train", log_prints=True)
def train_flow(root: str | None = None) -> dict:
    """Cross-validate the model family of ``train.model`` by people, fit it on everyone, and
    write the model, its metrics, the out-of-fold predictions (one partition per set, with
    the exercise stage's out-of-fold exercise) and the confusion and ROC plots."""
    project = Project.find(root)
    params = project.params().train
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    inputs = {**gated_digests(project), **partition_digests_in(project, catalog.EXERCISE_PREDICTIONS)}
    prov = provenance.record("train", params, inputs, code_digest(project, "train"))
    meta = {"params": plain(params), "provenance": prov}
    try:
        result = train_and_evaluate(features, samples, params)
    except StageSkipped as skip:
        # Every output is written, saying why there is no model: the version is still recorded.
        save_skipped(project.path(catalog.CLASSIFIER), skip.reason, meta)
        metrics = skipped("train", skip.reason)
        predictions = catalog.PREDICTIONS.schema.empty_table().to_pandas()
        confusion, roc = pd.DataFrame(columns=list(CONFUSION_COLUMNS)), pd.DataFrame(columns=list(ROC_COLUMNS))
    else:
        save_model(result.model, project.path(catalog.CLASSIFIER), meta)
        metrics, predictions, confusion, roc = result.metrics, result.predictions, result.confusion, result.roc
    named = exercise_predictions(project)[[*SAMPLE_COLUMNS, "predicted_exercise", "p_exercise"]]
    predictions = predictions.drop(columns=["predicted_exercise", "p_exercise"], errors="ignore").merge(
        named, on=SAMPLE_COLUMNS, how="left"
    )
    # Fault heads: the labeled samples, the fault columns as targets.
    try:
        faults = evaluate_faults(build_sequences(features, samples, params), samples, params)
    except StageSkipped as skip:
        save_skipped(project.path(catalog.FAULT_MODEL), skip.reason, meta)
        fault_metrics = skipped("fault heads", skip.reason)
    else:
        save_model(faults.model, project.path(catalog.FAULT_MODEL), meta)
        fault_metrics = faults.metrics
    # Empty for a set without labeled samples: `formset pull predictions`.
    write_per_set(project, predictions, catalog.PREDICTIONS, prov)
    write_json(metrics, project.path(catalog.TRAIN_METRICS))
    write_json(fault_metrics, project.path(catalog.FAULT_METRICS))
    for plot, table in ((catalog.CONFUSION, confusion), (catalog.ROC, roc)):
        write_csv(table, project.path(plot))
    return metrics
