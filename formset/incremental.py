"""Incremental builds: redo only what changed.

Two levels, each with the tool that knows best:

- **stages**: DVC decides. A stage runs when ``dvc status`` says its deps, params or outs
  differ from ``dvc.lock`` (exactly what ``dvc repro`` would run); otherwise the build skips it.
- **sets inside a per-set stage**: each partition (``<stage dir>/<set_id>.parquet``) carries
  its provenance key (``formset.provenance.record``): the stage, its params, the content of
  the stage's code files and the partition's input hashes. A set whose key is unchanged is
  not recomputed, so adding one set to a built dataset computes that set only, and changing
  a stage's params recomputes every set from that stage on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from formset.config import Project
from formset.provenance import file_digest, read_record


def code_digest(project: Project, stage: str) -> str:
    """sha256 over the code files ``dvc.yaml`` lists as the stage's deps (not its data).

    Parameters
    ----------
    project
        The project whose ``dvc.yaml`` is read.
    stage
        A stage name of ``dvc.yaml``.

    Returns
    -------
    str
        Hex digest of ``path<TAB>sha256`` lines of every dep outside ``data/``, in order.
    """
    deps = yaml.safe_load((project.root / "dvc.yaml").read_text())["stages"][stage].get("deps", [])
    lines = []
    for dep in deps:
        path = project.root / dep
        if dep.startswith("data/"):
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        lines += [f"{f.relative_to(project.root).as_posix()}\t{file_digest(f) if f.exists() else 'missing'}\n" for f in files]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def is_current(partition: Path, key: str, *companions: Path) -> bool:
    """True when ``partition`` exists with provenance key ``key`` and every companion exists.

    Companions are files a stage writes before the partition (its quarantine partition):
    the partition is written last, so a run killed between the two leaves a stale key and
    the set is recomputed.
    """
    record = read_record(partition) if partition.is_file() else None
    return record is not None and record.get("key") == key and all(p.is_file() for p in companions)


def stale_stages(project: Project, stages: list[str]) -> set[str]:
    """The stages ``dvc repro`` would run now: deps, params or outs changed since ``dvc.lock``.

    Only each stage's own record is compared (not its upstream stages'); the build asks
    again before every stage, after the previous ones have run. Stages are named by the
    absolute path of ``dvc.yaml``, so the answer does not depend on the working directory
    (DVC reports them as ``<dvc.yaml relative to it>:<stage>`` from elsewhere).
    """
    from dvc.repo import Repo

    targets = [f"{project.root / 'dvc.yaml'}:{stage}" for stage in stages]
    with Repo(str(project.root)) as repo:
        return {name.rpartition(":")[2] for name in repo.status(targets=targets)} & set(stages)
