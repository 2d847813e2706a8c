"""MediaPipe BlazePose backend: the performer's canonical keypoints from one video.

Uses the legacy ``mediapipe.solutions.pose.Pose`` in tracking mode (``static_image_mode``
off) with ``model_complexity=1``, the only landmark model shipped inside the mediapipe
0.10.21 wheel (0 and 2 would be downloaded at run time, which cannot happen offline). The
33 BlazePose landmarks map into the canonical skeleton (``mediapipe_blazepose33``: ``neck``
and ``mid_hip`` derived), with the landmark's visibility as confidence, in pixels of the
upright full-resolution frame (``VideoInfo.width`` x ``height``) even when frames are
downscaled for the model: MediaPipe returns coordinates relative to the image size.

MediaPipe's own landmark smoothing is off: its filter assumes one call every 33 ms, which
is wrong with ``video_stride`` or variable frame rate, and the normalize stage smooths with
its own, documented ``smoothing_sigma``.

One performer
-------------
BlazePose follows one person. Its detector picks the single highest-scoring person in the
first frame where anyone is found (usually the largest, most fully visible one); from then
on it tracks that person from their own landmarks and looks for someone again only when
tracking fails (the performer is occluded or leaves the frame). With several people in view,
the keypoints are therefore the performer's as long as the performer is the most prominent
person when tracking (re)starts; otherwise they may follow a bystander from that frame on.
Nothing here corrects that: the legacy API exposes neither its candidate detections nor its
tracking region.

Terminal noise
--------------
MediaPipe's C++ graph and TensorFlow Lite print INFO / WARNING lines to the process's stderr
(file descriptor 2) from their own threads while the graph starts and until the landmark
model first runs; ``GLOG_minloglevel`` and ``TF_CPP_MIN_LOG_LEVEL`` do not silence them in
mediapipe 0.10.21 (they come from absl logging and TFLite's own logger). Descriptor 2 is
pointed at a temporary file from model creation until the first frame with a person has
been processed, then restored; captured lines other than that known noise are written back.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Callable

import cv2
import numpy as np

from formset.quarantine import SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import to_canonical
from formset.tasks.readers.video import Frame, iter_frames, min_decoded_fraction, prefetch, probe, tap

SOURCE = "mediapipe_blazepose33"
#: The only BlazePose landmark model the mediapipe 0.10.21 wheel ships (full).
MODEL_COMPLEXITY = 1
LANDMARK_COUNT = 33

#: Defaults of the ``keypoints`` params this backend reads (see params.yaml).
DEFAULT_VIDEO_STRIDE = 1
DEFAULT_VIDEO_MAX_SIDE = 960
DEFAULT_MIN_DETECTION_CONFIDENCE = 0.5
DEFAULT_MIN_FRAMES = 10

#: Values per landmark in the arrays built from MediaPipe's results, and their positions.
X, Y, VISIBILITY = 0, 1, 2
LANDMARK_VALUES = 3
XY = slice(X, Y + 1)

STDERR_FD = 2
#: Start-up noise: TFLite's delegate notice, absl's pre-initialisation notice, and absl
#: INFO / WARNING lines (``I0000 00:00:...`` / ``W0000 ...``); errors are passed on.
START_UP_NOISE = re.compile(rb"^(INFO: Created TensorFlow Lite|WARNING: All log messages before absl|[IW]\d{4} )")
#: Only one thread at a time may redirect descriptor 2 (it is shared by the whole process).
_STDERR_OWNER = threading.Lock()


class MediaPipeBackend:
    """Pose backend (``tasks.pose.backends.PoseBackend``) running MediaPipe BlazePose full on CPU.

    Parameters
    ----------
    params
        The ``keypoints`` params group. Read: ``video_stride`` (process every n-th frame,
        default 1), ``video_max_side`` (downscale frames so their longer side is at most
        this many pixels before the model sees them; None keeps full size; default 960),
        ``min_detection_confidence`` (0-1, default 0.5), ``min_frames`` (fewest processed
        frames with the performer found, default 10) and ``min_decoded_fraction`` (share of
        the declared duration that must decode, ``tasks.readers.video.iter_frames``).

    Raises
    ------
    ValueError
        A parameter is out of range.
    ImportError
        mediapipe is not installed (``pip install formset[video]``).
    """

    name = "mediapipe"

    def __init__(self, params: dict):
        self.stride = int(params.get("video_stride", DEFAULT_VIDEO_STRIDE))
        max_side = params.get("video_max_side", DEFAULT_VIDEO_MAX_SIDE)
        self.max_side = None if max_side is None else int(max_side)
        self.min_detection_confidence = float(params.get("min_detection_confidence", DEFAULT_MIN_DETECTION_CONFIDENCE))
        self.min_frames = int(params.get("min_frames", DEFAULT_MIN_FRAMES))
        self.min_decoded_fraction = min_decoded_fraction(params)
        if self.stride < 1:
            raise ValueError(f"keypoints.video_stride must be at least 1, got {self.stride}")
        if self.max_side is not None and self.max_side < 1:
            raise ValueError(f"keypoints.video_max_side must be a number of pixels or null, got {self.max_side}")
        if not 0.0 <= self.min_detection_confidence <= 1.0:
            raise ValueError(
                f"keypoints.min_detection_confidence must be between 0 and 1, got {self.min_detection_confidence}"
            )
        self._pose_solution = _import_pose_solution()

    def extract(self, video: Path, view: str, on_frame: Callable[[Frame], None] | None = None) -> KeypointSeries:
        """The performer's keypoints in every processed frame of ``video``.

        Parameters
        ----------
        video
            The video file.
        view
            ``front``, ``diagonal`` or ``side``.
        on_frame
            Called with each processed frame (downscaled as the model sees it) in the
            decoding thread, or None.

        Returns
        -------
        KeypointSeries
            One row per processed frame (every ``video_stride``-th decoded frame), container
            frame times, pixels of the upright frame (``units`` ``px``, ``y`` down, ``z``
            NaN), visibility as confidence, ``image_size`` the upright size; all-NaN rows
            where nobody is found.

        Raises
        ------
        SampleError
            The reader's reasons (``empty_video``, ``unreadable_video``, ``video_truncated`` ...);
            ``no_person_detected`` when nobody is found in any frame; ``too_few_frames`` when the
            performer is found in fewer than ``min_frames`` processed frames.
        """
        video = Path(video)
        info = probe(video)
        frames, times, landmarks = [], [], []
        with _StartUpNoiseHidden() as noise, self._pose_solution.Pose(
            static_image_mode=False,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=False,
            min_detection_confidence=self.min_detection_confidence,
        ) as pose:
            for frame in prefetch(tap(iter_frames(video, self.stride, self.max_side, self.min_decoded_fraction), on_frame)):
                result = pose.process(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
                frames.append(frame.index)
                times.append(frame.time_s)
                landmarks.append(_landmark_array(result.pose_landmarks))
                if result.pose_landmarks is not None:
                    noise.release()
        normalized = np.stack(landmarks)
        check_detections(normalized, self.min_frames, video.name)
        return landmarks_to_series(normalized, np.asarray(frames), np.asarray(times), (info.width, info.height), view)


def landmarks_to_series(
    normalized: np.ndarray, frame: np.ndarray, time_s: np.ndarray, image_size: tuple[int, int], view: str
) -> KeypointSeries:
    """Canonical keypoints in pixels from BlazePose's normalized landmarks.

    Parameters
    ----------
    normalized
        Shape ``(frame, landmark, value)`` with 33 landmarks in BlazePose order and values
        (x, y, visibility): x and y as fractions of the image width and height (y down),
        visibility 0-1; all NaN in frames where nobody was found.
    frame, time_s
        Frame indices and times in seconds, shape ``(frame,)``.
    image_size
        ``(width, height)`` of the upright frame, pixels.
    view
        ``front`` or ``diagonal``.

    Returns
    -------
    KeypointSeries
        Pixels (``x`` = fraction x width, ``y`` = fraction x height), source
        ``mediapipe_blazepose33``.
    """
    pixels = normalized[:, :, XY] * np.asarray(image_size, dtype=np.float32)
    points, confidence = to_canonical(pixels, normalized[:, :, VISIBILITY], SOURCE)
    return KeypointSeries(points, confidence, frame, time_s, view, SOURCE, "px", image_size)


def check_detections(normalized: np.ndarray, min_frames: int, video_name: str) -> None:
    """Raise when the performer is found in too few frames to use.

    Parameters
    ----------
    normalized
        Shape ``(frame, landmark, value)``, all NaN in frames where nobody was found.
    min_frames
        Fewest frames with the performer found.
    video_name
        The video's file name, for the message.

    Raises
    ------
    SampleError
        ``no_person_detected`` when no frame has a person; ``too_few_frames`` when fewer than
        ``min_frames`` do.
    """
    found = int(np.isfinite(normalized[:, :, X]).any(axis=1).sum())
    processed = len(normalized)
    if found == 0:
        raise SampleError(
            "no_person_detected",
            f"MediaPipe found nobody in any of the {processed} processed frames of {video_name}. "
            "Check that the performer is in view and lit.",
            video_name,
        )
    if found < min_frames:
        raise SampleError(
            "too_few_frames",
            f"MediaPipe found the performer in only {found} of the {processed} processed frames of "
            f"{video_name}; at least {min_frames} are needed (params.yaml keypoints.min_frames).",
            found,
        )


def _landmark_array(pose_landmarks) -> np.ndarray:
    """One frame's landmarks as float32 ``(landmark, value)``; all NaN when there are none."""
    if pose_landmarks is None:
        return np.full((LANDMARK_COUNT, LANDMARK_VALUES), np.nan, dtype=np.float32)
    return np.array([(lm.x, lm.y, lm.visibility) for lm in pose_landmarks.landmark], dtype=np.float32)


def _import_pose_solution() -> ModuleType:
    """``mediapipe.solutions.pose``, imported on first use (it takes about a second)."""
    try:
        import mediapipe
    except ModuleNotFoundError as error:
        raise ImportError("The mediapipe pose backend needs mediapipe: pip install 'formset[video]'") from error
    return mediapipe.solutions.pose


class _StartUpNoiseHidden:
    """Context: descriptor 2 goes to a temporary file until ``release()`` or exit.

    On release the descriptor is restored and every captured line that is not
    ``START_UP_NOISE`` is written to it. When another thread already holds descriptor 2,
    nothing is redirected (that thread's capture filters the noise of both while it lasts).
    """

    def __enter__(self) -> _StartUpNoiseHidden:
        self._owner = _STDERR_OWNER.acquire(blocking=False)
        if self._owner:
            sys.stderr.flush()
            self._capture = tempfile.TemporaryFile()
            self._saved_fd = os.dup(STDERR_FD)
            os.dup2(self._capture.fileno(), STDERR_FD)
        return self

    def release(self) -> None:
        """Restore descriptor 2 and pass on what is not start-up noise (idempotent)."""
        if not self._owner:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, STDERR_FD)
        os.close(self._saved_fd)
        self._capture.seek(0)
        kept = [line for line in self._capture.read().splitlines(keepends=True) if not START_UP_NOISE.match(line)]
        self._capture.close()
        self._owner = False
        _STDERR_OWNER.release()
        if kept:
            os.write(STDERR_FD, b"".join(kept))

    def __exit__(self, *exc_info) -> None:
        self.release()
