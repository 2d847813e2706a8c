"""The exercise stage: exercise recognition judged leave-people-out, then fitted on every sample."""

from __future__ import annotations

from prefect import flow

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import gated_digests, gated_features, skipped, write_csv, write_per_set
from formset.incremental import code_digest
from formset.quarantine import StageSkipped
from formset.storage import read_table, write_json
from formset.tasks.exercise import recognition_record, recognize_exercises
from formset.tasks.learning.model_files import save_model, save_skipped
from formset.tasks.learning.sequences import build_sequences


@flow(name="exercise", log_prints=True)
def exercise_flow(root: str | None = None) -> dict:
    """Judge exercise recognition by people (leave-people-out), fit it on every sample, and
    write the model, its metrics, its out-of-fold predictions (one partition per set, what
    the reps stage checks) and the confusion plot."""
    project = Project.find(root)
    params = project.params()
    record = recognition_record(params)
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    prov = provenance.record("exercise", record, gated_digests(project), code_digest(project, "exercise"))
    meta = {"params": record, "provenance": prov}
    try:
        # Every sample, labeled correct / incorrect or not.
        result = recognize_exercises(build_sequences(features, samples, params.train, labeled_only=False), params.train, params.recognition)
    except StageSkipped as skip:
        save_skipped(project.path(catalog.EXERCISE_MODEL), skip.reason, meta)
        metrics = skipped("exercise", skip.reason)
        predictions = catalog.EXERCISE_PREDICTIONS.schema.empty_table().to_pandas()
    else:
        save_model(result.model, project.path(catalog.EXERCISE_MODEL), meta)
        metrics, predictions = result.metrics, result.predictions
    # Empty for a set without samples: the per-set reps stage reads its set's partition.
    write_per_set(project, predictions, catalog.EXERCISE_PREDICTIONS, prov)
    write_json(metrics, project.path(catalog.EXERCISE_METRICS))
    confusion = predictions.rename(columns={"exercise": "actual", "predicted_exercise": "predicted"})[["actual", "predicted"]]
    write_csv(confusion, project.path(catalog.EXERCISE_CONFUSION))
    return metrics
