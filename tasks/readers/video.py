"""Streaming video reader: upright frames with the container's own frame times.

Frames are decoded one at a time (a video is never held in memory), by OpenCV's FFmpeg
backend, so every codec and container that build reads is accepted (docs/input-contract.md, section 4).

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

Truncated files
---------------
A file cut off in transfer fails in one of two ways, depending on where its container keeps
its index. When the index comes first (MP4 written "fast start", Matroska / WebM), the cut
file opens, declares its whole length (the bundled video rewritten so: 614 frames, 20.5 s)
and decodes only its first part (cut at 1/7 of its bytes: 64 frames, to 2.1 s); the reader
compares where decoding stopped with the declared duration and frame count
(``min_decoded_fraction``). When the index comes last (most cameras' MP4, the bundled
video), the cut file does not open at all; its top-level boxes show where it ends. Both are
``video_truncated``.

Seeking
-------
``probe_to_end`` checks a video's end without decoding it all: it seeks to the last
declared frame (``CAP_PROP_POS_FRAMES``) and reads that frame's time. OpenCV seeks by a time
computed from the nominal frame rate and, when it cannot get there, backs off and lands on
an earlier frame with ``grab()`` still succeeding (the bundled video, index first, cut at
1/7: asked for frame 613, it lands on frame 64 at 2.1 s). A seek is therefore trusted only
when it shows the end (a frame at the declared duration); any other answer, including a
variable-frame-rate video the nominal rate misplaces, is settled by decoding the video
through as the keypoints stage does.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple

import cv2
import numpy as np

from formset.quarantine import SampleError

MS_PER_S = 1000.0
_MP4 = "an MP4/MOV file"
#: The first bytes of the container formats people deliver -> a name they recognise.
#: MP4 / MOV carry ``ftyp`` at offset 4, AVI is ``RIFF....AVI ``, Matroska / WebM start with
#: the EBML magic number.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", _MP4),
    (8, b"AVI ", "an AVI file"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
)
_SNIFF_BYTES = 12
_DECODER = f"OpenCV {cv2.__version__} (FFmpeg backend)"
#: An MP4 box header: 32-bit size, 4-character type; size 1 means a 64-bit size follows,
#: size 0 that the box runs to the end of the file.
_BOX_HEADER, _LARGE_BOX_HEADER = struct.Struct(">I4s"), struct.Struct(">Q")
_LARGE_SIZE = 1

#: ``params.yaml: keypoints`` key, and its default: the share of a video's declared duration
#: that must decode for the video to count as whole.
MIN_DECODED_FRACTION_PARAM = "min_decoded_fraction"
DEFAULT_MIN_DECODED_FRACTION = 0.9


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


def probe_to_end(path: Path, min_decoded_fraction: float = DEFAULT_MIN_DECODED_FRACTION) -> VideoInfo:
    """``probe``, and check that the video decodes to its declared end, without decoding it all.

    The first frame is decoded, then the last declared one after a seek (at most one
    keyframe interval of decoding); only when the seek does not show the end is the video
    decoded through (see "Seeking" in the module docstring), so a whole video costs a
    fraction of a full decode and a truncated one at most its own decodable part.

    Parameters
    ----------
    path
        The video file.
    min_decoded_fraction
        Share (0-1) of the declared duration that must decode, as ``iter_frames``.

    Returns
    -------
    VideoInfo
        As ``probe``.

    Raises
    ------
    SampleError
        As ``probe``; ``video_truncated`` when decoding stops short of the declared length,
        with the detail ``iter_frames`` gives.
    """
    path = Path(path)
    _check_fraction(min_decoded_fraction)
    capture, info = _open(path)
    try:
        if not capture.grab():
            raise _no_frame_error(path, info)
        reaches_end = info.frame_count <= 1
        if not reaches_end:
            capture.set(cv2.CAP_PROP_POS_FRAMES, info.frame_count - 1)
            reaches_end = capture.grab() and not _stops_short(_position_s(capture), info, min_decoded_fraction)
    finally:
        capture.release()
    if not reaches_end:
        # A stride of the whole length converts one frame; the others are only decoded.
        for _ in iter_frames(path, stride=info.frame_count, min_decoded_fraction=min_decoded_fraction):
            pass
    return info


def iter_frames(
    path: Path,
    stride: int = 1,
    max_side: int | None = None,
    min_decoded_fraction: float = DEFAULT_MIN_DECODED_FRACTION,
) -> Iterator[Frame]:
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
    min_decoded_fraction
        Share (0-1) of the container's declared duration (``VideoInfo.duration_s``, up to
        the end of the last decoded frame) and of its declared frame count that decoding
        must cover; a video that stops short of both was cut off. 0 turns the check off; a
        video without a declared duration is never called short.

    Yields
    ------
    Frame
        ``(index, time_s, image)``; see ``Frame``.

    Raises
    ------
    SampleError
        As ``probe`` (on the first ``next()``, like everything in a generator);
        ``unreadable_video`` when a frame past the first cannot be converted;
        ``video_truncated`` (after the last frame) when decoding stops short of
        ``min_decoded_fraction`` of the declared length: "decoded M of N frames".
    ValueError
        ``stride`` or ``max_side`` below 1, ``min_decoded_fraction`` outside 0-1 (a
        configuration error, not bad input).
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, got {max_side}")
    _check_fraction(min_decoded_fraction)
    path = Path(path)
    capture, info = _open(path)
    size = fit_within(info.width, info.height, max_side)
    try:
        index, time_s = 0, 0.0
        while capture.grab():
            time_s = _position_s(capture)
            if index % stride == 0:
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
        if _stops_short(time_s, info, min_decoded_fraction, index):
            raise _truncated_error(path, info, index, time_s, min_decoded_fraction)
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


def tap(frames: Iterable[Frame], on_frame: Callable[[Frame], None] | None) -> Iterator[Frame]:
    """``frames`` unchanged, each handed to ``on_frame`` first (e.g. a ``FrameSpool``).

    Tapped inside ``prefetch``, the callback runs in the decoding thread, beside inference.
    """
    for frame in frames:
        if on_frame is not None:
            on_frame(frame)
        yield frame


class FrameSpool:
    """Frames kept in a scratch file as a pose backend decodes them, to be read again
    without a second decoding (the overlay of ``formset analyze``).

    Frames are downscaled to ``max_side`` as they arrive and stored raw (BGR uint8), one
    after another: the file takes ``frames x width x height x 3`` bytes (a 20 s, 30 fps
    recording at 540 x 960: 0.95 GB) and is deleted by ``close``. Frames must all have one
    size, as one video's do.

    Parameters
    ----------
    path
        The scratch file (created, replaced if present).
    max_side
        Longer side of the stored frames, pixels; None keeps the size they arrive with.
    """

    def __init__(self, path: str | os.PathLike, max_side: int | None = None):
        self.path = Path(path)
        self.max_side = max_side
        self.size: tuple[int, int] | None = None
        self._index: list[int] = []
        self._time_s: list[float] = []
        self._file = open(self.path, "wb")

    def __call__(self, frame: Frame) -> None:
        """Store ``frame`` (downscaled to ``max_side``)."""
        height, width = frame.image.shape[:2]
        size = fit_within(width, height, self.max_side)
        if self.size is None:
            self.size = size
        elif size != self.size:
            raise ValueError(f"a frame of {width} x {height} in a spool of {self.size[0]} x {self.size[1]} frames")
        image = frame.image if size == (width, height) else cv2.resize(frame.image, size, interpolation=cv2.INTER_LINEAR)
        self._file.write(np.ascontiguousarray(image).data)
        self._index.append(frame.index)
        self._time_s.append(frame.time_s)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def stride(self) -> int:
        """Decoded frames per stored frame (a backend's ``video_stride``), from the indices."""
        return self._index[1] - self._index[0] if len(self._index) > 1 else 1

    def __iter__(self) -> Iterator[Frame]:
        """The stored frames in order, each image a fresh array."""
        self._file.flush()
        if self.size is None:
            return
        width, height = self.size
        with open(self.path, "rb") as stored:
            for index, time_s in zip(self._index, self._time_s):
                image = np.empty((height, width, 3), dtype=np.uint8)
                stored.readinto(memoryview(image).cast("B"))
                yield Frame(index, time_s, image)

    def close(self) -> None:
        """Delete the scratch file."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "FrameSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


def min_decoded_fraction(params: Mapping) -> float:
    """``keypoints.min_decoded_fraction`` of params.yaml, ``DEFAULT_MIN_DECODED_FRACTION``
    when absent.

    Raises
    ------
    ValueError
        It is not a number from 0 to 1; the message names the parameter.
    """
    value = float(params.get(MIN_DECODED_FRACTION_PARAM, DEFAULT_MIN_DECODED_FRACTION))
    _check_fraction(value, f"keypoints.{MIN_DECODED_FRACTION_PARAM}")
    return value


def _check_fraction(value: float, name: str = "min_decoded_fraction") -> None:
    """Raise ValueError, naming ``name``, unless ``value`` is a share from 0 to 1."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share from 0 to 1, got {value}")


def _position_s(capture: cv2.VideoCapture) -> float:
    """Presentation time of the frame last grabbed, seconds from the start."""
    return capture.get(cv2.CAP_PROP_POS_MSEC) / MS_PER_S


def _stops_short(
    last_time_s: float, info: VideoInfo, min_decoded_fraction: float, decoded_frames: int | None = None
) -> bool:
    """Whether decoding stopped short of ``min_decoded_fraction`` of what the container
    declares: of its duration, counting the frame at ``last_time_s`` through its display
    time (one nominal frame), and, when ``decoded_frames`` is given, of its frame count.

    Both must fall short: the nominal duration (frame count / frame rate) of a variable-rate
    video can be off where its frame count is not, and a frame count estimated from the
    duration (for containers that store none) can be off where the frame times are not.
    False without a declared duration (no frame count or frame rate).
    """
    if info.frame_count == 0 or not info.fps > 0:
        return False
    short_in_time = last_time_s + 1.0 / info.fps < min_decoded_fraction * info.duration_s
    return short_in_time and (decoded_frames is None or decoded_frames < min_decoded_fraction * info.frame_count)


def _truncated_error(
    path: Path, info: VideoInfo, decoded_frames: int, last_time_s: float, min_decoded_fraction: float
) -> SampleError:
    """The error for a video whose decodable frames stop short of its declared duration."""
    return SampleError(
        "video_truncated",
        f"{path.name}: decoded {decoded_frames} of {info.frame_count} frames (to {last_time_s:.1f} s of "
        f"{info.duration_s:.1f} s; at least {min_decoded_fraction:.0%} of it must decode, "
        f"keypoints.{MIN_DECODED_FRACTION_PARAM}): the file was cut off, as when a copy or transfer "
        "is interrupted. Deliver the whole file again.",
        f"{decoded_frames}/{info.frame_count}",
    )


def _open(path: Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open ``path`` with rotation applied; raise a SampleError saying why it cannot be."""
    if not path.is_file():
        raise SampleError("missing_file", f"The video {path.name} does not exist.", str(path))
    if path.stat().st_size == 0:
        raise SampleError("empty_video", f"The video file {path.name} is empty (0 bytes).", path.name)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise _unopenable_error(path)
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


def _unopenable_error(path: Path) -> SampleError:
    """Why FFmpeg could not open ``path``, told from its first bytes and, for MP4 / MOV,
    from where its top-level boxes say it should end."""
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    kind = next((name for offset, magic, name in _SIGNATURES if head[offset : offset + len(magic)] == magic), None)
    tried = f"{path.name} could not be opened as a video by {_DECODER}"
    if kind is None:
        return SampleError(
            "unreadable_video",
            f"{tried}: it does not start like a video file (MP4/MOV, AVI, Matroska/WebM). "
            "Check that the sample names the right file.",
            path.name,
        )
    cut = _mp4_cut_inside(path) if kind == _MP4 else None
    if cut is not None:
        box, box_end = cut
        size = path.stat().st_size
        return SampleError(
            "video_truncated",
            f"{tried}: the MP4/MOV file ends after {size:,} bytes, inside its '{box}' box, which runs to "
            f"byte {box_end:,}, so its index is missing: the file was cut off, as when a copy or transfer "
            "is interrupted. Deliver the whole file again.",
            f"{size}/{box_end} bytes",
        )
    return SampleError(
        "unreadable_video",
        f"{tried}, although it starts like {kind}: it is probably incomplete (a truncated copy or "
        "an interrupted recording), damaged, or uses a codec this build cannot decode. "
        "Copy or export it again (H.264 in MP4 always works).",
        path.name,
    )


def _mp4_cut_inside(path: Path) -> tuple[str, int] | None:
    """The top-level box an MP4 / MOV file ends inside, and the byte that box runs to; None
    when the boxes end with the file or cannot be followed (then nothing is claimed)."""
    size = path.stat().st_size
    position = 0
    with path.open("rb") as stream:
        while position < size:
            stream.seek(position)
            header = stream.read(_BOX_HEADER.size + _LARGE_BOX_HEADER.size)
            if len(header) < _BOX_HEADER.size + _LARGE_BOX_HEADER.size:
                return None  # the last bytes: too few for a box worth naming
            box_size, box_type = _BOX_HEADER.unpack_from(header)
            if box_size == _LARGE_SIZE:
                (box_size,) = _LARGE_BOX_HEADER.unpack_from(header, _BOX_HEADER.size)
            if box_size < _BOX_HEADER.size:  # 0: the box runs to the end of the file; else damage
                return None
            if position + box_size > size:
                return box_type.decode("latin-1"), position + box_size
            position += box_size
    return None


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
