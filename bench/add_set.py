"""Adding a large set, timed (``make bench-add-set``).

Writes a SYNTHETIC set of the size of Penn Action as OpenPose output: ``--folders`` samples
(1,163 by default), each one folder of ``--frames`` per-frame BODY_25 JSON files (84: about
97,700 files, 56 MiB), in the layout of docs/input-contract.md. In a throw-away git + DVC project
holding this checkout's pipeline files, it times

- ``formset add-set`` of the set (a fresh process, as an annotator runs it);
- then the build's own reading of the same set: the ingest and keypoints stage flows, run
  in one process after Prefect's temporary server has started (as ``formset run`` runs
  them, and as ``.formset/last-build.json`` times them): the baseline;

and prints the seconds of each and add-set's ratio to ingest + keypoints, measured in the
same run: wall-clock seconds, and CPU seconds (user + system, of this process and the
processes it waited for: add-set's ``dvc`` and ``git``, the keypoints stage's workers), which
other people's work on a shared machine disturbs less. The load average is printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["params.yaml", "dvc.yaml", ".dvcignore"]
SET_ID = "synthetic-penn-scale"
#: BODY_25 has 25 joints of (x, y, confidence); pixels of a 640 x 480 frame.
BODY25_JOINTS, IMAGE_SIZE = 25, (640.0, 480.0)


def write_synthetic_set(set_dir: Path, n_folders: int, n_frames: int, seed: int = 0) -> int:
    """Write the SYNTHETIC set: one sample per folder, one OpenPose JSON per frame.

    Each sample is one made-up person standing still with small tracking jitter: enough
    for ingest and the OpenPose reader to do all of their work, not a motion anybody made.

    Parameters
    ----------
    set_dir
        The set folder to create.
    n_folders
        Samples, one OpenPose folder each.
    n_frames
        JSON files per folder.
    seed
        Seed of the jitter.

    Returns
    -------
    int
        Files written, ``set.yaml`` and ``samples.csv`` included.
    """
    rng = np.random.default_rng(seed)
    set_dir.mkdir(parents=True)
    (set_dir / "set.yaml").write_text(
        f"set_id: {set_dir.name}\ntitle: SYNTHETIC add-set benchmark set (generated, no real people)\n"
        "annotator: bench/add_set.py\nfps: 30\n"
    )
    rows = []
    person_format = '{"version":1.3,"people":[{"pose_keypoints_2d":[%s]}]}' % ",".join(["%.3f"] * 3 * BODY25_JOINTS)
    for folder in range(n_folders):
        sample_id = f"p{folder:04d}"
        stance = rng.uniform([200.0, 60.0], [440.0, 420.0], size=(BODY25_JOINTS, 2))  # (joint, xy) px
        jitter = rng.normal(0.0, 2.0, size=(n_frames, BODY25_JOINTS, 2))
        xy = np.clip(stance + jitter, 0.0, IMAGE_SIZE)
        keypoints = np.concatenate([xy, rng.uniform(0.3, 1.0, size=(n_frames, BODY25_JOINTS, 1))], axis=2)
        out = set_dir / "openpose" / sample_id
        out.mkdir(parents=True)
        for frame, values in enumerate(keypoints.reshape(n_frames, -1).tolist()):
            (out / f"{sample_id}_{frame:012d}_keypoints.json").write_text(person_format % tuple(values))
        rows.append((sample_id, f"s{folder // 10:03d}", "squat", f"openpose/{sample_id}", ("correct", "incorrect")[folder % 2]))
    with (set_dir / "samples.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sample_id", "subject_id", "exercise", "openpose_front", "label"])
        writer.writerows(rows)
    return n_folders * n_frames + 2


@contextmanager
def timed(seconds: dict[str, tuple[float, float]], name: str) -> Iterator[None]:
    """Record ``(wall, cpu)`` seconds of the block under ``name``: CPU of this process and
    of the child processes it waited for."""

    def cpu_s() -> float:
        return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))

    wall, cpu = time.perf_counter(), cpu_s()
    yield
    seconds[name] = (time.perf_counter() - wall, cpu_s() - cpu)


def run(project: Path, *args: str) -> None:
    """Run a command in the project."""
    env = {**os.environ, "FORMSET_ROOT": str(project), "PREFECT_HOME": str(REPO / ".prefect")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    subprocess.run(args, cwd=project, env=env, check=True, capture_output=True, text=True)


def make_project(root: Path) -> Path:
    """A git + DVC repository holding this checkout's params.yaml, dvc.yaml and .dvcignore."""
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        (root / name).write_bytes((REPO / name).read_bytes())
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    return root


def time_build_reading(project: Path, seconds: dict[str, tuple[float, float]]) -> None:
    """Time the ingest and keypoints stage flows on the project's sets in this process,
    after a first flow has started Prefect's temporary server (not timed)."""
    from formset import runtime

    os.environ["PREFECT_HOME"] = str(REPO / ".prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the figures, not the run log
    runtime.configure(project)
    from prefect import flow

    from formset.flows.stages.ingest import ingest_flow
    from formset.flows.stages.keypoints import keypoints_flow

    flow(name="bench-warm-up")(lambda: None)()
    for name, stage in (("ingest", ingest_flow), ("keypoints", keypoints_flow)):
        with timed(seconds, f"  build: {name} stage"):
            stage(str(project))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=1163, help="samples, one OpenPose folder each (Penn Action: 1,163)")
    parser.add_argument("--frames", type=int, default=84, help="per-frame JSON files per folder")
    args = parser.parse_args()
    seconds: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="formset-bench-") as tmp:
        delivery = Path(tmp) / "inbox" / SET_ID
        start = time.perf_counter()
        n_files = write_synthetic_set(delivery, args.folders, args.frames)
        written_s = time.perf_counter() - start
        megabytes = sum(p.stat().st_size for p in delivery.rglob("*") if p.is_file()) / 2**20
        print(f"synthetic set: {args.folders} folders x {args.frames} JSON files = {n_files:,} files, "
              f"{megabytes:.0f} MiB (written in {written_s:.1f} s); load average {os.getloadavg()[0]:.1f}")
        project = make_project(Path(tmp) / "project")
        with timed(seconds, "formset add-set"):
            run(project, sys.executable, "-m", "formset.cli", "add-set", str(delivery))
        time_build_reading(project, seconds)
    add_set = seconds["formset add-set"]
    reading = tuple(map(sum, zip(*(v for k, v in seconds.items() if k.startswith("  build")))))
    seconds["  build: ingest + keypoints"] = reading
    print(f"\n{'seconds':<32}{'wall':>10}{'cpu':>10}")
    for name, (wall, cpu) in seconds.items():
        print(f"{name:<32}{wall:>10.1f}{cpu:>10.1f}")
    print(f"{'add-set / (ingest + keypoints)':<32}{add_set[0] / reading[0]:>10.2f}{add_set[1] / reading[1]:>10.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
