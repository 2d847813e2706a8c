"""DVC bookkeeping around a pipeline run.

``dvc repro`` records what it runs by itself. ``formset run`` runs the same stages in one
Prefect flow (one process, parallel over sets), then records the inputs and outputs in
``data/sets.dvc`` and ``dvc.lock`` exactly as ``dvc repro`` would, so ``dvc status`` is
clean and ``dvc push`` / ``dvc get`` see the new version.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from formset import catalog
from formset.config import Project


class DvcError(RuntimeError):
    pass


def dvc(project: Project, *args: str) -> str:
    """Run a DVC command in the project; return its stdout, raise ``DvcError`` on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=project.root, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def cache_objects_dir(project: Project) -> Path | None:
    """The folder of DVC's local cache holding file objects by md5, or None outside a DVC
    project. Asked of DVC, since ``cache.dir`` may put the cache anywhere."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo(str(project.root)) as repo:
            return Path(repo.cache.local.path)
    except NotDvcRepoError:
        return None


def track_inputs(project: Project) -> None:
    """Record the current labeled sets (``data/sets``) as a DVC-tracked input version.

    ``--no-relink``: the sets stay the plain files they are. With DVC's default cache type
    (reflink, else copy) relinking would change nothing, but checking that walks and
    compares the whole tree a second time.
    """
    project.path(catalog.DELIVERED_SETS).mkdir(parents=True, exist_ok=True)
    dvc(project, "add", "--quiet", "--no-relink", str(project.path(catalog.DELIVERED_SETS).relative_to(project.root)))


def record_outputs(project: Project) -> None:
    """Write the hashes of every stage's deps, params and outs to ``dvc.lock``."""
    dvc(project, "commit", "--force", "--quiet")


def push(project: Project) -> None:
    """Send every tracked version's data to the default DVC remote."""
    dvc(project, "push", "--quiet")


def stage_outputs(spec: dict, kinds: tuple[str, ...] = ("outs", "metrics", "plots")) -> dict[str, dict]:
    """The outputs the stages of a parsed ``dvc.yaml`` declare.

    Parameters
    ----------
    spec
        ``dvc.yaml`` as parsed by ``yaml.safe_load``.
    kinds
        Which declarations count: ``outs``, ``metrics``, ``plots``.

    Returns
    -------
    dict
        Output path (relative to the project root) -> its options (``cache``, ``persist`` ...),
        in the order of ``dvc.yaml``.
    """
    outs: dict[str, dict] = {}
    for stage in spec.get("stages", {}).values():
        for entry in (e for kind in kinds for e in stage.get(kind, [])):
            path, options = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
            outs[path] = options or {}
    return outs


def git_tracked_records(project: Project) -> list[str]:
    """The files git holds for a dataset version, relative to the root: ``dvc.yaml``,
    ``params.yaml``, ``dvc.lock``, ``data/sets.dvc``, the set registry, the outputs kept
    out of the DVC cache (``cache: false`` metrics and plots) and the ``.gitignore`` files
    DVC writes beside its outputs."""
    outs = stage_outputs(yaml.safe_load((project.root / "dvc.yaml").read_text()))
    uncached = [path for path, options in outs.items() if options.get("cache") is False]
    sets = project.path(catalog.DELIVERED_SETS).relative_to(project.root)
    records = ["dvc.yaml", "params.yaml", "dvc.lock", f"{sets}.dvc", str(project.path(catalog.SET_REGISTRY).relative_to(project.root))]
    gitignores = {str(Path(path).parent / ".gitignore") for path in [*outs, str(sets)]}
    return sorted(p for p in {*records, *uncached, *gitignores} if (project.root / p).exists())
