"""The whole pipeline as one Prefect flow: the same stages, in the order of dvc.yaml.

Each stage is a subflow, so the Prefect UI shows one run with a child per stage, and a
critical validation failure stops the run before ``cluster`` and ``train``.
"""

from __future__ import annotations

from prefect import flow

from formset.flows.stages import STAGES


@flow(name="build-dataset", log_prints=True)
def build_dataset(root: str | None = None) -> dict:
    """Run every stage in order; return each stage's summary by name."""
    return {name: stage_flow(root) for name, stage_flow in STAGES.items()}
