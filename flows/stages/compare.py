"""The compare stage: DTW comparison of every rep with correct executions, with learned
thresholds, and per-rep joint scores (after cluster, over the whole dataset)."""

from __future__ import annotations

from prefect import flow

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import gated_digests, gated_features, partition_digests_in, skipped
from formset.incremental import code_digest
from formset.stage_result import SKIPPED
from formset.storage import read_table, write_json, write_table
from formset.tasks.cluster import load_clusters
from formset.tasks.compare import compare_executions, json_safe, rep_joint_scores, skip_reason


@flow(name="compare", log_prints=True)
def compare_flow(root: str | None = None) -> dict:
    """DTW against correct executions with learned thresholds; per-rep joint scores."""
    project = Project.find(root)
    all_params = project.params()
    params = all_params.compare
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    kinematics = read_table(project.path(catalog.KINEMATICS), catalog.KINEMATICS.schema)
    distances, verdicts, metrics = compare_executions(features, kinematics, samples, params)
    clusters = load_clusters(project.path(catalog.CLUSTERS))
    scores = rep_joint_scores(features, kinematics, samples, clusters, all_params.cluster.max_distance)
    inputs = {
        catalog.CLUSTERS.file_name: provenance.file_digest(project.path(catalog.CLUSTERS)),
        **gated_digests(project),
        **partition_digests_in(project, catalog.KINEMATICS),
    }
    prov = provenance.record("compare", params, inputs, code_digest(project, "compare"))
    for table, rows in ((catalog.DISTANCES, distances), (catalog.VERDICTS, verdicts), (catalog.REP_SCORES, scores)):
        write_table(rows, project.path(table), table.schema, prov)
    summary = {f"auc_mean_{scope}": metrics[scope]["auc_mean"] for scope in metrics}
    if reason := skip_reason(verdicts, params.views):
        metrics[SKIPPED] = reason
        summary = skipped("compare", reason, **summary)
    write_json(json_safe(metrics), project.path(catalog.COMPARE_METRICS))
    return json_safe(summary)
