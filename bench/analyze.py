"""``make bench-analyze``: what an on-demand analysis costs beyond pose extraction, under load, and over time.

1. The bundled real video (20 s, side view): pose extraction alone (the mediapipe backend
   on the video, the baseline), then ``formset.analyze.analyze`` end to end (pose, stages,
   overlay, report); their ratio (goal <= 1.2), of wall seconds and of CPU seconds (the
   process's, all threads: on a loaded machine the steadier of the two).
2. ``formset serve`` with 2 workers: 4 uploads of that video at once; every job must end
   ``done``; wall seconds.
3. The server's peak memory (its process and its worker, summed RSS from /proc) after 2
   and after 20 sequential analyses by one worker; their ratio (goal <= 1.1: no leak).

Figures are printed; nothing is asserted. Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "samples" / "real-squat" / "squat_side.mp4"


def pose_alone(params: dict) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all its threads) of pose extraction alone."""
    from formset.tasks.pose.backends import get_backend

    wall, cpu = time.perf_counter(), time.process_time()
    get_backend(params["keypoints"]["pose_backend"], params["keypoints"]).extract(VIDEO, "side")
    return time.perf_counter() - wall, time.process_time() - cpu


def analyze_end_to_end(params: dict, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``formset.analyze.analyze`` end to end."""
    from formset.analyze import Version, analyze
    from formset.params import parse

    wall, cpu = time.perf_counter(), time.process_time()
    analyze(VIDEO, out, parse(params), Version.empty("benchmark"), view="side", exercise="squat")
    return time.perf_counter() - wall, time.process_time() - cpu


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB (from /proc)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    rss_kb = 0
    for p in [pid, *map(int, children)]:
        try:
            rss_kb += int(next(l for l in Path(f"/proc/{p}/status").read_text().splitlines() if l.startswith("VmRSS")).split()[1])
        except (FileNotFoundError, StopIteration):
            pass
    return rss_kb / 1024


def upload(base: str) -> str:
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode() for k, v in (("exercise", "squat"), ("view", "side"))]
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"v.mp4\"\r\nContent-Type: video/mp4\r\n\r\n".encode() + VIDEO.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base}/api/analyze", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return json.loads(urllib.request.urlopen(request).read())["id"]


def wait_done(base: str, job_id: str) -> str:
    while True:
        status = json.loads(urllib.request.urlopen(f"{base}/api/jobs/{job_id}").read())["status"]
        if status in ("done", "failed"):
            return status
        time.sleep(0.5)


def serve(root: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, FORMSET_ROOT=str(root))
    process = subprocess.Popen([sys.executable, "-m", "formset.cli", "serve", "--port", str(port)], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="pose-alone / analyze pairs, interleaved (the load of a shared machine drifts)")
    parser.add_argument("--concurrent", type=int, default=4, help="uploads at once to 2 workers (0: skip)")
    parser.add_argument("--sequential", type=int, default=20, help="analyses for the memory figure, compared with after 2 (0: skip)")
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        pairs = [(pose_alone(params), analyze_end_to_end(params, scratch / f"run{n}")) for n in range(args.repeat)]
        for kind, at in (("wall", 0), ("CPU", 1)) if pairs else ():
            ratios = sorted(total[at] / pose[at] for pose, total in pairs)
            shown = ", ".join(f"{pose[at]:.1f} / {total[at]:.1f}" for pose, total in pairs)
            print(f"1. real video, 20 s, pose alone / analyze end to end ({kind} s): {shown}; ratio median {ratios[len(ratios) // 2]:.2f} "
                  f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}; goal <= 1.2); load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        if not (args.concurrent or args.sequential):
            return

        root = scratch / "project"
        root.mkdir()
        params["serve"].update(workers=2, max_queue=4, keep_hours=24)
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        server = serve(root, port)
        try:
            started = time.perf_counter()
            with ThreadPoolExecutor(max(1, args.concurrent)) as clients:
                statuses = list(clients.map(lambda _: wait_done(base, upload(base)), range(args.concurrent)))
            if args.concurrent:
                print(f"2. {args.concurrent} concurrent API analyses, 2 workers: {statuses.count('done')} done, "
                      f"{statuses.count('failed')} failed, {time.perf_counter() - started:.1f} s wall")  # fmt: skip
        finally:
            server.terminate()
            server.wait()
        if args.sequential < 2:
            return
        shutil.rmtree(root / ".formset", ignore_errors=True)
        # One worker: every analysis runs in the same process until worker_max_jobs replaces
        # it, so what one leaves behind shows as growth (with two, the second worker's first
        # analysis, loading the pose model and the plotting libraries, would look like one).
        params["serve"].update(workers=1)
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        server = serve(root, port)
        try:
            peak, after = 0.0, {}
            for n in range(1, args.sequential + 1):
                job = upload(base)
                while (status := json.loads(urllib.request.urlopen(f"{base}/api/jobs/{job}").read())["status"]) not in ("done", "failed"):
                    peak = max(peak, tree_rss_mb(server.pid))
                    time.sleep(0.25)
                after[n] = peak
            print(f"3. server peak memory (process + its 1 worker): after 2 analyses {after[2]:.0f} MB, after {args.sequential} "
                  f"{after[args.sequential]:.0f} MB: ratio {after[args.sequential] / after[2]:.2f} (goal <= 1.1); "
                  f"peak after each: {', '.join(f'{after[n]:.0f}' for n in sorted(after))} MB")  # fmt: skip
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
