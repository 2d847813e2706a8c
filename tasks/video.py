"""Streaming video reader: upright frames with the container's own frame times.

Frames are decoded one at a time (a video is never held in memory), by OpenCV's FFmpeg
backend, so every codec and container that build reads is accepted (CONTRACTS.md section 4).

Rotation
--------
Phones record portrait video as landscape pixels plus a display matrix saying "turn this
90 degrees clockwise". OpenCV 4.11's FFmpeg backend reports that angle
(``CAP_PROP_ORIENTATION_META``) but does not apply it by default
(``CAP_PROP_ORIENTATION_AUTO`` reads 0): frames come out sideways and
``CAP_PROP_FRAME_WIDTH`` / ``HEIGHT`` give the stored size. This reader turns
``CAP_PROP_ORIENTATION_AUTO`` on, so frames, ``VideoInfo.width`` and ``VideoInfo.height`` are
always as the video is meant to be watched (upright), and keypoints found in them are in
upright pixels. (The bundled ``squat_side.mp4`` is stored upright, 608 x 1080, with no
rotation; a file with ``rotation`` 90 stored as 1080 x 608 reads as 608 x 1080.)

Frame times
-----------
``time_s`` is the presentation time of each frame from the container
(``CAP_PROP_POS_MSEC``), so variable-frame-rate phone video keeps its real timing; no frame
rate is assumed.
"""

from __future__ import annotations

import queue
import threading

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from formset.quarantine import SampleError

MS_PER_S = 1000.0
#: The first bytes of the container formats people deliver -> a name they recognise.
#: MP4 / MOV carry ``ftyp`` at offset 4, AVI is ``RIFF....AVI ``, Matroska / WebM start with
#: the EBML magic number.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "an MP4/MOV file"),
    (8, b"AVI ", "an AVI file"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
)
_SNIFF_BYTES = 12
_DECODER = f"OpenCV {cv2.__version__} (FFmpeg backend)"


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, with the size as displayed.

    Attributes
    ----------
    frame_count
        Frames declared by the container (FFmpeg estimates it from the duration when the
        container does not store it).
    fps
        Nominal frame rate, frames per second; informative only (frame times come from the
        container, see ``iter_frames``).
    width, height
        Displayed (upright) frame size in pixels, after the rotation metadata is applied.
    duration_s
        Nominal duration, ``frame_count / fps``, seconds.
    rotation
        Clockwise rotation in degrees (0, 90, 180, 270) the metadata asks for and the reader
        applies.
    codec
        The stream's FourCC as text (``h264``, ``FMP4``, ...), empty when the container has
        none.
    """

    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    rotation: int
    codec: str


class Frame(NamedTuple):
    """One decoded frame.

    Attributes
    ----------
    index
        0-based position of the frame in the decoded stream (counting skipped frames).
    time_s
        Presentation time from the container, seconds from the start of the video.
    image
        BGR uint8 pixels, shape ``(height, width, 3)``, upright, possibly downscaled.
    """

    index: int
    time_s: float
    image: np.ndarray


def probe(path: Path) -> VideoInfo:
    """Open a video, check that its first frame decodes, and describe it.

    Parameters
    ----------
    path
        The video file.

    Returns
    -------
    VideoInfo
        Frame count, nominal fps and duration, upright size, rotation and codec.

    Raises
    ------
    SampleError
        ``missing_file``; ``empty_video`` (0 bytes, or a video with no frames);
        ``unreadable_video`` (not a video, truncated, damaged, or a codec this OpenCV build
        cannot decode; the detail says what was tried).
    """
    path = Path(path)
    capture, info = _open(path)
    try:
        if not capture.grab():
            raise _no_frame_error(path, info)
    finally:
        capture.release()
    return info


def iter_frames(path: Path, stride: int = 1, max_side: int | None = None) -> Iterator[Frame]:
    """Decode a video one frame at a time, upright, with the container's frame times.

    Parameters
    ----------
    path
        The video file.
    stride
        Keep every ``stride``-th frame (indices 0, stride, 2 * stride, ...); the others are
        demuxed and decoded (needed for the next frames) but not converted or yielded.
    max_side
        When set, frames whose longer side exceeds it are downscaled (bilinear, aspect
        ratio kept) so that the longer side is ``max_side`` pixels; smaller frames
        are never enlarged.

    Yields
    ------
    Frame
        ``(index, time_s, image)``; see ``Frame``.

    Raises
    ------
    SampleError
        As ``probe`` (on the first ``next()``, like everything in a generator);
        ``unreadable_video`` when a frame past the first cannot be converted.
    ValueError
        ``stride`` below 1 or ``max_side`` below 1 (a configuration error, not bad input).
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, got {max_side}")
    path = Path(path)
    capture, info = _open(path)
    size = fit_within(info.width, info.height, max_side)
    try:
        index = 0
        while capture.grab():
            if index % stride == 0:
                time_s = capture.get(cv2.CAP_PROP_POS_MSEC) / MS_PER_S
                decoded, image = capture.retrieve()
                if not decoded:
                    raise SampleError(
                        "unreadable_video",
                        f"Frame {index} of {path.name} could not be decoded by {_DECODER}: the file is damaged.",
                        path.name,
                    )
                if (image.shape[1], image.shape[0]) != size:
                    # Bilinear: INTER_AREA costs 5-6x more at non-integer or 4x factors,
                    # and pose models resample their crops bilinearly anyway.
                    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
                yield Frame(index, time_s, image)
            index += 1
        if index == 0:
            raise _no_frame_error(path, info)
    finally:
        capture.release()


def prefetch(frames: Iterator[Frame], depth: int = 4) -> Iterator[Frame]:
    """Decode ahead in a background thread while the caller runs its model on this frame.

    OpenCV decodes without holding Python's GIL, so decoding overlaps with inference and a
    worker's throughput approaches the model's alone. At most ``depth`` frames wait in the
    queue, so memory stays flat with video length. An exception of ``frames`` (a
    ``SampleError`` for a damaged video) is raised here, in the caller's thread.

    Parameters
    ----------
    frames
        An iterator of frames, e.g. ``iter_frames(...)``.
    depth
        Frames decoded ahead, at least 1.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not offer(frame):
                    return
            offer(done)
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)
        finally:
            if hasattr(frames, "close"):
                frames.close()

    worker = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def fit_within(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Size of a frame downscaled so that its longer side is at most ``max_side``.

    Parameters
    ----------
    width, height
        Frame size in pixels.
    max_side
        Largest allowed side in pixels; None keeps the size.

    Returns
    -------
    tuple of int
        ``(width, height)`` in pixels, aspect ratio kept (rounded), never larger than the
        input and at least 1.
    """
    longer = max(width, height)
    if max_side is None or longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def _open(path: Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open ``path`` with rotation applied; raise a SampleError saying why it cannot be."""
    if not path.is_file():
        raise SampleError("missing_file", f"The video {path.name} does not exist.", str(path))
    if path.stat().st_size == 0:
        raise SampleError("empty_video", f"The video file {path.name} is empty (0 bytes).", path.name)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SampleError("unreadable_video", _unopenable_detail(path), path.name)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    fps = capture.get(cv2.CAP_PROP_FPS)
    frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    info = VideoInfo(
        frame_count=frame_count,
        fps=fps,
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        duration_s=frame_count / fps if fps > 0 else float("nan"),
        rotation=int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360,
        codec=fourcc.decode("ascii", "replace").strip("\x00 "),
    )
    return capture, info


def _unopenable_detail(path: Path) -> str:
    """Why FFmpeg could not open ``path``, guessed from its first bytes."""
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    kind = next((name for offset, magic, name in _SIGNATURES if head[offset : offset + len(magic)] == magic), None)
    tried = f"{path.name} could not be opened as a video by {_DECODER}"
    if kind is None:
        return (
            f"{tried}: it does not start like a video file (MP4/MOV, AVI, Matroska/WebM). "
            "Check that the sample names the right file."
        )
    return (
        f"{tried}, although it starts like {kind}: it is probably incomplete (a truncated copy or "
        "an interrupted recording), damaged, or uses a codec this build cannot decode. "
        "Copy or export it again (H.264 in MP4 always works)."
    )


def _no_frame_error(path: Path, info: VideoInfo) -> SampleError:
    """The error for a video that opened but yielded no frame at all."""
    if info.frame_count == 0:
        return SampleError("empty_video", f"The video {path.name} holds no frames.", path.name)
    return SampleError(
        "unreadable_video",
        f"{path.name} opened as a video (codec {info.codec or 'unknown'}, {info.width} x {info.height}, "
        f"{info.frame_count} frames declared) but not one frame could be decoded by {_DECODER}: its "
        "video data is damaged or its codec is not supported by this build. Export it again as H.264 MP4.",
        path.name,
    )
