"""Incremental builds, timed (``make bench-incremental``).

In a throw-away git + DVC project holding this checkout's pipeline and ``--sets`` SYNTHETIC
sets (``formset sample``, ``--subjects`` people each, a different seed per set), times:

- the full build of the N sets (``formset run`` from nothing): the baseline;
- the build after adding one more set of the same size;
- a rerun with nothing changed (no-op);

each as seconds and as a ratio to the full build measured in the same run: the command's
wall time, the build inside it and each stage (``.formset/last-build.json``), then what each
build computed per stage. Every ``formset run`` is a fresh
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

import yaml

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["params.yaml", "dvc.yaml", ".dvcignore", "formset", "flows", "tasks", "schemas"]


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
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    for i in range(n_sets):
        add_set(root, i, subjects)
    return root


def add_set(project: Path, index: int, subjects: int) -> None:
    run(project, sys.executable, "-m", "formset.cli", "sample", f"data/sets/set-{index:02d}", "--subjects", str(subjects), "--seed", str(index))


def last_build(project: Path) -> dict:
    """``.formset/last-build.json``: ``work`` per stage and ``seconds`` per stage that ran."""
    return json.loads((project / ".formset" / "last-build.json").read_text())


def work_done(work: dict) -> str:
    """Per stage: the sets computed, or whether it ran."""
    parts = []
    for stage, result in work.items():
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
    builds = {}  # name -> (wall seconds of the command, last-build.json)
    with tempfile.TemporaryDirectory(prefix="formset-bench-") as tmp:
        project = make_project(Path(tmp) / "project", args.sets, args.subjects)
        print(f"{args.sets} synthetic sets x {args.subjects} people x 12 recordings; load average {os.getloadavg()[0]:.1f}")
        builds[f"full build ({args.sets} sets)"] = run(project, *formset), last_build(project)
        add_set(project, args.sets, args.subjects)
        builds["add 1 set"] = run(project, *formset), last_build(project)
        builds["no-op rerun"] = run(project, *formset), last_build(project)

    full_wall, full = next(iter(builds.values()))
    print(f"\n{'seconds (ratio to the full build)':<34}" + "".join(f"{name:>22}" for name in builds))
    rows = [("formset run, wall", {name: wall for name, (wall, _) in builds.items()}, full_wall)]
    rows.append(("  of which the build", {n: b["seconds"]["build"] for n, (_, b) in builds.items()}, full["seconds"]["build"]))
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]:  # pipeline order
        rows.append((f"    {stage}", {n: b["seconds"].get(stage) for n, (_, b) in builds.items()}, full["seconds"][stage]))
    for label, figures, baseline in rows:
        cells = [f"{'up to date':>22}" if v is None else f"{v:>13.1f} ({v / baseline:4.2f})" for v in figures.values()]
        print(f"{label:<34}" + "".join(cells))
    print()
    for name, (_, build) in builds.items():
        print(f"{name}: {work_done(build['work'])}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
