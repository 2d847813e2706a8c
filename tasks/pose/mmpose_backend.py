"""The mmpose pose backend: the performer's COCO-17 keypoints from a video, top-down.

The user brings an mmpose 1.x top-down config (RTMPose, HRNet, LiteHRNet ... trained on
COCO-17) and its checkpoint; nothing is downloaded. Each frame is cropped to the performer's
box and the model predicts 17 joints in image pixels, mapped into the canonical skeleton
(``mmpose_coco17``: neck and mid-hip derived as midpoints).

Finding the performer
---------------------
- The box of a frame is the box of the previous frame's confident joints, widened by
  ``BOX_MARGIN`` on each side (the performer moves little between frames).
- When there is no previous pose (first frame, or the performer was lost), OpenCV's HOG
  people detector (built into OpenCV, no download) proposes people. At the start the
  performer is the largest, most central one (box diagonal minus the distance of its
  centre from the image centre, pixels); later the one closest to the performer's last box,
  unless even that one moved more than ``MAX_STEP`` body sizes (then it is someone else).
  When nobody suitable is detected, the whole frame is the box.
- A frame counts as "performer found" when at least ``MIN_FOUND_JOINTS`` joints score at
  least ``MIN_KEYPOINT_SCORE``; other frames are kept as all-NaN rows, as the OpenPose
  reader does, so that later stages see the gap.

Running mmpose 1.3.2 on this stack
----------------------------------
``import mmpose.apis`` needs three optional packages this stack cannot install: mmdet (the
one-stage RTMO head), mmcv's compiled ops (ED-Pose; mmcv-lite has no ``mmcv._ext``) and
torchvision (a heatmap visualiser). None of them is used by top-down inference, so for each
one whose real import fails a stand-in module is registered while ``mmpose.apis`` is
imported, and removed afterwards so that nothing else in the process sees a fake package.
RTMPose configs build their CSPNeXt backbone in the ``mmdet`` scope; mmpose has its own
CSPNeXt, so the scope is set to ``mmpose``. mmengine and torch warnings and log lines are
kept out of the terminal (logged at DEBUG level on this module's logger).
"""

from __future__ import annotations

import importlib
import logging
import pickle
import re
import sys
import types
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import cv2
import numpy as np

from formset.quarantine import SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import SOURCES, to_canonical
from formset.tasks.readers.video import Frame, iter_frames, min_decoded_fraction, prefetch, tap

LOG = logging.getLogger(__name__)

#: Keypoint source of the series this backend returns, and its joint order.
SOURCE = "mmpose_coco17"
COCO17: tuple[str, ...] = SOURCES[SOURCE].joints

#: ``params.yaml: keypoints`` keys read by the backend, and the defaults of optional ones.
CONFIG_PARAM, CHECKPOINT_PARAM, DEVICE_PARAM = "mmpose_config", "mmpose_checkpoint", "mmpose_device"
STRIDE_PARAM = "video_stride"
DEFAULT_DEVICE = "cpu"
DEFAULT_VIDEO_STRIDE = 1

#: Optional imports of mmpose 1.3.2 that fail on this stack -> the names taken from them:
#: mmdet in ``rtmo_head.py``, mmcv's compiled ops in ``edpose_head.py`` (``mmcv.ops`` fails
#: on ``mmcv._ext``) and torchvision in ``simcc_vis.py``.
STAND_INS: dict[str, tuple[str, ...]] = {
    "mmdet.utils": ("ConfigType", "reduce_mean"),
    "mmcv.ops": ("MultiScaleDeformableAttention",),
    "torchvision.transforms": ("ToPILImage",),
}

#: numpy's dtype classes (``numpy.dtypes.Float32DType`` ...) of booleans and numbers: the
#: types a pickled numeric array's dtype is rebuilt as.
NUMERIC_DTYPE_CLASSES: tuple[type, ...] = tuple(
    {type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]}
)

#: torch's reason for refusing a file under ``weights_only=True``, in its error message.
UNPICKLER_REFUSAL = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n\n|$)", re.DOTALL)
#: Longest error detail quoted to the user (a state-dict mismatch lists every key).
MAX_DETAIL_CHARS = 600

#: Box corners ``(x0, y0, x1, y1)`` in pixels: positions of the low and high corner.
LOW, HIGH = slice(0, 2), slice(2, 4)

#: Share of the keypoint box's width / height added on each side (the performer moves
#: between frames; mmpose pads the crop by a further 25 %).
BOX_MARGIN = 0.1
#: Smallest widening of a keypoint box on each side, in pixels, so it never collapses.
MIN_BOX_PAD_PX = 8.0
#: Joint score at or above which a joint is confidently found (mmpose demos' ``kpt_thr``).
MIN_KEYPOINT_SCORE = 0.3
#: Confident joints (of 17) needed to count the performer as found: about half the body,
#: enough for the box of the next frame to cover the whole person.
MIN_FOUND_JOINTS = 8
#: Largest move of a re-detected performer from their last box, in box diagonals.
MAX_STEP = 1.0
#: Longest image side the people detector runs at, in pixels (HOG cost grows with area;
#: its 64 x 128 window still fits a person filling a third of the frame height).
DETECTOR_MAX_SIDE = 480


class Track(NamedTuple):
    """The performer followed through a video.

    Attributes
    ----------
    frame
        int64, shape ``(frame,)``: the video's frame indices.
    time_s
        float64, shape ``(frame,)``: seconds from the start.
    keypoints
        float32, shape ``(frame, coco_joint, xy)``: the model's joints in image pixels.
    scores
        float32, shape ``(frame, coco_joint)``: the model's joint scores (not clipped).
    found
        bool, shape ``(frame,)``: whether the performer was found (see module docstring).
    image_size
        ``(width, height)`` of the frames in pixels, None when there were no frames.
    """

    frame: np.ndarray
    time_s: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    found: np.ndarray
    image_size: tuple[int, int] | None


class MmposeBackend:
    """Top-down mmpose pose backend built from a user's config and checkpoint.

    Parameters
    ----------
    params
        The ``keypoints`` group of ``params.yaml``: ``mmpose_config`` (an mmpose 1.x top-down
        config file for the 17 COCO body joints), ``mmpose_checkpoint`` (its weights),
        ``mmpose_device`` (``cpu`` when absent, or ``cuda``, ``cuda:0`` ...), and the video
        backends' ``video_stride`` (process every n-th decoded frame, default 1) and
        ``min_decoded_fraction`` (share of the declared duration that must decode). Relative
        paths are relative to the working directory. ``video_max_side`` is not read: the
        model sees a crop resized to its input size, so smaller frames would only lose
        detail without saving model time.

    Raises
    ------
    ValueError
        A parameter is missing or wrong: the message names it and says what is expected.
    """

    name = "mmpose"

    def __init__(self, params: Mapping):
        config_path = _existing_file(params, CONFIG_PARAM)
        checkpoint_path = _existing_file(params, CHECKPOINT_PARAM)
        device = _device(params.get(DEVICE_PARAM) or DEFAULT_DEVICE)
        self.stride = int(params.get(STRIDE_PARAM) or DEFAULT_VIDEO_STRIDE)
        if self.stride < 1:
            raise ValueError(f"keypoints.{STRIDE_PARAM} must be at least 1, got {self.stride}")
        self.min_decoded_fraction = min_decoded_fraction(params)
        with _quiet_mmpose():
            apis = import_mmpose_apis()
            config = read_config(config_path)
            try:
                model = apis.init_model(config, None, device)
            except Exception as error:  # registry / build errors mean a config this stack cannot run
                raise ValueError(
                    f"keypoints.{CONFIG_PARAM} ({config_path}) does not build an mmpose model: {error}"
                ) from error
            _load_checkpoint(model, checkpoint_path)
        _check_coco17(model.dataset_meta, config_path, checkpoint_path)
        self.model = model
        self.inference_topdown = apis.inference_topdown
        self.detect_people = HogPeopleDetector()

    def estimate_pose(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's 17 joints for the person in ``box``.

        Parameters
        ----------
        image
            BGR uint8 frame, shape ``(height, width, channel)``.
        box
            ``(x0, y0, x1, y1)`` in pixels, shape ``(4,)``.

        Returns
        -------
        tuple of numpy.ndarray
            ``(keypoints, scores)``: float32 shapes ``(coco_joint, xy)`` in image pixels and
            ``(coco_joint,)``, the model's scores as they are (a score at or below 0 means the
            model found no maximum for that joint).
        """
        with _quiet_mmpose():
            (result,) = self.inference_topdown(self.model, image, box[np.newaxis].astype(np.float32))
        instances = result.pred_instances
        return instances.keypoints[0].astype(np.float32), instances.keypoint_scores[0].astype(np.float32)

    def extract(self, video: Path, view: str, on_frame: Callable[[Frame], None] | None = None) -> KeypointSeries:
        """The performer's keypoints in ``video``, one row per processed frame.

        Parameters
        ----------
        video
            The video file.
        view
            ``front``, ``diagonal`` or ``side``.
        on_frame
            Called with each processed frame in the decoding thread, or None.

        Returns
        -------
        KeypointSeries
            One row per processed frame (every ``video_stride``-th decoded frame) with the
            container's frame times; ``mmpose_coco17`` in pixels (``y`` down, ``z`` NaN) of
            the upright frames, whose size is ``image_size``; confidence is the model's
            score clipped to 0-1; all-NaN rows where the performer is not found.

        Raises
        ------
        SampleError
            The reader's reasons (``missing_file``, ``empty_video``, ``unreadable_video``,
            ``video_truncated``);
            ``no_person_detected`` when the performer is found in no frame.
        """
        video = Path(video)
        frames = prefetch(tap(iter_frames(video, stride=self.stride, min_decoded_fraction=self.min_decoded_fraction), on_frame))
        track = track_performer(frames, self.estimate_pose, self.detect_people)
        if not track.found.any():
            raise SampleError(
                "no_person_detected",
                f"mmpose found nobody in any of the {len(track.frame)} frames of {video.name} "
                f"(at least {MIN_FOUND_JOINTS} of 17 joints scoring {MIN_KEYPOINT_SCORE} or more).",
                str(video),
            )
        points, confidence = coco17_to_canonical(track.keypoints, track.scores, track.found)
        return KeypointSeries(
            points=points,
            confidence=confidence,
            frame=track.frame,
            time_s=track.time_s,
            view=view,
            source=SOURCE,
            units="px",
            image_size=track.image_size,
        )


class HogPeopleDetector:
    """OpenCV's HOG + linear SVM people detector (ships inside OpenCV, no download)."""

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """People boxes in ``image``.

        Parameters
        ----------
        image
            BGR uint8 frame, shape ``(height, width, channel)``.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(person, 4)``: ``(x0, y0, x1, y1)`` in pixels of ``image``.
        """
        scale = min(1.0, DETECTOR_MAX_SIDE / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found, _ = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        xywh = np.asarray(found, dtype=np.float32).reshape(-1, 4) / scale
        return np.concatenate([xywh[:, LOW], xywh[:, LOW] + xywh[:, HIGH]], axis=1)


def track_performer(
    frames: Iterable[tuple[int, float, np.ndarray]],
    estimate_pose: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    detect_people: Callable[[np.ndarray], np.ndarray],
) -> Track:
    """Follow the performer through a video, frame by frame (rule in the module docstring).

    Parameters
    ----------
    frames
        ``(frame_index, time_s, image)`` per decoded frame, images BGR uint8 of shape
        ``(height, width, channel)`` (what ``formset.tasks.readers.video.iter_frames`` yields).
    estimate_pose
        ``(image, box) -> (keypoints, scores)``: the pose model on the box ``(x0, y0, x1,
        y1)``, returning shapes ``(coco_joint, xy)`` in image pixels and ``(coco_joint,)``.
    detect_people
        ``image -> boxes``: people boxes ``(x0, y0, x1, y1)``, shape ``(person, 4)``.

    Returns
    -------
    Track
        The model's output for every frame, and which frames found the performer.
    """
    frame, time_s, keypoints, scores, found = [], [], [], [], []
    image_size = None
    pose_box = last_box = None  # this frame's box from the last pose; the performer's last box
    for index, seconds, image in frames:
        image_size = (image.shape[1], image.shape[0])
        box = pose_box
        if box is None:
            box = choose_performer(detect_people(image), last_box, image_size)
        if box is None:
            box = np.array([0, 0, *image_size], dtype=np.float32)
        joints, joint_scores = estimate_pose(image, box)
        is_found = performer_found(joint_scores)
        pose_box = keypoint_box(joints, joint_scores, image_size) if is_found else None
        last_box = pose_box if is_found else last_box
        frame.append(index)
        time_s.append(seconds)
        keypoints.append(joints)
        scores.append(joint_scores)
        found.append(is_found)
    n_joints = len(COCO17)
    return Track(
        frame=np.asarray(frame, dtype=np.int64),
        time_s=np.asarray(time_s, dtype=np.float64),
        keypoints=np.asarray(keypoints, dtype=np.float32).reshape(-1, n_joints, 2),
        scores=np.asarray(scores, dtype=np.float32).reshape(-1, n_joints),
        found=np.asarray(found, dtype=bool),
        image_size=image_size,
    )


def performer_found(scores: np.ndarray) -> bool:
    """Whether at least ``MIN_FOUND_JOINTS`` joints score ``MIN_KEYPOINT_SCORE`` or more.

    ``scores`` has shape ``(coco_joint,)``.
    """
    return int(np.count_nonzero(scores >= MIN_KEYPOINT_SCORE)) >= MIN_FOUND_JOINTS


def keypoint_box(keypoints: np.ndarray, scores: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The crop box for the next frame: the confident joints' box, widened and clipped.

    Parameters
    ----------
    keypoints
        Shape ``(joint, xy)`` in pixels.
    scores
        Shape ``(joint,)``; at least one joint scores ``MIN_KEYPOINT_SCORE`` or more.
    image_size
        ``(width, height)`` in pixels.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(4,)``: ``(x0, y0, x1, y1)``, the confident joints' extent widened
        on each side by ``BOX_MARGIN`` of its width / height (at least ``MIN_BOX_PAD_PX``),
        clipped to the image.
    """
    confident = keypoints[scores >= MIN_KEYPOINT_SCORE]
    low, high = confident.min(axis=0), confident.max(axis=0)
    pad = np.maximum(BOX_MARGIN * (high - low), MIN_BOX_PAD_PX)
    box = np.concatenate([low - pad, high + pad])
    return np.clip(box, 0, np.tile(image_size, 2)).astype(np.float32)


def choose_performer(
    boxes: np.ndarray, last_box: np.ndarray | None, image_size: tuple[int, int]
) -> np.ndarray | None:
    """The performer among detected people (rule in the module docstring).

    Parameters
    ----------
    boxes
        Shape ``(person, 4)``, ``(x0, y0, x1, y1)`` in pixels; may be empty.
    last_box
        The performer's last box, shape ``(4,)``, or None before they were first found.
    image_size
        ``(width, height)`` in pixels.

    Returns
    -------
    numpy.ndarray or None
        The chosen box, shape ``(4,)``; None when nobody is detected, or when even the
        closest person moved more than ``MAX_STEP`` of the performer's box diagonal.
    """
    if not len(boxes):
        return None
    centre, diagonal = box_centre_diagonal(boxes)
    if last_box is None:
        centrality = diagonal - np.linalg.norm(centre - np.asarray(image_size) / 2, axis=-1)
        return boxes[np.argmax(centrality)]
    last_centre, last_diagonal = box_centre_diagonal(last_box[np.newaxis])
    step = np.linalg.norm(centre - last_centre, axis=-1) / last_diagonal
    cost = step + np.abs(diagonal - last_diagonal) / last_diagonal
    choice = np.argmin(cost)
    return boxes[choice] if step[choice] <= MAX_STEP else None


def box_centre_diagonal(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres, shape ``(box, xy)``, and diagonals, shape ``(box,)``, of ``(x0, y0, x1, y1)`` boxes (px)."""
    low, high = boxes[:, LOW], boxes[:, HIGH]
    return (low + high) / 2, np.linalg.norm(high - low, axis=-1)


def coco17_to_canonical(
    keypoints: np.ndarray, scores: np.ndarray, found: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The model's COCO-17 output as canonical points and confidence.

    Parameters
    ----------
    keypoints
        Shape ``(frame, coco_joint, xy)`` in pixels.
    scores
        Shape ``(frame, coco_joint)``: the model's scores. RTMPose's SimCC scores are not
        probabilities (trained models reach a little above 1); at or below 0 the model
        found no maximum and its location is meaningless.
    found
        bool, shape ``(frame,)``: frames where the performer was found.

    Returns
    -------
    tuple of numpy.ndarray
        ``(points, confidence)`` over the canonical ``JOINTS``, shapes ``(frame, joint, 3)``
        and ``(frame, joint)``, float32: confidence is the score clipped to 0-1; a joint
        scoring at or below 0, and every joint of a frame without the performer, is NaN.
    """
    present = (scores > 0) & found[:, np.newaxis]
    points = np.where(present[..., np.newaxis], keypoints, np.nan)
    confidence = np.where(present, np.clip(scores, 0.0, 1.0), np.nan)
    return to_canonical(points, confidence, SOURCE)


def _unavailable(attribute: str, module: str) -> type:
    """A stand-in class for ``module.attribute`` that refuses to be used (called or built)."""

    def refuse(*args, **kwargs):
        raise ImportError(
            f"{module}.{attribute} is a stand-in registered by formset: install the real "
            f"{module.partition('.')[0]} to use it."
        )

    return type(attribute, (), {"__init__": refuse, "__module__": module})


@contextmanager
def stand_ins_for_missing(
    stand_ins: Mapping[str, Sequence[str]] = STAND_INS,
) -> Iterator[dict[str, types.ModuleType]]:
    """Register stand-in modules for the imports that fail, for the duration of the block.

    Parameters
    ----------
    stand_ins
        Module name -> names imported from it. A module whose real import succeeds is left
        alone; for one whose import fails, a module holding a refusing stand-in (see
        ``_unavailable``) per name is put in ``sys.modules`` and removed on exit.

    Yields
    ------
    dict
        Module name -> stand-in module, for the modules that were missing.
    """
    registered = {}
    try:
        for name, attributes in stand_ins.items():
            try:
                importlib.import_module(name)
            except ImportError:
                module = types.ModuleType(name, f"formset stand-in: {name} cannot be imported here.")
                for attribute in attributes:
                    setattr(module, attribute, _unavailable(attribute, name))
                registered[name] = sys.modules[name] = module
        yield registered
    finally:
        for name, module in registered.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def import_mmpose_apis() -> types.ModuleType:
    """``mmpose.apis``, imported with stand-ins for its optional imports that fail here.

    Raises
    ------
    ImportError
        mmpose or one of its needs is not installed; the message says how to install them.
    """
    if "mmpose.apis" in sys.modules:
        return sys.modules["mmpose.apis"]
    try:
        with _quiet_mmpose(), stand_ins_for_missing():
            return importlib.import_module("mmpose.apis")
    except ImportError as error:
        raise ImportError(
            f"The mmpose backend cannot import mmpose ({error}). Install mmengine 0.10.7, "
            "mmcv-lite 2.1.0 and mmpose 1.3.2 with pip's --no-deps, plus xtcocotools, "
            "json-tricks, munkres, addict, yapf and termcolor (see the README's stack notes)."
        ) from error


def read_config(path: Path):
    """An mmpose top-down config, ready to build on this stack.

    Parameters
    ----------
    path
        The config file (mmengine Python / YAML / JSON config; ``_base_`` files resolved).

    Returns
    -------
    mmengine.config.Config
        The config with the backbone's ``mmdet`` scope replaced by ``mmpose``.

    Raises
    ------
    ValueError
        The file is not a readable config, or not of a top-down model.
    """
    from mmengine.config import Config

    try:
        config = Config.fromfile(str(path))
    except Exception as error:  # mmengine raises whatever the config's own Python raises
        raise ValueError(
            f"keypoints.{CONFIG_PARAM} ({path}) cannot be read as an mmpose config: {error}"
        ) from error
    model = config.get("model") or {}
    if model.get("type") != "TopdownPoseEstimator":
        raise ValueError(
            f"keypoints.{CONFIG_PARAM} ({path}) is a {model.get('type', 'config without a model')}; "
            "the mmpose backend needs a top-down model (type='TopdownPoseEstimator'), such as "
            "an RTMPose or HRNet body_2d_keypoint COCO config."
        )
    backbone = model.get("backbone") or {}
    if backbone.get("_scope_") == "mmdet":
        backbone["_scope_"] = "mmpose"
    return config


def _existing_file(params: Mapping, key: str) -> Path:
    """The file named by ``params[key]``; ValueError naming the parameter when unset or missing."""
    value = params.get(key)
    if not value:
        raise ValueError(
            f"keypoints.{key} is not set: the mmpose backend needs an mmpose top-down config "
            f"({CONFIG_PARAM}) and its checkpoint ({CHECKPOINT_PARAM}) in params.yaml."
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"keypoints.{key}: the file {path} does not exist.")
    return path


def _device(device: str) -> str:
    """``device`` checked to be a torch device this machine has; ValueError naming the parameter."""
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"keypoints.{DEVICE_PARAM} {device!r} is not a torch device (cpu, cuda, cuda:0 ...): {error}"
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"keypoints.{DEVICE_PARAM} is {device!r} but this machine has no CUDA GPU: use cpu.")
    return device


def _load_checkpoint(model, path: Path) -> None:
    """Load the weights at ``path`` into ``model``, strictly, with torch's safe unpickler.

    The checkpoint's ``meta.dataset_meta`` (mmpose 1.x checkpoints carry one) replaces the
    config's. torch loads with ``weights_only=True``; mmpose checkpoints keep numpy arrays in
    ``meta`` (keypoint sigmas, colours), so exactly the numpy globals that rebuild numeric
    arrays, their dtypes and scalars are allowed; anything else is refused. Every model
    weight must be in the checkpoint: a checkpoint of another model is an error, not a
    silently random model.
    """
    import torch
    from mmengine.runner import load_checkpoint
    from numpy.core.multiarray import _reconstruct, scalar

    torch.serialization.add_safe_globals([_reconstruct, scalar, np.ndarray, np.dtype, *NUMERIC_DTYPE_CLASSES])
    try:
        checkpoint = load_checkpoint(model, str(path), map_location="cpu", strict=True, logger="current")
    except pickle.UnpicklingError as error:
        refused = UNPICKLER_REFUSAL.search(str(error))
        raise ValueError(
            f"keypoints.{CHECKPOINT_PARAM} ({path}) is not a checkpoint torch loads safely "
            f"({refused.group(1) if refused else 'not a PyTorch file'}): formset accepts tensors, "
            "numpy arrays and plain values only; re-save it as {'state_dict': ..., 'meta': ...}."
        ) from error
    except Exception as error:  # file format and state-dict errors all mean "wrong file"
        detail = str(error)
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS] + " ..."
        raise ValueError(
            f"keypoints.{CHECKPOINT_PARAM} ({path}) cannot be loaded into the model of "
            f"keypoints.{CONFIG_PARAM}: {detail}"
        ) from error
    meta = checkpoint.get("meta") or {}
    if "dataset_meta" in meta:
        model.dataset_meta = meta["dataset_meta"]


def _check_coco17(dataset_meta: Mapping, config_path: Path, checkpoint_path: Path) -> None:
    """ValueError unless the model predicts the 17 COCO body joints in COCO order."""
    names = dataset_meta.get("keypoint_id2name", {})
    predicted = tuple(names[i] for i in sorted(names))
    if predicted != COCO17:
        raise ValueError(
            f"The model of keypoints.{CONFIG_PARAM} ({config_path.name}) and "
            f"keypoints.{CHECKPOINT_PARAM} ({checkpoint_path.name}) predicts {len(predicted)} "
            f"keypoints ({', '.join(predicted[:5])} ...); the mmpose backend needs the 17 COCO body "
            "keypoints (a body_2d_keypoint config trained on COCO)."
        )


@contextmanager
def _quiet_mmpose() -> Iterator[None]:
    """Keep mmengine's log lines (below ERROR) and Python warnings out of the terminal.

    Warnings raised in the block are logged once each at DEBUG level on ``LOG``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("once")
        from mmengine.logging import MMLogger

        mm_logger = MMLogger.get_current_instance()
        level = mm_logger.level
        mm_logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            mm_logger.setLevel(level)
    for warning in caught:
        LOG.debug("mmpose: %s: %s", warning.category.__name__, warning.message)
