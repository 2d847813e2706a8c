"""The whole pipeline as one Prefect flow: the same stages, in the order of dvc.yaml.

Each stage is a subflow, so the Prefect UI shows one run with a child per stage, and a
critical validation failure stops the run before ``cluster`` and ``train``. A stage runs
only when DVC finds it out of date (``formset.incremental``), and per-set stages recompute
only the sets whose inputs, params or code changed.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger

from formset import catalog
from formset.config import Project
from formset.flows.registry import STAGE_NAMES, load_flow
from formset.incremental import stale_stages
from formset.stage_result import UP_TO_DATE, StageResult
from formset.storage import write_json
from formset.versioning import record_outputs, track_inputs


class NoSets(RuntimeError):
    """The project holds no labeled set: there is nothing to build."""


def require_sets(project: Project) -> None:
    """Raise ``NoSets``, saying how to add one, when ``data/sets`` holds no set."""
    if not project.set_dirs():
        raise NoSets(f"no labeled sets in {project.path(catalog.DELIVERED_SETS).relative_to(project.root)}: add one with `formset add-set DIR`")


@flow(name="build-dataset", log_prints=True)
def build_dataset(root: str | None = None, stale: list[str] | None = None) -> dict:
    """Run the out-of-date stages in order.

    Parameters
    ----------
    root
        The project root (default: found from the working directory).
    stale
        The stages already known to be out of date (``formset.incremental.stale_stages``);
        asked from DVC when None. A stage after one that ran is asked again, as its inputs
        may just have changed.

    Returns
    -------
    dict
        ``work``: each stage's ``StageResult`` by name; ``seconds``: the wall time of each
        stage that ran, its DVC check included.
    """
    project = Project.find(root)
    names = list(STAGE_NAMES)
    out_of_date = set(stale_stages(project, names) if stale is None else stale)
    results, seconds, upstream_ran = {}, {}, False
    for name in names:
        started = time.perf_counter()
        if upstream_ran and name not in out_of_date:
            out_of_date |= stale_stages(project, [name])
        if name in out_of_date:
            results[name] = StageResult.of_run(name, load_flow(name)(str(project.root)))
            seconds[name] = round(time.perf_counter() - started, 2)
            upstream_ran = True
        else:
            results[name] = StageResult.up_to_date(name)
            get_run_logger().info("%s: %s", name, UP_TO_DATE)
    return {"work": results, "seconds": seconds}


def build_and_record(project: Project) -> dict[str, StageResult]:
    """Record the sets as an input version, run what is out of date, record the outputs.

    What ``formset run`` and the nightly flow do. With nothing out of date no flow starts
    at all. Each stage's ``StageResult`` is returned by name; their records (a stage's
    summary, per-set stages saying which sets were computed and which reused, or
    ``UP_TO_DATE``) are written to ``.formset/last-build.json`` (``work``), with the
    seconds each stage took and the whole build's (``seconds``, ``build``: from recording
    the inputs to recording the outputs).

    Raises
    ------
    NoSets
        ``data/sets`` holds no set.
    formset.stage_result.ValidationFailed
        A critical expectation failed; ``dvc.lock`` keeps the last good version.
    """
    require_sets(project)
    started = time.perf_counter()
    track_inputs(project)
    stale = stale_stages(project, list(STAGE_NAMES))
    if stale:
        build = build_dataset(str(project.root), sorted(stale))
        record_outputs(project)
    else:
        build = {"work": {name: StageResult.up_to_date(name) for name in STAGE_NAMES}, "seconds": {}}
    build["seconds"]["build"] = round(time.perf_counter() - started, 2)
    records = {name: result.record() for name, result in build["work"].items()}
    write_json({"work": records, "seconds": build["seconds"]}, project.state_dir / "last-build.json")
    return build["work"]
