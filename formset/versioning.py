"""DVC bookkeeping around a pipeline run.

``dvc repro`` records what it runs by itself. ``formset run`` runs the same stages in one
Prefect flow (one process, parallel over sets), then records the inputs and outputs in
``data/sets.dvc`` and ``dvc.lock`` exactly as ``dvc repro`` would, so ``dvc status`` is
clean and ``dvc push`` / ``dvc get`` see the new version.
"""

from __future__ import annotations

import subprocess
import sys

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


def track_inputs(project: Project) -> None:
    """Record the current labeled sets (``data/sets``) as a DVC-tracked input version."""
    project.sets_dir.mkdir(parents=True, exist_ok=True)
    dvc(project, "add", "--quiet", str(project.sets_dir.relative_to(project.root)))


def record_outputs(project: Project) -> None:
    """Write the hashes of every stage's deps, params and outs to ``dvc.lock``."""
    dvc(project, "commit", "--force", "--quiet")
