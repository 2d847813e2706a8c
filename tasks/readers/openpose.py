"""Reader of OpenPose JSON frame folders (docs/input-contract.md, section 3) into the canonical skeleton.

One file per frame, ``<anything>_<12-digit frame index>_keypoints.json``; BODY_25 (75
numbers per person) or COCO-18 (54), under ``pose_keypoints_2d`` or the older
``pose_keypoints``. A joint at or below the confidence threshold (``0, 0, 0`` included) is
missing. OpenPose does not clip its scores: the few above 1 are set to 1 and counted
(``KeypointSeries.read_notes``).

Choosing the performer
----------------------
A frame may hold several people, in any order. The performer is chosen once, in the first
frame where anyone is detected, as the person with the largest bounding box (diagonal of
the box around their detected joints) closest to the image centre (score = diagonal minus
distance of the box centre from the image centre, in pixels; OpenPose JSON carries no
image size, so the centre is estimated as the middle of all detections in the folder).
From then on, each frame takes the person nearest to the performer's last found pose:
mean distance over the joints both detected (box centres when none are shared) plus the
change of box size, relative to the performer's size. A frame whose nearest person moved
more than ``MAX_STEP`` body sizes is a frame where the performer was not found, so that a
bystander seen while the performer is undetected is never taken over.

Frames are kept where the performer is not found, as all-NaN rows: the frame exists and
its time is known, which later stages need to tell a short detection gap from the end of
the recording.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson

from formset.quarantine import SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import SOURCES, to_canonical

FRAME_FILE = re.compile(r"_(\d{12})_keypoints\.json$")
#: The keypoint list's key, current OpenPose first.
POSE_KEYS: tuple[str, ...] = ("pose_keypoints_2d", "pose_keypoints")
#: Numbers per person -> keypoint source.
FORMAT_BY_LENGTH: dict[int, str] = {75: "openpose_body25", 54: "openpose_coco18"}

#: Values per joint in a keypoint list, and their positions.
X, Y, CONFIDENCE = 0, 1, 2
VALUES_PER_JOINT = 3
XY = slice(X, Y + 1)

#: Largest mean joint displacement, in performer body sizes (box diagonals), between two
#: frames where the performer is found; beyond it the nearest person is someone else.
MAX_STEP = 1.0


def read_openpose_folder(path: Path, view: str, fps: float = 30.0, min_confidence: float = 0.0) -> KeypointSeries:
    """Read one folder of OpenPose JSON frames as the performer's canonical keypoints.

    Parameters
    ----------
    path
        The folder of ``*_<12-digit index>_keypoints.json`` files (other files are ignored).
    view
        ``front`` or ``diagonal``.
    fps
        Frames per second: ``time_s = frame index / fps``.
    min_confidence
        OpenPose confidence at or below which a joint counts as not detected.

    Returns
    -------
    KeypointSeries
        One row per frame file, sorted by the index in the file name (gaps kept); pixel
        coordinates (``y`` down, ``z`` NaN), OpenPose confidence; all-NaN rows where the
        performer is not found (see the module docstring). ``image_size`` is None.

    Raises
    ------
    SampleError
        ``missing_file``, ``unreadable_file``, ``no_frames``, ``duplicate_frame``, ``bad_json``,
        ``unknown_keypoint_format``, ``mixed_keypoint_format``, ``no_person_detected``.
    """
    path = Path(path)
    frame, files = _frame_files(path)
    people = [_read_people(file) for file in files]
    source = _keypoint_source(people, files, path)
    n_joints = len(SOURCES[source].joints)
    poses = [_detected_joints(p, n_joints, min_confidence) for p in people]
    if not any(len(p) for p in poses):
        raise _nobody_detected(files, path)
    track = _follow_performer(poses)
    # OpenPose does not clip its scores: a few come out slightly above 1 on real footage.
    above_one = track[..., CONFIDENCE] > 1.0
    track[..., CONFIDENCE][above_one] = 1.0
    points, confidence = to_canonical(track[..., XY], track[..., CONFIDENCE], source)
    return KeypointSeries(
        points=points,
        confidence=confidence,
        frame=frame,
        time_s=frame / fps,
        view=view,
        source=source,
        units="px",
        read_notes={"confidence_clipped": int(above_one.sum())} if above_one.any() else {},
    )


def _frame_files(folder: Path) -> tuple[np.ndarray, list[Path]]:
    """Frame indices (int64, increasing) and the matching files of ``folder``."""
    if not folder.is_dir():
        raise SampleError("missing_file", f"The OpenPose folder {folder.name} does not exist.", str(folder))
    found = {}
    for file in folder.iterdir():
        match = FRAME_FILE.search(file.name)
        if match is None:
            continue
        index = int(match.group(1))
        if index in found:
            raise SampleError(
                "duplicate_frame",
                f"{folder.name}: {found[index].name} and {file.name} both claim frame {index}; keep one.",
                index,
            )
        found[index] = file
    if not found:
        raise SampleError(
            "no_frames",
            f"The OpenPose folder {folder.name} holds no frame files named "
            "<name>_<12-digit frame number>_keypoints.json.",
            str(folder),
        )
    frame = np.array(sorted(found), dtype=np.int64)
    return frame, [found[i] for i in frame]


def _read_people(file: Path) -> np.ndarray:
    """The keypoint lists of everyone in one frame file.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(person, value)`` with ``value`` 75 or 54; ``(0, 0)`` when nobody
        was detected.
    """
    try:
        # orjson: a set of Penn Action's size holds ~97k of these files (bench/openpose_read.py)
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as error:  # invalid UTF-8 included
        raise SampleError("bad_json", f"{file.name} is not valid JSON: {error}.", file.name) from None
    except OSError as error:
        raise SampleError("unreadable_file", f"{file.name} cannot be read: {error}.", file.name) from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise SampleError("bad_json", f"{file.name} is not OpenPose output: it has no \"people\" list.", file.name)
    keypoints = [_pose_keypoints(person, file) for person in people]
    lengths = sorted({len(k) for k in keypoints})
    if len(lengths) > 1:
        raise SampleError(
            "mixed_keypoint_format",
            f"{file.name} mixes people with {' and '.join(map(str, lengths))} keypoint values; "
            "one folder must come from one OpenPose model.",
            file.name,
        )
    try:
        return np.array(keypoints, dtype=np.float64).reshape(len(keypoints), lengths[0] if lengths else 0)
    except (TypeError, ValueError):
        raise SampleError("bad_json", f"{file.name} has keypoint values that are not numbers.", file.name) from None


def _pose_keypoints(person: object, file: Path) -> list:
    """One person's flat keypoint list, checked to be BODY_25 or COCO-18 sized."""
    key = next((k for k in POSE_KEYS if isinstance(person, dict) and k in person), None)
    values = person[key] if key is not None else None
    if not isinstance(values, list) or len(values) not in FORMAT_BY_LENGTH:
        found = f"{len(values)} values" if isinstance(values, list) else f"no {' or '.join(POSE_KEYS)} list"
        raise SampleError(
            "unknown_keypoint_format",
            f"{file.name}: a person has {found}; expected a {POSE_KEYS[0]} list of 75 (BODY_25) "
            "or 54 (COCO-18) numbers.",
            file.name,
        )
    return values


def _keypoint_source(people: list[np.ndarray], files: list[Path], folder: Path) -> str:
    """The one keypoint source of a folder, from the number of values per person."""
    lengths = [(p.shape[1], file) for p, file in zip(people, files) if len(p)]
    if not lengths:
        raise _nobody_detected(files, folder)
    first_length, first_file = lengths[0]
    other = next(((n, file) for n, file in lengths if n != first_length), None)
    if other is not None:
        raise SampleError(
            "mixed_keypoint_format",
            f"{folder.name} mixes OpenPose models: {first_file.name} has {first_length} values per person, "
            f"{other[1].name} has {other[0]}; one folder must come from one model.",
            other[1].name,
        )
    return FORMAT_BY_LENGTH[first_length]


def _nobody_detected(files: list[Path], folder: Path) -> SampleError:
    return SampleError(
        "no_person_detected", f"OpenPose detected nobody in any of the {len(files)} frames of {folder.name}."
    )


def _detected_joints(keypoints: np.ndarray, n_joints: int, min_confidence: float) -> np.ndarray:
    """People of one frame as joints, NaN where not detected, nobody-detected people dropped.

    Parameters
    ----------
    keypoints
        Shape ``(person, value)``, flat (x, y, confidence) triples in pixels.
    n_joints
        Joints of the keypoint source.
    min_confidence
        Confidence at or below which a joint is not detected (``0, 0, 0`` included).

    Returns
    -------
    numpy.ndarray
        Shape ``(person, joint, 3)`` with (x, y, confidence) per joint.
    """
    joints = keypoints.reshape(len(keypoints), n_joints, VALUES_PER_JOINT)
    detected = (joints[..., CONFIDENCE] > min_confidence) & np.isfinite(joints).all(axis=-1)
    joints = np.where(detected[..., np.newaxis], joints, np.nan)
    return joints[detected.any(axis=1)]


def _boxes(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes of detected joints.

    Parameters
    ----------
    poses
        Shape ``(person, joint, 3)``, every person with at least one detected joint.

    Returns
    -------
    tuple of numpy.ndarray
        ``(centre, size)``: box centres, shape ``(person, 2)``, and diagonals, shape
        ``(person,)``, in pixels.
    """
    low = np.nanmin(poses[..., XY], axis=1)
    high = np.nanmax(poses[..., XY], axis=1)
    return (low + high) / 2, np.linalg.norm(high - low, axis=-1)


def _follow_performer(poses: list[np.ndarray]) -> np.ndarray:
    """The performer's pose in every frame (see the module docstring for the rule).

    Parameters
    ----------
    poses
        Per frame, the detected people, shape ``(person, joint, 3)``; at least one frame
        with someone in it.

    Returns
    -------
    numpy.ndarray
        Shape ``(frame, joint, 3)``, all NaN in frames where the performer is not found.
    """
    track = np.full((len(poses), *poses[0].shape[1:]), np.nan)
    everyone = np.concatenate([p[..., XY].reshape(-1, 2) for p in poses])
    image_centre = (np.nanmin(everyone, axis=0) + np.nanmax(everyone, axis=0)) / 2
    last_found, body_size = None, 0.0
    for i, candidates in enumerate(poses):
        if not len(candidates):
            continue
        centre, size = _boxes(candidates)
        if last_found is None:
            choice = np.argmax(size - np.linalg.norm(centre - image_centre, axis=-1))
        else:
            cost, step = _track_cost(last_found, candidates, centre, size, body_size)
            choice = np.argmin(cost)
            if step[choice] > MAX_STEP:
                continue
        last_found = candidates[choice]
        body_size = max(body_size, size[choice])
        track[i] = last_found
    return track


def _track_cost(
    last_found: np.ndarray, candidates: np.ndarray, centre: np.ndarray, size: np.ndarray, body_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """How far each candidate is from the performer's last found pose.

    Parameters
    ----------
    last_found
        Shape ``(joint, 3)``, the performer's last found pose.
    candidates
        Shape ``(person, joint, 3)``, this frame's people; ``centre`` ``(person, 2)`` and
        ``size`` ``(person,)`` their boxes in pixels (see ``_boxes``).
    body_size
        The performer's largest box diagonal so far, in pixels.

    Returns
    -------
    tuple of numpy.ndarray
        ``(cost, step)``, both shape ``(person,)`` and in body sizes: ``step`` is the mean
        displacement of the joints both detected (of the box centres when none are), ``cost``
        adds the change of box size.
    """
    last_centre, last_size = _boxes(last_found[np.newaxis])
    offsets = np.linalg.norm(candidates[..., XY] - last_found[..., XY], axis=-1)
    shared = np.isfinite(offsets)
    n_shared = shared.sum(axis=1)
    joint_distance = np.where(shared, offsets, 0.0).sum(axis=1) / np.maximum(n_shared, 1)
    centre_distance = np.linalg.norm(centre - last_centre, axis=-1)
    displacement = np.where(n_shared > 0, joint_distance, centre_distance)
    reference = np.maximum(np.maximum(body_size, size), np.finfo(np.float64).eps)
    step = displacement / reference
    return step + np.abs(size - last_size) / reference, step
