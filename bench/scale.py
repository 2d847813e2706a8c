"""How cost grows with the data: SYNTHETIC Kinect-only sets of 1k, 5k, 20k executions (``make bench-scale``).

For each size (``--sizes``, executions of ``--frames`` frames, in sets of at most
``--set-size``) a throw-away project gets generated Kinect v2 CSVs (a fast path: one made-up
standing person squatting, ``TEMPLATES`` noise variants, each execution's first frame its own,
so every file differs; no real people), then each stage runs as its own process, ``formset
stage NAME``, as ``dvc repro`` runs it, against one Prefect server started for the benchmark:
ingest, keypoints, normalize, validate; then train input assembly (``build_sequences`` of
``tasks/learning/sequences.py`` over every gated feature row, in a fresh process). Per stage it prints
wall seconds, peak resident memory of the stage's process (and the pool processes it waited
for), and milliseconds per execution; then each size's time ÷ the smallest size's, measured
in the same run, against the ratio of their sizes. Goals: 20k ÷ 1k ≤ 22 (per-sample cost
flat); normalize's peak memory independent of N (it reads one set's partition at a time);
normalize of 20k × 100 frames ≤ 20 s on 2 cores.

``--dask-size N`` also runs the keypoints and normalize stages of the N-execution project
again on a local 2-worker Dask cluster (``dask scheduler`` + ``dask worker`` processes) and
prints cluster ÷ local process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from add_set import make_project  # noqa: E402

from formset import services  # noqa: E402

STAGES = ("ingest", "keypoints", "normalize", "validate")
#: Noise variants of the generated motion: files differ by their first frame, content by these.
TEMPLATES = 40
FPS = 30
#: A standing person facing the sensor 2.5 m away (metres; x to the sensor's left, y up).
STANDING = {
    "SpineBase": (0.0, 0.0), "SpineMid": (0.0, 0.28), "Neck": (0.0, 0.60), "Head": (0.0, 0.75),
    "ShoulderLeft": (-0.18, 0.50), "ElbowLeft": (-0.22, 0.22), "WristLeft": (-0.24, -0.02), "HandLeft": (-0.25, -0.08),
    "ShoulderRight": (0.18, 0.50), "ElbowRight": (0.22, 0.22), "WristRight": (0.24, -0.02), "HandRight": (0.25, -0.08),
    "HipLeft": (-0.10, -0.02), "KneeLeft": (-0.11, -0.45), "AnkleLeft": (-0.12, -0.85), "FootLeft": (-0.12, -0.90),
    "HipRight": (0.10, -0.02), "KneeRight": (0.11, -0.45), "AnkleRight": (0.12, -0.85), "FootRight": (0.12, -0.90),
    "SpineShoulder": (0.0, 0.52), "HandTipLeft": (-0.25, -0.14), "ThumbLeft": (-0.22, -0.10),
    "HandTipRight": (0.25, -0.14), "ThumbRight": (0.22, -0.10),
}  # fmt: skip
#: Joints that sink fully / half with the hips in a squat (the rest, ankles and feet, stay).
SINKING = {j: (0.5 if j.startswith("Knee") else 1.0) for j in STANDING if not j.startswith(("Ankle", "Foot"))}


def motion(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """One squat, shape ``(frame, joint, xyz)`` in metres: the hips sink 0.3 m and rise, with noise."""
    depth = 0.3 * np.sin(np.linspace(0.0, np.pi, n_frames)) ** 2
    base = np.array([[x, y, 2.5] for x, y in STANDING.values()])
    sink = np.array([SINKING.get(j, 0.0) for j in STANDING])
    points = np.repeat(base[np.newaxis], n_frames, axis=0)
    points[..., 1] -= depth[:, np.newaxis] * sink
    return points + rng.normal(0.0, 0.005, points.shape)


def csv_lines(points: np.ndarray) -> list[str]:
    """Header-layout Kinect CSV rows (without the header) of ``points``, every joint tracked."""
    values = np.concatenate([points, np.full(points.shape[:2] + (1,), 2.0)], axis=2).reshape(len(points), -1)
    fmt = ",".join(["%d", "%.6f", *(["%.4f"] * values.shape[1])])
    return [fmt % (i, i / FPS, *row) for i, row in enumerate(values)]


def write_sets(sets_dir: Path, n_executions: int, n_frames: int, set_size: int, seed: int = 0) -> int:
    """Write ``n_executions`` Kinect-only executions in sets of at most ``set_size``; the sets written."""
    rng = np.random.default_rng(seed)
    header = ",".join(["frame", "time_s", *(f"{j}_{a}" for j in STANDING for a in ("x", "y", "z", "state"))])
    templates = [csv_lines(motion(n_frames, rng)) for _ in range(TEMPLATES)]
    n_sets = -(-n_executions // set_size)
    for s in range(n_sets):
        set_dir = sets_dir / f"scale-{s:03d}"
        (set_dir / "kinect").mkdir(parents=True)
        (set_dir / "set.yaml").write_text(
            f"set_id: {set_dir.name}\ntitle: SYNTHETIC scale benchmark set (generated, no real people)\n"
            f"annotator: bench/scale.py\nfps: {FPS}\nkinect_units: m\n"
        )
        rows = ["sample_id,subject_id,exercise,kinect_csv,label"]
        for i in range(s * set_size, min((s + 1) * set_size, n_executions)):
            lines = templates[i % TEMPLATES]
            first = csv_lines(motion(1, rng) + np.array([0.0, 0.0, 1e-4 * (i % 997)]))[0]
            (set_dir / "kinect" / f"e{i:06d}.csv").write_text("\n".join([header, first, *lines[1:]]) + "\n")
            rows.append(f"e{i:06d},p{i // 12:05d},squat,kinect/e{i:06d}.csv,{('correct', 'incorrect')[i % 2]}")
        (set_dir / "samples.csv").write_text("\n".join(rows) + "\n")
    return n_sets


ASSEMBLE = """\
import sys
from formset import catalog
from formset.config import Project
from formset.flows.stages.partitions import gated_features
from formset.schemas import tables
from formset.storage import read_table
from formset.tasks.learning.sequences import build_sequences
project = Project.find(sys.argv[1])
samples = read_table(project.path(catalog.SAMPLES), tables.SAMPLES)
build_sequences(gated_features(project), samples, project.params().train)
"""


def timed_process(command: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Run ``command``; its wall seconds and peak resident memory in MiB (largest of the
    process and the children it waited for). Raises on a non-zero exit, showing its output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{log.read().decode(errors='replace')[-4000:]}")
    return wall, usage.ru_maxrss / 1024


def run_stages(project: Path, env: dict, stages: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Wall seconds and peak MiB of each stage (``formset stage``) and of train input assembly."""
    figures = {}
    for stage in stages:
        figures[stage] = timed_process([sys.executable, "-m", "formset.cli", "stage", stage], project, env)
        # As it goes: a long run shows where it is, and what finished survives an interruption.
        print(f"    {stage}: {figures[stage][0]:.1f} s, {figures[stage][1]:.0f} MiB, load {os.getloadavg()[0]:.1f}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="executions per project, comma-separated")
    parser.add_argument("--frames", type=int, default=100, help="frames per execution")
    parser.add_argument("--set-size", type=int, default=1000, help="executions per set (partition)")
    parser.add_argument("--dask-size", type=int, default=0, help="also run keypoints + normalize of this size on a 2-worker Dask cluster")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the projects go (default: a temporary directory)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="formset-scale-", dir=args.work_dir))
    results: dict[int, dict[str, tuple[float, float]]] = {}
    print(f"load average {os.getloadavg()[0]:.1f}; projects under {work}")
    try:
        with services.start_prefect_server(work / "prefect") as prefect:
            env = {**os.environ, "PREFECT_API_URL": prefect.address, "PREFECT_LOGGING_LEVEL": "WARNING"}
            for n in sizes:
                project = make_project(work / f"n{n}")
                started = time.perf_counter()
                n_sets = write_sets(project / "data" / "sets", n, args.frames, args.set_size)
                print(f"{n:,} executions x {args.frames} frames in {n_sets} sets written in {time.perf_counter() - started:.0f} s", flush=True)
                env_n = env | {"FORMSET_ROOT": str(project)}
                results[n] = run_stages(project, env_n, STAGES)
                results[n]["train input assembly"] = timed_process([sys.executable, "-c", ASSEMBLE, str(project)], project, env_n)
                for stage, (wall, mib) in results[n].items():
                    print(f"  {stage:<22}{wall:>8.1f} s{mib:>8.0f} MiB{1000 * wall / n:>8.2f} ms/execution", flush=True)
                if n == args.dask_size:
                    results[n] |= dask_figures(project, env_n, work)
                if n != args.dask_size:
                    shutil.rmtree(project)
    finally:
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        shutil.rmtree(work, ignore_errors=True)
    report(results, sizes)


def dask_figures(project: Path, env: dict, work: Path) -> dict[str, tuple[float, float]]:
    """Keypoints and normalize again (outputs removed) on a 2-worker Dask cluster."""
    for out in ("data/keypoints", "data/features", "data/quarantine/keypoints", "data/quarantine/normalize"):
        shutil.rmtree(project / out, ignore_errors=True)
    with services.start_dask_cluster(work / "dask", 2, env=env) as cluster:
        figures = run_stages(project, env | {"FORMSET_DASK_ADDRESS": cluster.address}, ("keypoints", "normalize"))
    return {f"{stage} (dask, 2 workers)": value for stage, value in figures.items()}


def report(results: dict[int, dict[str, tuple[float, float]]], sizes: list[int]) -> None:
    """The table of seconds and MiB per size, and time ratios against the smallest size."""
    base = sizes[0]
    print(f"\n{'stage':<32}" + "".join(f"{f'{n:,} s / MiB':>20}" for n in sizes) + "".join(f"{f'{n // base}x N: time':>16}" for n in sizes[1:]))
    for stage in results[sizes[-1]]:
        cells = "".join(f"{results[n][stage][0]:>12.1f} /{results[n][stage][1]:>6.0f}" if stage in results[n] else f"{'':>20}" for n in sizes)
        ratios = "".join(f"{results[n][stage][0] / results[base][stage][0]:>15.1f}x" if stage in results[base] else f"{'':>16}" for n in sizes[1:])
        print(f"{stage:<32}{cells}{ratios}")
    for n in sizes:
        if "keypoints (dask, 2 workers)" in results[n]:
            for stage in ("keypoints", "normalize"):
                local, cluster = results[n][stage][0], results[n][f"{stage} (dask, 2 workers)"][0]
                print(f"{n:,} executions, {stage}: dask 2 workers / local process = {cluster / local:.2f} ({cluster:.1f} s / {local:.1f} s)")


if __name__ == "__main__":
    main()
