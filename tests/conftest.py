"""Shared fixtures: a tiny valid labeled set (docs/input-contract.md, section 1), written by hand.

``synthetic_set`` is the directory ``<tmp>/sets/synthetic_set`` holding:

- ``set.yaml``: set_id ``synthetic_set``, fps 30, kinect_units m;
- ``samples.csv`` with every contract column plus one extra column, ``session``:

  ========  ========  ========  ==========================================  =========  ============
  sample    subject   exercise  sources                                     label      faults
  ========  ========  ========  ==========================================  =========  ============
  sq_01     subj_a    squat     kinect_csv, openpose_front                  correct    all 0
  sq_02     subj_b    squat     openpose_front, openpose_diagonal (fps 25)  incorrect  both knees 1
  lu_01     subj_a    lunge     kinect_csv                                  (empty)    (empty)
  ========  ========  ========  ==========================================  =========  ============

- Kinect CSVs (header layout, metres, all joints tracked) and OpenPose BODY_25 folders, each
  ``SYNTHETIC_FRAMES`` frames of one synthetic performer squatting ``SQUAT_DEPTH_M`` down
  and back up once (the hips and everything above sink; knees half as much). Both OpenPose
  views hold the same front-camera pixels (synthetic: no diagonal projection).

``make_synthetic_set(name)`` writes another copy (set_id = name) for tests that need two.

``cut_real_video`` writes the bundled real video cut off as a transfer would leave it, with
its index (MP4 ``moov`` box) where the camera wrote it (last) or moved first.

The end-to-end tests share the helpers at the end of this module: ``bare_project`` and
``make_project`` (a throw-away git + DVC project holding this checkout's pipeline, without or
with a generated set), ``formset`` and ``dvc`` (the commands run in it, as a user would).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from formset import params as formset_params
from formset import services
from formset.schemas.skeleton import SOURCES

REPO = Path(__file__).resolve().parent.parent
#: The parameters of this checkout's params.yaml, typed: what tests change a few keys of
#: (``dataclasses.replace``) for a small, fast case.
DEFAULTS = formset_params.load(REPO / "params.yaml")
#: One warm Prefect database per test process for the commands the tests run (a cold one
#: costs ~20 s a start); each pytest-xdist worker has its own: two Prefect servers never
#: write one SQLite file.
PREFECT_HOME = REPO / (f".prefect-{os.environ['PYTEST_XDIST_WORKER']}" if "PYTEST_XDIST_WORKER" in os.environ else ".prefect")
REAL_VIDEO = REPO / "samples" / "real-squat" / "squat_side.mp4"
#: The bundled video: 614 frames (20.5 s); its index ('moov' box) follows its frames ('mdat').
REAL_FRAMES = 614
#: Share of its bytes a cut copy keeps, and the frames OpenCV 4.11 decodes of such a copy
#: when the index comes first (the cut at 1/7 falls inside frame 64, to 2.1 s).
CUT_SHARE, CUT_DECODED_FRAMES = 1 / 7, 64

SYNTHETIC_FRAMES = 12
SQUAT_DEPTH_M = 0.15
SYNTHETIC_FPS = 30
IMAGE_SIZE = (1280, 720)
#: Front camera of the OpenPose views: pixels per metre and image centre (x right, y down).
PIXELS_PER_M, IMAGE_CENTRE = 350.0, (640.0, 360.0)
OPENPOSE_CONFIDENCE = 0.9

#: Standing pose in Kinect camera space (metres; x to the sensor's left, y up, z away),
#: facing the sensor 2.5 m away, so the performer's left side has negative x.
_HALF_POSE: dict[str, tuple[float, float, float]] = {
    "Shoulder": (0.18, 0.50, 2.50),
    "Elbow": (0.22, 0.22, 2.50),
    "Wrist": (0.24, -0.02, 2.50),
    "Hand": (0.25, -0.08, 2.50),
    "HandTip": (0.25, -0.14, 2.50),
    "Thumb": (0.22, -0.10, 2.48),
    "Hip": (0.10, -0.02, 2.50),
    "Knee": (0.11, -0.45, 2.48),
    "Ankle": (0.12, -0.85, 2.50),
    "Foot": (0.12, -0.90, 2.40),
}
KINECT_POSE: dict[str, tuple[float, float, float]] = {
    "SpineBase": (0.0, 0.0, 2.50),
    "SpineMid": (0.0, 0.28, 2.50),
    "SpineShoulder": (0.0, 0.52, 2.50),
    "Neck": (0.0, 0.60, 2.50),
    "Head": (0.0, 0.75, 2.50),
    **{f"{part}Left": (-x, y, z) for part, (x, y, z) in _HALF_POSE.items()},
    **{f"{part}Right": (x, y, z) for part, (x, y, z) in _HALF_POSE.items()},
}
#: BODY_25 joint -> Kinect joint it is drawn at (face points offset from the head).
_OPENPOSE_AT = {
    "Nose": "Head", "Neck": "SpineShoulder", "MidHip": "SpineBase",
    "RShoulder": "ShoulderRight", "RElbow": "ElbowRight", "RWrist": "WristRight",
    "LShoulder": "ShoulderLeft", "LElbow": "ElbowLeft", "LWrist": "WristLeft",
    "RHip": "HipRight", "RKnee": "KneeRight", "RAnkle": "AnkleRight",
    "LHip": "HipLeft", "LKnee": "KneeLeft", "LAnkle": "AnkleLeft",
    "REye": "Head", "LEye": "Head", "REar": "Head", "LEar": "Head",
    "LBigToe": "FootLeft", "LSmallToe": "FootLeft", "LHeel": "AnkleLeft",
    "RBigToe": "FootRight", "RSmallToe": "FootRight", "RHeel": "AnkleRight",
}  # fmt: skip
_FACE_OFFSET_M = {"REye": (0.03, 0.02), "LEye": (-0.03, 0.02), "REar": (0.07, 0.0), "LEar": (-0.07, 0.0)}

SAMPLE_COLUMNS = (
    "sample_id", "subject_id", "exercise", "front_video", "diagonal_video", "kinect_csv",
    "openpose_front", "openpose_diagonal", "label", "fault_base_of_support", "fault_left_knee",
    "fault_right_knee", "fault_torso", "fault_hip_joint", "fault_neck", "age", "gender",
    "height_cm", "weight_kg", "rep_count", "fps", "session",
)  # fmt: skip
SAMPLE_ROWS = (
    ("sq_01", "subj_a", "squat", "", "", "kinect/sq_01.csv", "openpose/sq_01_front", "", "correct",
     "0", "0", "0", "0", "0", "0", "34", "female", "168", "61.5", "1", "", "morning"),
    ("sq_02", "subj_b", "squat", "", "", "", "openpose/sq_02_front", "openpose/sq_02_diagonal", "incorrect",
     "0", "1", "1", "0", "0", "0", "27", "male", "181", "80", "1", "25", "evening"),
    ("lu_01", "subj_a", "lunge", "", "", "kinect/lu_01.csv", "", "", "",
     "", "", "", "", "", "", "", "", "", "", "", "", ""),
)  # fmt: skip


def synthetic_kinect_points(n_frames: int = SYNTHETIC_FRAMES) -> np.ndarray:
    """Synthetic squat in Kinect camera space, shape ``(frame, kinect_joint, xyz)``, metres.

    The hips and everything above sink by ``SQUAT_DEPTH_M`` at mid-sequence, the knees by
    half that (and forward, towards the sensor); ankles and feet stay put.
    """
    joints = SOURCES["kinect_v2"].joints
    pose = np.array([KINECT_POSE[j] for j in joints])
    phase = np.linspace(0.0, 2.0 * np.pi, n_frames)
    depth = SQUAT_DEPTH_M * (1.0 - np.cos(phase)) / 2.0  # (frame,)
    sink = np.array([0.5 if j.startswith("Knee") else 0.0 if j.startswith(("Ankle", "Foot")) else 1.0 for j in joints])
    points = np.repeat(pose[None], n_frames, axis=0)
    points[:, :, 1] -= depth[:, None] * sink[None, :]
    points[:, :, 2] -= depth[:, None] * (sink == 0.5)[None, :]
    return points


def write_kinect_csv(path: Path, points: np.ndarray) -> None:
    """Header-layout Kinect CSV: ``frame``, ``time_s``, then ``<Joint>_x/_y/_z/_state``."""
    joints = SOURCES["kinect_v2"].joints
    header = ["frame", "time_s", *(f"{j}_{f}" for j in joints for f in ("x", "y", "z", "state"))]
    tracked = np.full(points.shape[:2] + (1,), 2.0)
    values = np.concatenate([points, tracked], axis=2).reshape(len(points), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for frame, row in enumerate(values):
            writer.writerow([frame, f"{frame / SYNTHETIC_FPS:.6f}", *(f"{v:.4f}" for v in row)])


def write_openpose_folder(folder: Path, points: np.ndarray, stem: str) -> None:
    """One BODY_25 JSON per frame, named ``<stem>_<12-digit frame>_keypoints.json``.

    Pixels of a front camera: ``x_px = centre - x_m * PIXELS_PER_M`` (the performer's left
    is on the image's right), ``y_px = centre - y_m * PIXELS_PER_M`` (y down).
    """
    kinect = SOURCES["kinect_v2"].joints
    body25 = SOURCES["openpose_body25"].joints
    at = [kinect.index(_OPENPOSE_AT[j]) for j in body25]
    offset = np.array([_FACE_OFFSET_M.get(j, (0.0, 0.0)) for j in body25])  # (body25_joint, xy)
    xy_m = points[:, at, :2] + offset[None]
    pixels = np.array(IMAGE_CENTRE) + xy_m * np.array([-PIXELS_PER_M, -PIXELS_PER_M])
    confidence = np.full(pixels.shape[:2] + (1,), OPENPOSE_CONFIDENCE)
    keypoints = np.concatenate([pixels, confidence], axis=2).reshape(len(points), -1)
    folder.mkdir(parents=True, exist_ok=True)
    for frame, flat in enumerate(keypoints):
        person = {"pose_keypoints_2d": [round(float(v), 3) for v in flat]}
        (folder / f"{stem}_{frame:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [person]}))


def write_synthetic_set(set_dir: Path) -> Path:
    """Write the synthetic set described in this module's docstring into ``set_dir``."""
    set_dir.mkdir(parents=True)
    (set_dir / "set.yaml").write_text(
        f"set_id: {set_dir.name}\ntitle: Synthetic test set\nannotator: pytest\ncreated: 2024-01-15\n"
        f"license: CC0\nfps: {SYNTHETIC_FPS}\nkinect_units: m\n"
    )
    with (set_dir / "samples.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(SAMPLE_COLUMNS)
        writer.writerows(SAMPLE_ROWS)
    points = synthetic_kinect_points()
    for row in SAMPLE_ROWS:
        named = dict(zip(SAMPLE_COLUMNS, row))
        if named["kinect_csv"]:
            write_kinect_csv(set_dir / named["kinect_csv"], points)
        for column in ("openpose_front", "openpose_diagonal"):
            if named[column]:
                write_openpose_folder(set_dir / named[column], points, stem=named["sample_id"])
    return set_dir


@pytest.fixture
def make_synthetic_set(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: ``make_synthetic_set(name)`` writes the synthetic set to ``<tmp>/sets/<name>``."""
    return lambda name="synthetic_set": write_synthetic_set(tmp_path / "sets" / name)


@pytest.fixture
def synthetic_set(make_synthetic_set) -> Path:
    """The synthetic set's directory, ``<tmp>/sets/synthetic_set``."""
    return make_synthetic_set("synthetic_set")


#: The generated known-answer set of the rep and comparison tests: subjects, frame rate, seed.
GENERATED_SUBJECTS, GENERATED_FPS, GENERATED_SEED = 3, 15.0, 0


@pytest.fixture(scope="session")
def generated_features(tmp_path_factory):
    """A small set from the synthetic generator (``GENERATED_SUBJECTS`` people, 6 squats and 6
    push-ups each, half with faults; tracking noise, missing joints, dropped and empty frames,
    a bystander) read and normalized with the params of ``params.yaml``, without Prefect.

    Returns ``(samples, features, plan)``: the catalog, the ``FEATURES`` rows and the
    generator's plan (``Execution`` per sample, with its known reps).
    """
    from formset.tasks.ingest import ingest_set
    from formset.tasks.keypoints import assemble_samples, read_view_outcome, source_columns
    from formset.tasks.normalize import features_for_samples
    from formset.tasks.synthetic import generator as synthetic

    params = DEFAULTS
    set_dir = tmp_path_factory.mktemp("generated") / "generated"
    synthetic.generate_set(set_dir, set_id="generated", n_subjects=GENERATED_SUBJECTS, fps=GENERATED_FPS, seed=GENERATED_SEED)
    samples = ingest_set(set_dir, params.exercises).samples
    outcomes = {
        sample["sample_id"]: {
            view: read_view_outcome(sample, column, set_dir, params.keypoints, None)
            for view, column in source_columns(sample).items()
        }
        for sample in samples.to_dict("records")
    }
    keypoints, _ = assemble_samples(samples, outcomes)
    features, _ = features_for_samples(keypoints, params.normalize)
    plan = synthetic.plan_set(GENERATED_SUBJECTS, ("squat", "push_up"), 6, GENERATED_SEED)
    return samples, features, {execution.sample_id: execution for execution in plan}


#: MP4 boxes holding other boxes on the way from ``moov`` to the chunk offset tables.
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_CHUNK_OFFSETS = {b"stco": ">I", b"co64": ">Q"}  # 32- and 64-bit chunk offset tables


def _mp4_boxes(data: bytes | bytearray, start: int, end: int):
    """``(type, offset, header size, size)`` of the boxes in ``data[start:end]``."""
    position = start
    while position < end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        yield kind, position, header, size
        position += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    """Add ``shift`` bytes to every chunk offset (stco / co64) inside ``moov[start:end]``."""
    for kind, position, header, size in _mp4_boxes(moov, start, end):
        if kind in _MP4_CONTAINERS:
            _shift_chunk_offsets(moov, position + header, position + size, shift)
        elif kind in _CHUNK_OFFSETS:
            fmt = _CHUNK_OFFSETS[kind]
            (count,) = struct.unpack_from(">I", moov, position + 12)  # after version / flags
            for entry in range(count):
                at = position + 16 + entry * struct.calcsize(fmt)
                struct.pack_into(fmt, moov, at, struct.unpack_from(fmt, moov, at)[0] + shift)


def index_first(mp4: bytes) -> bytes:
    """The same MP4 with its ``moov`` box moved before its ``mdat`` box ("fast start", as
    web and some phone exports write it); the frames' offsets are moved along."""
    boxes = {kind: (position, size) for kind, position, _, size in _mp4_boxes(mp4, 0, len(mp4))}
    (moov_at, moov_size), (mdat_at, _) = boxes[b"moov"], boxes[b"mdat"]
    assert moov_at > mdat_at, "the index already comes first"
    moov = bytearray(mp4[moov_at : moov_at + moov_size])
    _shift_chunk_offsets(moov, 0, moov_size, moov_size)
    return mp4[:mdat_at] + bytes(moov) + mp4[mdat_at:moov_at] + mp4[moov_at + moov_size :]


def cut_real_video(path: Path, index_at: str, share: float = CUT_SHARE) -> Path:
    """Write the bundled real video to ``path`` with its index ``"first"`` or ``"last"``
    (as recorded), keeping only the first ``share`` of its bytes (1: the whole video)."""
    data = REAL_VIDEO.read_bytes()
    data = index_first(data) if index_at == "first" else data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: round(len(data) * share)])
    return path


def run_ok(cwd: Path, *cmd: str) -> str:
    """Run a command in ``cwd``; its stdout, or the test fails with its stderr."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def git_dvc_project(root: Path, files: tuple[str, ...] = ("params.yaml", "dvc.yaml")) -> Path:
    """A fresh git + DVC repository at ``root`` holding ``files`` of this checkout."""
    root.mkdir(parents=True)
    for name in files:
        shutil.copy2(REPO / name, root / name)
    run_ok(root, "git", "init", "-q")
    run_ok(root, sys.executable, "-m", "dvc", "init", "-q")
    return root


@pytest.fixture
def no_global_git_identity(monkeypatch, tmp_path):
    """No git identity but the project's own, as on a fresh server."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)


# --- throw-away projects and the CLI, for the end-to-end tests ----------------------------------

#: What a fresh project needs of this checkout: the pipeline's definition and its code.
PROJECT_FILES = ["params.yaml", "dvc.yaml", ".dvcignore", "formset", "flows", "tasks", "schemas"]


#: This test process's Prefect server, once a test has run a command (``prefect_api_url``).
_PREFECT_SERVER: list[services.Service] = []


def prefect_api_url() -> str:
    """The API URL of one Prefect server (API only) per test process, started when a test first
    runs a command, which every command the tests run reports to: without it each command's
    flows would start a temporary server of their own (~8 s a command). Tests that run no
    command (a mutant's unit tests) start none. Its database is under ``PREFECT_HOME``."""
    if not _PREFECT_SERVER:
        _PREFECT_SERVER.append(services.start_prefect_server(PREFECT_HOME / "server", api_only=True))
    return _PREFECT_SERVER[0].address


def pytest_sessionfinish(session, exitstatus) -> None:
    while _PREFECT_SERVER:
        _PREFECT_SERVER.pop().stop()


def project_env(project: Path) -> dict:
    """The environment of a command run in ``project``: this venv first on PATH, the project
    as ``FORMSET_ROOT``, one warm Prefect database for the whole test session and the test
    process's Prefect server (``prefect_api_url``), unless the caller's environment names one."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["FORMSET_ROOT"] = str(project)
    env.setdefault("PREFECT_HOME", str(PREFECT_HOME))
    if "PREFECT_API_URL" not in env:
        env["PREFECT_API_URL"] = prefect_api_url()
    env["PYTHONSAFEPATH"] = "1"
    return env


def formset(project: Path, *args: str, check: bool = True, columns: int | None = None) -> subprocess.CompletedProcess:
    """Run ``formset ARGS`` in ``project``; with ``check``, fail the test on a non-zero exit
    (showing its output). ``columns``: the terminal width rich lays tables out for (80 when
    not a terminal)."""
    env = project_env(project) | ({"COLUMNS": str(columns)} if columns else {})
    proc = subprocess.run([sys.executable, "-m", "formset.cli", *args], cwd=project, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"formset {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(project: Path, *args: str) -> str:
    """Run ``dvc ARGS`` in ``project``; its stdout, or the test fails with its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=project, env=project_env(project), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def bare_project(root: Path) -> Path:
    """A fresh project (git + DVC, a local default remote ``<root>-remote``) holding this
    checkout's pipeline and no set."""
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "local", str(root.parent / f"{root.name}-remote"))
    return root


def make_project(root: Path, subjects: int = 4) -> Path:
    """A fresh project (``bare_project``) holding a generated set, ``data/sets/synthetic-demo``."""
    bare_project(root)
    formset(root, "sample", "data/sets/synthetic-demo", "--subjects", str(subjects))
    return root


#: Frames of ``real_clip``: the start of the bundled real video (the performer standing).
REAL_CLIP_FRAMES = 40


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory) -> Path:
    """The first ``REAL_CLIP_FRAMES`` frames of the bundled real video, re-encoded (mp4v,
    608 x 1080 upright)."""
    import cv2

    from formset.tasks.readers.video import iter_frames

    path = tmp_path_factory.mktemp("clip") / "squat_side_clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (608, 1080))
    for frame in iter_frames(REAL_VIDEO):
        if frame.index == REAL_CLIP_FRAMES:
            break
        writer.write(frame.image)
    writer.release()
    return path

