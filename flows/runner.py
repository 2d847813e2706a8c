"""The task runner of the stage flows, chosen in params.yaml (``runner`` group).

``kind`` picks how a flow's tasks run side by side:

- ``processes`` (default): a pool of ``workers`` Python processes (Prefect's
  ``ProcessPoolTaskRunner``). Pose models hold Python's GIL while they run (MediaPipe in
  threads measured no faster than one thread), so only processes use more than one core.
- ``threads``: ``workers`` threads of this process; enough for I/O-bound stages.
- ``dask``: a Dask cluster (``prefect_dask``): a local one of ``workers`` single-threaded
  processes, or the existing scheduler at ``address`` (``tcp://host:8786``), whose workers
  need formset installed, the project's files at the same path, and ``PREFECT_API_URL`` set
  to a Prefect server the flow also uses.
"""

from __future__ import annotations

import os
from typing import Mapping

from prefect.context import FlowRunContext
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

KINDS = ("processes", "threads", "dask")
DEFAULT_SETTINGS = {"kind": "processes", "workers": 2, "address": None}
#: Dask workers run one task at a time each: the pose models are single-threaded and hold the GIL.
DASK_THREADS_PER_WORKER = 1


def task_runner(settings: Mapping | None) -> TaskRunner:
    """A fresh task runner built from the ``runner`` group of params.yaml.

    Parameters
    ----------
    settings
        ``kind`` (one of ``KINDS``), ``workers`` (parallel tasks, at least 1; for ``dask``
        the local cluster's processes) and ``address`` (``dask`` only: an existing
        scheduler, when set ``workers`` is ignored). Missing keys take ``DEFAULT_SETTINGS``.

    Returns
    -------
    prefect.task_runners.TaskRunner
        Not started; use it as a context manager (``with task_runner(...) as runner``) or
        pass it to ``flow.with_options(task_runner=...)``.

    Raises
    ------
    ValueError
        Unknown ``kind`` or ``workers`` below 1; the message names the params.yaml key.
    """
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    kind, workers, address = merged["kind"], int(merged["workers"]), merged["address"]
    if kind not in KINDS:
        raise ValueError(f"runner.kind in params.yaml must be one of {', '.join(KINDS)}, got {kind!r}")
    if workers < 1:
        raise ValueError(f"runner.workers in params.yaml must be at least 1, got {workers}")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers, initializer=_set_environment, initargs=(_flow_api_env(),))
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": DASK_THREADS_PER_WORKER,
            "processes": True,
            "env": _flow_api_env(),  # set by each worker's nanny before the worker starts
        },
    )


def _flow_api_env() -> dict[str, str]:
    """``PREFECT_API_URL`` of the API the running flow reports to (empty outside a flow).

    Without it every pool process of a flow on Prefect's temporary server starts a temporary
    server of its own (seconds each), and its task runs are recorded there, not in the flow.
    """
    context = FlowRunContext.get()
    if context is None or context.client is None:
        return {}
    return {"PREFECT_API_URL": str(context.client.api_url)}


def _set_environment(variables: dict[str, str]) -> None:
    """Pool-process initializer (picklable by name, unlike ``os.environ.update``)."""
    os.environ.update(variables)
