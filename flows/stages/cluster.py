"""The cluster stage: DBSCAN joint clusters of correct executions, and every sample's joint scores."""

from __future__ import annotations

from prefect import flow

from formset import catalog, provenance
from formset.config import Project
from formset.flows.stages.partitions import gated_digests, gated_features, skipped
from formset.incremental import code_digest
from formset.storage import read_table, write_json, write_table
from formset.tasks.cluster import exercises_without_clusters, fit_joint_clusters, save_clusters, score_samples


@flow(name="cluster", log_prints=True)
def cluster_flow(root: str | None = None) -> dict:
    """Fit DBSCAN joint clusters on correct executions; score every sample per joint."""
    project = Project.find(root)
    params = project.params().cluster
    samples = read_table(project.path(catalog.SAMPLES), catalog.SAMPLES.schema)
    features = gated_features(project)
    clusters = fit_joint_clusters(features, samples, params)
    save_clusters(clusters, project.path(catalog.CLUSTERS))
    scores = score_samples(features, samples, clusters, params)
    prov = provenance.record("cluster", params, gated_digests(project), code_digest(project, "cluster"))
    write_table(scores, project.path(catalog.JOINT_SCORES), catalog.JOINT_SCORES.schema, prov)
    summary = {"rows": len(scores), "exercises_without_correct_executions": exercises_without_clusters(samples, clusters)}
    if not clusters.centroids:
        summary = skipped("cluster", "no correct executions to cluster: every joint score is empty", **summary)
    write_json(summary, project.path(catalog.CLUSTER_METRICS))
    return summary
