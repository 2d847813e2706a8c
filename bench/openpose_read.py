"""OpenPose JSON read at Penn Action's scale, timed (``make bench-openpose``).

Writes the SYNTHETIC Penn-Action-size set of ``bench/add_set.py`` (``--folders`` folders of
``--frames`` per-frame BODY_25 JSON files: 1,163 x 84 = 97,692 files by default) straight into
a throw-away project's ``data/sets`` and times, in this process once Prefect's temporary
server is up:

- the baseline, measured in the same run: parsing every file with the standard ``json``
  module in one process, nothing else (what reading cost before, its floor on one core);
- the ingest stage flow, and the keypoints stage flow (OpenPose folders read by the tasks of
  ``params.yaml: runner``, ``samples_per_task`` folders each, parsed with orjson, performer
  tracked, written as the keypoints partition).

Prints wall-clock and CPU seconds (CPU: this process and the children it waited for; the
keypoints stage's pool processes are counted when they exit) and keypoints ÷ baseline. Goal:
keypoints of ~97k files in at most 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from add_set import REPO, SET_ID, make_project, timed, write_synthetic_set  # noqa: E402


def parse_all(set_dir: Path) -> int:
    """Parse every JSON file under ``set_dir`` with the standard library; the files parsed."""
    files = list(set_dir.rglob("*_keypoints.json"))
    for file in files:
        json.loads(file.read_text(encoding="utf-8"))
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=1163, help="samples, one OpenPose folder each (Penn Action: 1,163)")
    parser.add_argument("--frames", type=int, default=84, help="per-frame JSON files per folder")
    args = parser.parse_args()
    seconds: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="formset-bench-") as tmp:
        project = make_project(Path(tmp) / "project")
        set_dir = project / "data" / "sets" / SET_ID
        n_files = write_synthetic_set(set_dir, args.folders, args.frames)
        print(f"synthetic set: {args.folders} folders x {args.frames} JSON files = {n_files:,} files; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        with timed(seconds, "baseline: json.loads, 1 process"):
            parse_all(set_dir)

        from formset import runtime

        os.environ["PREFECT_HOME"] = str(REPO / ".prefect")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        runtime.configure(project)
        from prefect import flow

        from formset.flows.stages.ingest import ingest_flow
        from formset.flows.stages.keypoints import keypoints_flow

        flow(name="bench-warm-up")(lambda: None)()
        with timed(seconds, "ingest stage"):
            ingest_flow(str(project))
        with timed(seconds, "keypoints stage"):
            summary = keypoints_flow(str(project))
    frames = sum(s["frames"] for s in summary["computed"])
    print(f"keypoints: {frames:,} frames in {len(summary['computed'])} set partition(s)\n")
    print(f"{'seconds':<36}{'wall':>10}{'cpu':>10}")
    for name, (wall, cpu) in seconds.items():
        print(f"{name:<36}{wall:>10.1f}{cpu:>10.1f}")
    base, keypoints = seconds["baseline: json.loads, 1 process"], seconds["keypoints stage"]
    print(f"{'keypoints stage / baseline':<36}{keypoints[0] / base[0]:>10.2f}{keypoints[1] / base[1]:>10.2f}")
    print(f"goal: keypoints stage <= 60 s wall for ~97k files: {'met' if keypoints[0] <= 60 else 'NOT met'} "
          f"({keypoints[0]:.1f} s, {n_files - 2:,} files); load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
