"""The overlay: a sample's video with its canonical skeleton and joint angles drawn on it.

For people checking keypoints by eye: bones of the canonical skeleton (left side orange,
right side blue, the midline white), joints coloured by confidence (red 0 -> yellow 0.5 ->
green 1, grey when a source gives none), and a text block with the knee and hip angles, the
trunk inclination and the frame's mean confidence.

Coordinates are the ``KEYPOINTS`` table's pixels of the upright video (``image_width`` x
``image_height``); frames read downscaled (``max_side``) get the keypoints scaled with them.
Videos are streamed one frame at a time and encoded by FFmpeg through PyAV: MPEG-4 part 2
in MP4 (``.mp4``: cheapest to encode, played by desktop players) or VP8 in WebM (``.webm``,
what browsers play; libvpx at its real-time setting, about a tenth of the CPU of OpenCV's VP8
writer, whose speed cannot be set).
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from formset.quarantine import SampleError
from formset.schemas.skeleton import JOINT_INDEX
from formset.schemas.vocab import VIDEO_VIEWS
from formset.storage import atomic_path
from formset.tasks.maths.arrays import keypoint_arrays
from formset.tasks.maths.kinematics import compute_angles
from formset.tasks.readers.video import Frame, FrameSpool, fit_within, iter_frames, prefetch, probe

#: Pixel axes of a 2-D keypoint (x right, y down in images).
PIXEL_AXES = 2
X_AXIS, Y_AXIS = 0, 1
#: Axis of the joints in a ``(frame, joint)`` confidence array.
JOINT_AXIS = 1

#: Bones of the canonical skeleton, as pairs of ``schemas.skeleton.JOINTS`` names.
#: ``neck - mid_hip`` is the trunk whose inclination the text block shows.
BONES: tuple[tuple[str, str], ...] = (
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("nose", "neck"),
    ("head", "neck"),
    ("neck", "left_shoulder"),
    ("neck", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("neck", "mid_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("mid_hip", "left_hip"),
    ("mid_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_toe"),
    ("left_ankle", "left_toe"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_toe"),
    ("right_ankle", "right_toe"),
)

#: BGR colours of bones by body side.
LEFT_COLOUR = (0, 140, 255)
RIGHT_COLOUR = (255, 140, 0)
MIDLINE_COLOUR = (235, 235, 235)
#: Joint colours at confidence 0, 0.5 and 1 (BGR), and for joints without a confidence.
LOW_CONFIDENCE_COLOUR = (0, 0, 255)
MID_CONFIDENCE_COLOUR = (0, 255, 255)
HIGH_CONFIDENCE_COLOUR = (0, 255, 0)
UNKNOWN_CONFIDENCE_COLOUR = (160, 160, 160)
OUTLINE_COLOUR = (0, 0, 0)
TEXT_COLOUR = (255, 255, 255)
PANEL_COLOUR = (0, 0, 0)
#: Opacity of the dark box behind the text block.
PANEL_OPACITY = 0.6

#: Line width, joint radius and text size grow with the frame: pixels of its longer side
#: per pixel of line width, of joint radius, and per unit of OpenCV font scale.
SIDE_PER_LINE_PX = 300
SIDE_PER_RADIUS_PX = 150
SIDE_PER_FONT_SCALE = 1600
MIN_LINE_PX, MIN_RADIUS_PX = 2, 3
MIN_FONT_SCALE = 0.4
FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Space between text lines and around the text block, as a fraction of a line's height.
LINE_SPACING = 0.5

#: Codec and its options per container (see the module docstring).
CODEC_OF_SUFFIX: dict[str, tuple[str, dict[str, str]]] = {
    ".mp4": ("mpeg4", {}),
    ".webm": ("libvpx", {"deadline": "realtime", "cpu-used": "8"}),
}
#: Bit rate of the overlay, bits per pixel per frame (0.25: 2.2 Mbit/s at 405 x 720, 30 fps).
BITS_PER_PIXEL = 0.25
#: Frames drawn ahead of the encoder thread (bounded: memory stays flat).
ENCODE_AHEAD = 8
#: Phases of a frame: going down into a rep (to its bottom), coming up, or in no rep.
DOWN, UP, REST = "down", "up", "rest"
#: Frame rate written when the container declares none, frames per second.
FALLBACK_FPS = 30.0
#: Largest relative difference between the keypoints' and the video's aspect ratios that
#: still counts as the same picture (rounding of downscaled sizes).
ASPECT_TOLERANCE = 0.02

NO_PERSON = "no person"
NO_KEYPOINTS = "no keypoints for this frame"


def bone_colour(a: str, b: str) -> tuple[int, int, int]:
    """BGR colour of the bone between joints ``a`` and ``b``: by body side, else midline."""
    names = a + b
    if "left" in names:
        return LEFT_COLOUR
    if "right" in names:
        return RIGHT_COLOUR
    return MIDLINE_COLOUR


def confidence_colours(confidence: np.ndarray) -> np.ndarray:
    """BGR colours for joint confidences: red at 0, yellow at 0.5, green at 1.

    Parameters
    ----------
    confidence
        Array of shape ``(joint,)`` or ``(frame, joint)``, values 0-1 (clipped), NaN where
        unknown.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(*confidence.shape, 3)``, BGR; ``UNKNOWN_CONFIDENCE_COLOUR`` where NaN.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    stops = np.array([LOW_CONFIDENCE_COLOUR, MID_CONFIDENCE_COLOUR, HIGH_CONFIDENCE_COLOUR], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(stops))
    known = np.nan_to_num(np.clip(confidence, 0.0, 1.0))
    colours = np.stack([np.interp(known, positions, stops[:, channel]) for channel in range(stops.shape[1])], axis=-1)
    colours[np.isnan(confidence)] = UNKNOWN_CONFIDENCE_COLOUR
    return np.round(colours).astype(np.uint8)


def drawing_sizes(image_shape: tuple[int, ...]) -> tuple[int, int, float]:
    """Line width (px), joint radius (px) and font scale for an image of ``image_shape``
    ``(height, width, channel)``, proportional to its longer side."""
    longer = max(image_shape[:2])
    return (
        max(MIN_LINE_PX, round(longer / SIDE_PER_LINE_PX)),
        max(MIN_RADIUS_PX, round(longer / SIDE_PER_RADIUS_PX)),
        max(MIN_FONT_SCALE, longer / SIDE_PER_FONT_SCALE),
    )


def draw_skeleton(image: np.ndarray, points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Draw the canonical skeleton of one frame.

    Parameters
    ----------
    image
        BGR uint8, shape ``(height, width, 3)``; not modified.
    points
        Pixel positions over ``JOINTS``, shape ``(joint, space)`` with ``space`` >= 2 (x right,
        y down; extra axes ignored); NaN where a joint is missing.
    confidence
        Shape ``(joint,)``, 0-1, NaN where unknown.

    Returns
    -------
    numpy.ndarray
        A copy of ``image`` with every bone whose two joints are present and every present
        joint drawn; nothing is drawn for missing joints.
    """
    canvas = image.copy()
    _draw_skeleton_into(canvas, points, confidence_colours(confidence))
    return canvas


def _draw_skeleton_into(canvas: np.ndarray, points: np.ndarray, colours: np.ndarray) -> None:
    """``draw_skeleton`` on ``canvas`` itself, joints in ``colours`` (``confidence_colours``)."""
    line_px, radius_px, _ = drawing_sizes(canvas.shape)
    pixels = np.asarray(points, dtype=np.float64)[:, :PIXEL_AXES]
    present = ~np.isnan(pixels).any(axis=-1)
    rounded = np.where(present[:, np.newaxis], pixels, 0).round().astype(int)
    for a, b in BONES:
        i, j = JOINT_INDEX[a], JOINT_INDEX[b]
        if present[i] and present[j]:
            cv2.line(canvas, tuple(rounded[i]), tuple(rounded[j]), bone_colour(a, b), line_px, cv2.LINE_AA)
    for joint in np.flatnonzero(present):
        centre = tuple(rounded[joint])
        cv2.circle(canvas, centre, radius_px + 1, OUTLINE_COLOUR, -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, radius_px, tuple(int(c) for c in colours[joint]), -1, cv2.LINE_AA)


def frame_readouts(points: np.ndarray, confidence: np.ndarray) -> dict[str, np.ndarray]:
    """Angles and mean confidence of frames, as shown in the text block, computed array-wise.

    Parameters
    ----------
    points
        Pixel positions over ``JOINTS``, shape ``(frame, joint, space)`` with ``space`` >= 2,
        image y pointing down; NaN where missing.
    confidence
        Shape ``(frame, joint)``, 0-1, NaN where unknown.

    Returns
    -------
    dict of str to numpy.ndarray
        Each shape ``(frame,)``: ``angle_left_knee``, ``angle_right_knee``,
        ``angle_left_hip``, ``angle_right_hip``, ``trunk_inclination`` in degrees (see
        ``tasks.maths.kinematics.compute_angles``; the trunk's lean from vertical is measured with
        y turned up) and ``mean_confidence`` over the joints that have one; NaN where not
        computable.
    """
    pixels = np.asarray(points, dtype=np.float64)[..., :PIXEL_AXES].copy()
    pixels[..., Y_AXIS] *= -1  # image y points down; the trunk's lean is measured with y up
    angles = compute_angles(pixels)
    readouts = {
        name: np.asarray(angles[name], dtype=np.float64)
        for name in ("angle_left_knee", "angle_right_knee", "angle_left_hip", "angle_right_hip", "trunk_inclination")
    }
    known = np.asarray(confidence, dtype=np.float64)
    counted = np.isfinite(known).sum(axis=JOINT_AXIS)
    with np.errstate(invalid="ignore"):
        readouts["mean_confidence"] = np.where(counted > 0, np.nansum(known, axis=JOINT_AXIS) / np.maximum(counted, 1), np.nan)
    return readouts


def frame_readout_lines(points: np.ndarray, confidence: np.ndarray) -> list[list[str]]:
    """``readout_lines`` of every frame of ``frame_readouts(points, confidence)``."""
    readouts = frame_readouts(points, confidence)
    return [readout_lines({name: float(values[row]) for name, values in readouts.items()}) for row in range(len(points))]


def readout_lines(readout: dict[str, float]) -> list[str]:
    """The text block's lines for one frame of ``frame_readouts``: whole degrees, '--' where unknown."""

    def degrees(name: str) -> str:
        value = readout[name]
        return "--" if np.isnan(value) else f"{value:.0f}"

    confidence = readout["mean_confidence"]
    return [
        f"knee  L {degrees('angle_left_knee')}  R {degrees('angle_right_knee')} deg",
        f"hip   L {degrees('angle_left_hip')}  R {degrees('angle_right_hip')} deg",
        f"trunk {degrees('trunk_inclination')} deg from vertical",
        f"mean conf {'--' if np.isnan(confidence) else f'{confidence:.2f}'}",
    ]


def _darken(box: np.ndarray) -> None:
    """Blend ``box`` (a view into an image) in place towards the black ``PANEL_COLOUR`` by
    ``PANEL_OPACITY``: towards black, blending is scaling (no panel image is made per frame)."""
    cv2.convertScaleAbs(box, dst=box, alpha=1 - PANEL_OPACITY)


def draw_text_block(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Write ``lines`` in the top-left corner of a copy of ``image`` on a dark box.

    Parameters
    ----------
    image
        BGR uint8, shape ``(height, width, 3)``; not modified.
    lines
        Text lines, ASCII (OpenCV's fonts have no other glyphs).

    Returns
    -------
    numpy.ndarray
        The copy with the text block drawn.
    """
    canvas = image.copy()
    _draw_text_into(canvas, lines)
    return canvas


def _draw_text_into(canvas: np.ndarray, lines: list[str]) -> None:
    """``draw_text_block`` on ``canvas`` itself."""
    _, _, font_scale = drawing_sizes(canvas.shape)
    thickness = max(1, round(font_scale * 2))
    sizes = [cv2.getTextSize(line, FONT, font_scale, thickness)[0] for line in lines]
    line_height = max(height for _, height in sizes)
    step = round(line_height * (1 + LINE_SPACING))
    margin = round(line_height * LINE_SPACING)
    box_width = max(width for width, _ in sizes) + 2 * margin
    box_height = step * len(lines) + margin
    box = canvas[:box_height, :box_width]
    _darken(box)
    for row, line in enumerate(lines, start=1):
        cv2.putText(canvas, line, (margin, row * step), FONT, font_scale, TEXT_COLOUR, thickness, cv2.LINE_AA)


def annotate_frame(
    image: np.ndarray, points: np.ndarray | None, confidence: np.ndarray | None, caption: str = ""
) -> np.ndarray:
    """One overlay frame: skeleton and readout, or ``NO_PERSON`` / ``NO_KEYPOINTS``.

    Parameters
    ----------
    image
        BGR uint8, shape ``(height, width, 3)``; not modified.
    points
        Pixel positions in ``image`` over ``JOINTS``, shape ``(joint, space)``; None when
        the keypoints table has no row for this frame.
    confidence
        Shape ``(joint,)``; None with ``points``.
    caption
        First line of the text block (frame number and time).

    Returns
    -------
    numpy.ndarray
        The annotated copy.
    """
    head = [caption] if caption else []
    if points is None:
        return draw_text_block(image, [*head, NO_KEYPOINTS])
    if np.isnan(np.asarray(points)[:, :PIXEL_AXES]).all():
        return draw_text_block(image, [*head, NO_PERSON])
    drawn = draw_skeleton(image, points, confidence)
    return draw_text_block(drawn, [*head, *frame_readout_lines(points[np.newaxis], confidence[np.newaxis])[0]])


def keypoints_by_frame(
    keypoints: pd.DataFrame, frame_size: tuple[int, int]
) -> tuple[dict[int, int], np.ndarray, np.ndarray]:
    """Index one sample-view's keypoint rows by frame, in the pixels of frames of ``frame_size``.

    Parameters
    ----------
    keypoints
        ``KEYPOINTS`` rows of one sample and one 2-D view.
    frame_size
        ``(width, height)`` in pixels of the frames drawn on.

    Returns
    -------
    row_of_frame : dict of int to int
        Decoded frame index -> row position in ``points``.
    points : numpy.ndarray
        float64, shape ``(row, joint, 2)``, pixels of ``frame_size`` frames.
    confidence : numpy.ndarray
        float64, shape ``(row, joint)``.

    Raises
    ------
    SampleError
        ``not_pixel_keypoints`` (not a 2-D pixel view), ``duplicate_frames`` (more than
        one sample or view mixed in), ``keypoints_video_mismatch`` (keypoints measured on
        a picture of another shape than the video).
    """
    units = set(keypoints["units"])
    if units != {"px"}:
        raise SampleError(
            "not_pixel_keypoints",
            f"An overlay needs pixel keypoints of a video view; these are in {sorted(units)}.",
            ",".join(sorted(units)),
        )
    frame = keypoints["frame"].to_numpy()
    if len(np.unique(frame)) != len(frame):
        raise SampleError(
            "duplicate_frames",
            "The keypoint rows repeat frame numbers: pass the rows of one sample and one view only.",
            len(frame) - len(np.unique(frame)),
        )
    points, confidence = keypoint_arrays(keypoints, PIXEL_AXES)
    return {int(f): row for row, f in enumerate(frame)}, points * _pixel_scale(keypoints, frame_size), confidence


def _pixel_scale(keypoints: pd.DataFrame, frame_size: tuple[int, int]) -> np.ndarray:
    """Factor ``(x, y)`` from the keypoints' picture size to ``frame_size``; raise a
    SampleError when the two pictures have different shapes."""
    measured = keypoints[["image_width", "image_height"]].dropna().drop_duplicates()
    if measured.empty:
        return np.ones(PIXEL_AXES)  # size not recorded: the keypoints are in the video's pixels
    source_size = measured.to_numpy(dtype=np.float64)[0]
    scale = np.asarray(frame_size, dtype=np.float64) / source_size
    if len(measured) > 1 or abs(scale[X_AXIS] / scale[Y_AXIS] - 1) > ASPECT_TOLERANCE:
        raise SampleError(
            "keypoints_video_mismatch",
            f"The keypoints were measured on {_sizes(measured)} pictures but the video is "
            f"{frame_size[0]} x {frame_size[1]}: they belong to another video or another rotation.",
            _sizes(measured),
        )
    return scale


def _sizes(measured: pd.DataFrame) -> str:
    return ", ".join(f"{w:.0f} x {h:.0f}" for w, h in measured.to_numpy())


def _frame_caption(frame: Frame) -> str:
    return f"frame {frame.index}  {frame.time_s:.2f} s"


def rep_phases(frames: np.ndarray, reps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rep counter and the phase of each frame.

    Parameters
    ----------
    frames
        int, shape ``(frame,)``: frame numbers.
    reps
        ``REPS`` rows of one sample-view (``start_frame``, ``bottom_frame``, ``end_frame``).

    Returns
    -------
    counted : numpy.ndarray
        int, shape ``(frame,)``: reps begun at or before each frame (the counter shows it).
    phase : numpy.ndarray
        object, shape ``(frame,)``: ``DOWN`` from a rep's start to its bottom, ``UP`` after
        the bottom to its end, ``REST`` outside reps.
    """
    frames = np.asarray(frames)
    counted = np.zeros(len(frames), dtype=np.int64)
    phase = np.full(len(frames), REST, dtype=object)
    for rep in reps.itertuples():
        counted += frames >= rep.start_frame
        phase[(frames >= rep.start_frame) & (frames <= rep.bottom_frame)] = DOWN
        phase[(frames > rep.bottom_frame) & (frames <= rep.end_frame)] = UP
    return counted, phase


def draw_legend(image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the colour legend in its bottom-left corner: left and right
    limbs, and joint confidence (red 0, yellow 0.5, green 1)."""
    canvas = image.copy()
    _draw_legend_into(canvas)
    return canvas


def _draw_legend_into(canvas: np.ndarray) -> None:
    """``draw_legend`` on ``canvas`` itself."""
    _, radius_px, font_scale = drawing_sizes(canvas.shape)
    thickness = max(1, round(font_scale * 2))
    entries = [("left", LEFT_COLOUR), ("right", RIGHT_COLOUR), ("conf 0", LOW_CONFIDENCE_COLOUR),
               ("0.5", MID_CONFIDENCE_COLOUR), ("1", HIGH_CONFIDENCE_COLOUR)]  # fmt: skip
    (_, text_height), _ = cv2.getTextSize("Ag", FONT, font_scale, thickness)
    margin = round(text_height * LINE_SPACING)
    widths = [cv2.getTextSize(text, FONT, font_scale, thickness)[0][0] + 3 * radius_px + 2 * margin for text, _ in entries]
    top = canvas.shape[0] - text_height - 3 * margin
    box = canvas[top:, : sum(widths) + margin]
    _darken(box)
    x, y = margin, canvas.shape[0] - 2 * margin
    for (text, colour), width in zip(entries, widths):
        cv2.circle(canvas, (x + radius_px, y - text_height // 2), radius_px, colour, -1, cv2.LINE_AA)
        cv2.putText(canvas, text, (x + 3 * radius_px, y), FONT, font_scale, TEXT_COLOUR, thickness, cv2.LINE_AA)
        x += width


def _annotate(frame: Frame, row_of_frame: dict[int, int], points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    row = row_of_frame.get(frame.index)
    if row is None:
        return annotate_frame(frame.image, None, None, _frame_caption(frame))
    return annotate_frame(frame.image, points[row], confidence[row], _frame_caption(frame))


def _coach_caption(frame: Frame, counted: dict[int, tuple[int, str]], n_reps: int, banner: str) -> str:
    count, phase = counted.get(frame.index, (0, REST))
    lines = [f"frame {frame.index}  {frame.time_s:.2f} s  |  rep {count} of {n_reps}  {phase}"]
    return "\n".join([*lines, banner] if banner else lines)


def write_overlay(
    video: str | os.PathLike,
    keypoints: pd.DataFrame,
    out_path: str | os.PathLike | list,
    max_side: int | None = None,
    reps: pd.DataFrame | None = None,
    banner: str = "",
    frames: FrameSpool | None = None,
) -> int:
    """Write ``video`` with one sample-view's skeleton drawn on every frame, as a playable MP4
    (or WebM, or both from one decoding), with a colour legend and, given the reps, the rep
    counter and the phase (down / up / rest) of each frame.

    Frames are streamed (never all in memory) and matched to keypoint rows by decoded frame
    index; frames without a row say ``NO_KEYPOINTS``, rows without any joint ``NO_PERSON``.
    The file is checked to reopen with the right frame count before it replaces
    ``out_path`` (atomically).

    Parameters
    ----------
    video
        The sample's video file.
    keypoints
        ``KEYPOINTS`` rows of this sample and one view measured on ``video`` (pixels).
    out_path
        Destination ``.mp4`` or ``.webm`` (``CODEC_OF_SUFFIX``), or a list of them.
    max_side
        Downscale frames so their longer side is at most this many pixels (None: full size).
    reps
        ``REPS`` rows of this sample-view: the rep counter and phase are drawn (None: not).
    banner
        A line drawn under the frame's caption on every frame (a verdict), ASCII.
    frames
        The video's frames already decoded, as the pose backend kept them (their size and
        stride; ``max_side`` is then not read), so the video is not decoded again; None
        decodes ``video``.

    Returns
    -------
    int
        Number of frames written.

    Raises
    ------
    SampleError
        As ``tasks.readers.video.iter_frames`` and ``keypoints_by_frame``.
    RuntimeError
        The written file does not read back with the frames written.
    """
    info = probe(Path(video))
    fps = info.fps if info.fps > 0 else FALLBACK_FPS
    if frames is None:
        size, source = fit_within(info.width, info.height, max_side), prefetch(iter_frames(Path(video), max_side=max_side))
    else:
        size, source, fps = frames.size, iter(frames), fps / frames.stride
    row_of_frame, points, confidence = keypoints_by_frame(keypoints, size)
    readouts, colours = frame_readout_lines(points, confidence), confidence_colours(confidence)
    # MPEG-4 and VP8 code whole 2 x 2 chroma blocks: an odd side loses its last pixel row or column.
    size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    paths = [Path(p) for p in (out_path if isinstance(out_path, list) else [out_path])]
    keypoint_frames = np.asarray(sorted(row_of_frame))
    counted = dict(zip(keypoint_frames.tolist(), zip(*rep_phases(keypoint_frames, reps)))) if reps is not None else {}
    n_written = 0
    with ExitStack() as stack:
        targets = [stack.enter_context(atomic_path(p)) for p in paths]
        writers = [VideoEncoder(target, fps, size) for target in targets]
        # Decoding (a prefetch thread), drawing (here) and encoding (one thread, in order)
        # overlap: OpenCV releases the GIL while it decodes and encodes.
        encoder = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        pending: deque = deque()
        try:
            for frame in source:
                if reps is not None:
                    image = _annotate_coached(frame, row_of_frame, points, colours, readouts, counted, len(reps), banner)
                else:
                    image = _annotate(frame, row_of_frame, points, confidence)
                pending.append(encoder.submit(_write_frame, writers, np.ascontiguousarray(image[: size[1], : size[0]])))
                if len(pending) > ENCODE_AHEAD:
                    pending.popleft().result()
                n_written += 1
            for written in pending:
                written.result()
        finally:
            encoder.shutdown(wait=True)
            for writer in writers:
                writer.close()
        for target in targets:
            _check_readable(target, n_written, size)
    return n_written


def _annotate_coached(frame, row_of_frame, points, colours, readouts, counted, n_reps, banner) -> np.ndarray:
    """The coach's overlay frame, drawn on ``frame.image`` itself (a fresh decoded array)."""
    # A frame the pose model skipped (keypoints.video_stride 2) shows the frame before's skeleton.
    row = row_of_frame.get(frame.index, row_of_frame.get(frame.index - 1))
    head = _coach_caption(frame, counted, n_reps, banner).split("\n")
    canvas = frame.image
    if row is None:
        _draw_text_into(canvas, [*head, NO_KEYPOINTS])
    elif np.isnan(points[row]).all():
        _draw_text_into(canvas, [*head, NO_PERSON])
    else:
        _draw_skeleton_into(canvas, points[row], colours[row])
        _draw_text_into(canvas, [*head, *readouts[row]])
    _draw_legend_into(canvas)
    return canvas


def _write_frame(writers: list["VideoEncoder"], image: np.ndarray) -> None:
    for writer in writers:
        writer.write(image)


class VideoEncoder:
    """One overlay video being written: ``CODEC_OF_SUFFIX`` of ``target``'s suffix, at ``fps``
    frames per second and ``size`` ``(width, height)`` (both even), BGR frames in.

    Raises
    ------
    ValueError
        ``target`` is neither ``.mp4`` nor ``.webm``.
    """

    def __init__(self, target: Path, fps: float, size: tuple[int, int]):
        suffix = target.suffix.lower()
        if suffix not in CODEC_OF_SUFFIX:
            raise ValueError(f"an overlay is written as {' or '.join(CODEC_OF_SUFFIX)}, not {target.name}")
        codec, options = CODEC_OF_SUFFIX[suffix]
        self._container = av.open(str(target), "w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate, options=options)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        self._stream.bit_rate = round(BITS_PER_PIXEL * size[0] * size[1] * fps)
        # One thread: the overlay already encodes in a thread of its own beside the drawing,
        # and FFmpeg's own threads spent 2-4x the CPU for no gain on 2 cores.
        self._stream.thread_count = 1
        self._written = 0

    def write(self, image: np.ndarray) -> None:
        """Encode one BGR uint8 frame of the encoder's size."""
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = self._written
        self._container.mux(self._stream.encode(frame))
        self._written += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        try:
            self._container.mux(self._stream.encode())
        finally:
            self._container.close()


def _check_readable(path: Path, n_frames: int, size: tuple[int, int]) -> None:
    """Raise RuntimeError unless ``path`` reopens as ``n_frames`` frames of ``size``."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        found = (
            int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))),
        )
    finally:
        capture.release()
    if found != (n_frames, size):
        raise RuntimeError(
            f"The overlay written by PyAV {av.__version__} reads back as {found[0]} frames of "
            f"{found[1][0]} x {found[1][1]}, not {n_frames} of {size[0]} x {size[1]}."
        )


def save_frame_png(
    video: str | os.PathLike,
    keypoints: pd.DataFrame,
    frame_index: int,
    out_path: str | os.PathLike,
    max_side: int | None = None,
) -> Path:
    """Save one annotated frame of ``video`` as a PNG (for reports and docs), atomically.

    Parameters
    ----------
    video, keypoints, max_side
        As ``write_overlay``.
    frame_index
        0-based decoded frame index.
    out_path
        Destination ``.png``.

    Returns
    -------
    pathlib.Path
        ``out_path``.

    Raises
    ------
    SampleError
        As ``write_overlay``; ``frame_out_of_range`` when the video has no frame
        ``frame_index``.
    """
    info = probe(Path(video))
    row_of_frame, points, confidence = keypoints_by_frame(keypoints, fit_within(info.width, info.height, max_side))
    # Decoding is sequential: frames before the wanted one are decoded and dropped.
    frame = next((f for f in iter_frames(Path(video), max_side=max_side) if f.index == frame_index), None)
    if frame is None:
        raise SampleError(
            "frame_out_of_range",
            f"{Path(video).name} has no frame {frame_index} (it has about {info.frame_count}, numbered from 0).",
            frame_index,
        )
    with atomic_path(out_path) as target:
        if not cv2.imwrite(str(target), _annotate(frame, row_of_frame, points, confidence)):
            raise RuntimeError(f"OpenCV could not write a PNG to {target}.")
    return Path(out_path)


def annotated_frames(
    video: str | os.PathLike, keypoints: pd.DataFrame, frame_indices: list[int], max_side: int | None = None
) -> dict[int, np.ndarray]:
    """Several annotated frames of ``video`` in one decoding pass (for reports).

    Parameters
    ----------
    video, keypoints, max_side
        As ``write_overlay``.
    frame_indices
        0-based decoded frame indices; those past the end of the video are left out.

    Returns
    -------
    dict of int to numpy.ndarray
        Frame index -> annotated BGR uint8 image.
    """
    info = probe(Path(video))
    row_of_frame, points, confidence = keypoints_by_frame(keypoints, fit_within(info.width, info.height, max_side))
    wanted, found = set(frame_indices), {}
    for frame in iter_frames(Path(video), max_side=max_side):
        if frame.index in wanted:
            found[frame.index] = _annotate(frame, row_of_frame, points, confidence)
            if len(found) == len(wanted):
                break
    return found


def choose_view(sample: pd.Series, view: str | None) -> tuple[str, str]:
    """The video view to overlay for a catalog sample and its video path.

    Parameters
    ----------
    sample
        One ``SAMPLES`` row (``<view>_video``: paths relative to the set).
    view
        One of ``VIDEO_VIEWS``; None picks the first of those the sample has a video for.

    Returns
    -------
    tuple of str
        ``(view, video path relative to the set's directory)``.

    Raises
    ------
    SampleError
        ``no_video`` when the sample has no video for ``view`` (or none at all).
    """
    videos = {name: sample.get(f"{name}_video") for name in VIDEO_VIEWS}
    available = {name: path for name, path in videos.items() if isinstance(path, str) and path}
    if view is None and available:
        view = next(iter(available))
    if view not in available:
        wanted = f"{view} video" if view else "video"
        has = f" (it has: {', '.join(available)})" if available else ""
        raise SampleError("no_video", f"Sample {sample['sample_id']} has no {wanted}{has}.", view)
    return view, available[view]
