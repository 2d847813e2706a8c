"""The task runner of the stage flows, chosen in params.yaml (``runner`` group).

``kind`` picks how a flow's tasks run side by side:

- ``processes`` (default): a pool of ``workers`` Python processes (Prefect's
  ``ProcessPoolTaskRunner``). Pose models hold Python's GIL while they run (MediaPipe in
  threads measured no faster than one thread), so only processes use more than one core.
- ``threads``: ``workers`` threads of this process; enough for I/O-bound stages.
- ``dask``: a Dask cluster (``prefect_dask``): a local one of ``workers`` single-threaded
  processes, or the existing scheduler at ``address`` (``tcp://host:8786``; the environment
  variable ``FORMSET_DASK_ADDRESS`` overrides both ``kind`` and ``address``, so a cluster is
  chosen without changing the versioned params.yaml). Such a cluster's workers need
  formset's environment, the project's files at the same path (a shared filesystem: tasks
  read the sets and write Parquet partitions there), and ``PREFECT_API_URL`` set to the
  Prefect server the flow also reports to.

The keypoints stage reads the file-sourced views (Kinect, OpenPose) of ``samples_per_task``
samples per task: one task per folder would spend more on scheduling than on reading, one
per set would leave all but one worker idle on a large set. The other per-set stages run
their sets on the Dask cluster when ``kind`` is ``dask``, and on threads of the flow's
process otherwise (their tasks are short; a process pool would cost its start-up per stage).
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping, Sequence, TypeVar

from prefect.context import FlowRunContext
from prefect.settings import get_current_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from formset.params import RunnerParams

#: The environment variable naming a Dask scheduler to run on, whatever params.yaml says.
ADDRESS_VARIABLE = "FORMSET_DASK_ADDRESS"
#: Dask workers run one task at a time each: the pose models are single-threaded and hold the GIL.
DASK_THREADS_PER_WORKER = 1


def task_runner(settings: RunnerParams) -> TaskRunner:
    """A fresh task runner built from the ``runner`` group of params.yaml.

    Parameters
    ----------
    settings
        ``kind`` (``formset.params.RunnerKind``), ``workers`` (parallel tasks; for ``dask`` the local
        cluster's processes) and ``address`` (``dask`` only: an existing scheduler, when set
        ``workers`` is ignored).

    Returns
    -------
    prefect.task_runners.TaskRunner
        Not started; use it as a context manager (``with task_runner(...) as runner``) or
        pass it to ``flow.with_options(task_runner=...)``.

    Raises
    ------
    ValueError
        A Dask scheduler's address without a Prefect server to report to.
    """
    kind, workers, address = resolved(settings, os.environ)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers, initializer=_set_environment, initargs=(_flow_api_env(),))
    from prefect_dask import DaskTaskRunner  # Dask: only for the runs that use it

    if address:
        if get_current_settings().api.url is None:
            raise ValueError(
                f"the Dask cluster at {address} needs a Prefect server that the flow and the workers report to: "
                "set PREFECT_API_URL here and on the workers (`formset server` starts one and prints it)"
            )
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


def resolved(settings: RunnerParams, environ: Mapping[str, str]) -> tuple[str, int, str | None]:
    """The ``kind``, ``workers`` and ``address`` a runner is built with.

    Parameters
    ----------
    settings
        The ``runner`` group of params.yaml.
    environ
        The environment: a non-empty ``FORMSET_DASK_ADDRESS`` makes the kind ``dask`` at
        that address.
    """
    kind, address = settings.kind, settings.address
    if environ.get(ADDRESS_VARIABLE):
        kind, address = "dask", environ[ADDRESS_VARIABLE]
    return kind, settings.workers, address if kind == "dask" else None


def set_runner(settings: RunnerParams) -> TaskRunner:
    """The task runner of the per-set stages (ingest, normalize, reps): the Dask cluster of
    ``task_runner`` when the kind resolves to ``dask``, else threads of this process."""
    kind, workers, _ = resolved(settings, os.environ)
    return task_runner(settings) if kind == "dask" else ThreadPoolTaskRunner(max_workers=workers)


T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of ``size`` (the last one shorter), in order.

    Raises
    ------
    ValueError
        ``size`` below 1 (the message names ``runner.samples_per_task``).
    """
    if size < 1:
        raise ValueError(f"runner.samples_per_task in params.yaml must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


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
