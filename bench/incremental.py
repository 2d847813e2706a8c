"""Incremental builds, timed (``make bench-incremental``).

In a throw-away git + DVC project holding this checkout's pipeline and ``--sets`` SYNTHETIC
sets (``formset sample``, ``--subjects`` people each, a different seed per set), times:

- the full build of the N sets (``formset run`` from nothing): the baseline;
- the build after adding one more set of the same size;
- a rerun with nothing changed (no-op);

each as seconds and as a ratio to the full build measured in the same run, with what each
build computed per stage (``.formset/last-build.json``). Every ``formset run`` is a fresh
process, as a nightly is: Prefect's temporary server start (about 20 s on a warm database)
is part of the first two figures and not of the no-op, which starts no flow. The load
average is printed: these machines are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["params.yaml", "dvc.yaml", ".dvcignore", "tasks", "schemas"]


def run(project: Path, *args: str) -> float:
    """Run a command in the project; return its wall time in seconds."""
    env = {**os.environ, "FORMSET_ROOT": str(project), "PREFECT_HOME": str(REPO / ".prefect")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    start = time.perf_counter()
    subprocess.run(args, cwd=project, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def make_project(root: Path, n_sets: int, subjects: int) -> Path:
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    for i in range(n_sets):
        add_set(root, i, subjects)
    return root


def add_set(project: Path, index: int, subjects: int) -> None:
    run(project, sys.executable, "-m", "formset.cli", "sample", f"data/sets/set-{index:02d}", "--subjects", str(subjects), "--seed", str(index))


def work_done(project: Path) -> str:
    """Per stage: the sets computed, or whether it ran."""
    build = json.loads((project / ".formset" / "last-build.json").read_text())
    parts = []
    for stage, result in build.items():
        if isinstance(result, dict) and "computed" in result:
            parts.append(f"{stage} {len(result['computed'])} computed / {len(result['reused'])} reused")
        else:
            parts.append(f"{stage} {'up to date' if result == 'up to date' else 'ran'}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=4, help="sets in the full build")
    parser.add_argument("--subjects", type=int, default=2, help="synthetic people per set (12 recordings each)")
    args = parser.parse_args()
    formset = (sys.executable, "-m", "formset.cli", "run")
    with tempfile.TemporaryDirectory(prefix="formset-bench-") as tmp:
        project = make_project(Path(tmp) / "project", args.sets, args.subjects)
        print(f"{args.sets} synthetic sets x {args.subjects} people x 12 recordings; load average {os.getloadavg()[0]:.1f}")
        full = run(project, *formset)
        print(f"full build, {args.sets} sets:  {full:7.1f} s   1.00   {work_done(project)}")
        add_set(project, args.sets, args.subjects)
        one_more = run(project, *formset)
        print(f"add 1 set:             {one_more:7.1f} s   {one_more / full:.2f}   {work_done(project)}")
        noop = run(project, *formset)
        print(f"no-op rerun:           {noop:7.1f} s   {noop / full:.2f}   {work_done(project)}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
