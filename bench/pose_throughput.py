"""Pose-from-video throughput and memory, on the bundled real video (``make bench``).

Prints, from one run on ``samples/real-squat/squat_side.mp4`` (MediaPipe backend, the
``keypoints`` params of params.yaml):

- decode-only frames/s (``tasks.video.iter_frames``, as the backend decodes);
- model-only frames/s (BlazePose on frames decoded beforehand and held in memory): the
  baseline every other figure is divided by, measured in the same run; and the same in 2
  processes at once, what the machine's 2 cores give to the model alone (shared caches,
  clock and memory bandwidth): the ceiling of 2 workers, before any decoding;
- end-to-end frames/s through the backend, one video per task, on a pool of 1 and of 2
  spawned processes (the pool kind the keypoints flow uses by default, ``runner.kind:
  processes``), as ratios to model-only, and 2 workers / 1 worker;
- peak RSS of a fresh process extracting a short input and one 10x longer (the real video
  concatenated), to show memory does not grow with video length.

Inputs are written to a temporary directory with ``cv2.VideoWriter``; nothing in the
project changes. Timings depend on what else the machine runs: the load average is printed.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import mediapipe
import yaml

from formset.tasks.pose.mediapipe_backend import MODEL_COMPLEXITY, MediaPipeBackend
from formset.tasks.readers.video import iter_frames, probe

REPO = Path(__file__).resolve().parent.parent
VIDEO = REPO / "samples" / "real-squat" / "squat_side.mp4"
VIEW = "diagonal"
#: Frames of the clips each end-to-end task processes, and of the model-only baseline.
CLIP_FRAMES = 300
#: Videos per worker in the end-to-end runs (several, so pool start-up is not what is timed).
VIDEOS_PER_WORKER = 2
PARALLEL_WORKERS = 2
#: The memory inputs: a short clip and one LONG_FACTOR times longer.
SHORT_FRAMES = 150
LONG_FACTOR = 10
FOURCC = "mp4v"
#: Seconds each worker sleeps before timing starts, so that all have started.
WARM_UP_S = 1.0
#: Seconds after which side-by-side model runs start timing (their frames are decoded by then).
SIDE_BY_SIDE_LEAD_S = 5.0
KIB_PER_MIB = 1024
#: Goals of the issue: end-to-end per worker vs model-only, and 2 workers vs 1.
GOAL_PER_WORKER, GOAL_SCALING = 0.9, 1.8


def keypoints_params() -> dict:
    """The ``keypoints`` group of the repository's params.yaml."""
    return yaml.safe_load((REPO / "params.yaml").read_text())["keypoints"]


def write_clip(source: Path, n_frames: int, out: Path) -> Path:
    """Write the first ``n_frames`` of ``source`` played in a loop as an MP4 at its frame rate."""
    info = probe(source)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*FOURCC), info.fps, (info.width, info.height))
    written = 0
    while written < n_frames:
        for frame in iter_frames(source):
            if written == n_frames:
                break
            writer.write(frame.image)
            written += 1
    writer.release()
    return out


def decode_fps(video: Path, params: dict) -> float:
    """Frames/s of decoding alone, with the backend's stride and downscaling."""
    start = time.perf_counter()
    n_frames = sum(1 for _ in iter_frames(video, stride=params["video_stride"], max_side=params["video_max_side"]))
    return n_frames / (time.perf_counter() - start)


def model_fps(video: Path, params: dict, n_frames: int, start_at: float | None = None) -> float:
    """Frames/s of BlazePose alone on ``n_frames`` frames decoded and converted to RGB
    beforehand; timing starts at the wall-clock time ``start_at`` when given (for processes
    measured side by side)."""
    backend = MediaPipeBackend(params)
    images = [
        cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        for frame, _ in zip(iter_frames(video, stride=backend.stride, max_side=backend.max_side), range(n_frames))
    ]
    with mediapipe.solutions.pose.Pose(
        static_image_mode=False,
        model_complexity=MODEL_COMPLEXITY,
        smooth_landmarks=False,
        min_detection_confidence=backend.min_detection_confidence,
    ) as pose:
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
        start = time.perf_counter()
        for image in images:
            pose.process(image)
        return len(images) / (time.perf_counter() - start)


def side_by_side_model_fps(video: Path, params: dict, n_frames: int, processes: int) -> float:
    """Summed frames/s of ``model_fps`` in ``processes`` spawned processes timed together."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=spawn, initializer=_load_model, initargs=(params,)) as pool:
        list(pool.map(time.sleep, [WARM_UP_S] * processes))  # start every process first
        start_at = time.time() + SIDE_BY_SIDE_LEAD_S
        return sum(pool.map(model_fps, [video] * processes, [params] * processes, [n_frames] * processes, [start_at] * processes))


def extract_frames(video: Path, params: dict) -> int:
    """One keypoints task's work: the backend on one video; returns the frames processed."""
    return MediaPipeBackend(params).extract(video, VIEW).n_frames


def extract_peak_rss_mib(video: Path, params: dict) -> float:
    """Extract ``video`` and return this process's peak resident memory, MiB."""
    extract_frames(video, params)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def _load_model(params: dict) -> None:
    """Pool initializer: import mediapipe before the clock starts, as a warm worker has."""
    MediaPipeBackend(params)


def pool_fps(videos: list[Path], params: dict, workers: int) -> float:
    """Frames/s of extracting ``videos`` (one task each) on a pool of ``workers`` spawned processes."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_load_model, initargs=(params,)) as pool:
        list(pool.map(time.sleep, [WARM_UP_S] * workers))  # start every worker before timing
        start = time.perf_counter()
        n_frames = sum(pool.map(extract_frames, videos, [params] * len(videos)))
        return n_frames / (time.perf_counter() - start)


def fresh_process_peak_rss_mib(video: Path, params: dict) -> float:
    """Peak RSS, MiB, of a new process that extracts ``video``."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(extract_peak_rss_mib, video, params).result()


def main() -> None:
    params = keypoints_params()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"video: {VIDEO.name}, {probe(VIDEO).frame_count} frames; params: stride {params['video_stride']}, "
          f"max_side {params['video_max_side']}")
    with tempfile.TemporaryDirectory(prefix="formset-bench-") as tmp:
        clip = write_clip(VIDEO, CLIP_FRAMES, Path(tmp) / "clip.mp4")
        clips = [clip] * (VIDEOS_PER_WORKER * PARALLEL_WORKERS)  # the same file, one task each
        short = write_clip(VIDEO, SHORT_FRAMES, Path(tmp) / "short.mp4")
        long = write_clip(VIDEO, SHORT_FRAMES * LONG_FACTOR, Path(tmp) / "long.mp4")

        decode = decode_fps(VIDEO, params)
        model = model_fps(VIDEO, params, CLIP_FRAMES)
        model_two = side_by_side_model_fps(VIDEO, params, CLIP_FRAMES, PARALLEL_WORKERS)
        one = pool_fps(clips[:VIDEOS_PER_WORKER], params, 1)
        two = pool_fps(clips, params, PARALLEL_WORKERS)
        rss_short = fresh_process_peak_rss_mib(short, params)
        rss_long = fresh_process_peak_rss_mib(long, params)

    print(f"decode-only            {decode:7.1f} frames/s  ({decode / model:5.1f} x model-only)")
    print(f"model-only (baseline)  {model:7.1f} frames/s  ({CLIP_FRAMES} frames in memory)")
    print(f"model-only, {PARALLEL_WORKERS} at once  {model_two:7.1f} frames/s  ({model_two / model:5.2f} x model-only: "
          "the machine's ceiling for 2 workers)")
    print(f"end-to-end, 1 worker   {one:7.1f} frames/s  ({one / model:5.2f} x model-only; goal >= {GOAL_PER_WORKER})")
    print(f"end-to-end, 2 workers  {two:7.1f} frames/s  ({two / model:5.2f} x model-only, "
          f"{two / PARALLEL_WORKERS / model:4.2f} per worker)")
    print(f"2 workers / 1 worker   {two / one:7.2f}            (goal >= {GOAL_SCALING}; "
          f"2 workers reach {two / model_two:4.2f} of the machine's ceiling)")
    print(f"peak RSS, {SHORT_FRAMES:5d} frames  {rss_short:7.0f} MiB")
    print(f"peak RSS, {SHORT_FRAMES * LONG_FACTOR:5d} frames  {rss_long:7.0f} MiB  ({rss_long / rss_short:4.2f} x)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
