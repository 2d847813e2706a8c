"""The normalize stage: keypoints of one sample x view -> the rows of the feature table.

Method (Park 2020, docs/methods.md), per sample x view:

1. Joints whose confidence is below ``min_confidence`` are treated as missing.
2. A reference frame is chosen among the first ``reference_window`` source frames after the
   torso (neck and mid_hip) is first detected: the one with the longest torso, i.e. the most
   upright and least foreshortened.
3. One transform, found in that frame, is applied to every frame: mid_hip of the reference
   frame goes to the origin and its torso length (neck - mid_hip) becomes 1. Image
   coordinates (``px``, y down) also have y negated, so that in every view y points up.
4. Gaps of at most ``max_gap_frames`` source frames are linearly interpolated per joint and
   axis; longer gaps, and the frames before the first / after the last detection, stay NaN.
5. Each keypoint series is smoothed by a NaN-aware Gaussian (normalized convolution) with
   sigma ``smoothing_sigma`` source frames.
6. Per-frame deltas of the smoothed positions, and joint angles in degrees.

The transform is a translation plus a uniform scale (and, for images, a reflection), so
where a person stands, how tall they are and the camera's scale do not change the features;
interpolation and smoothing are linear and commute with it. Rotation is not removed.

All arrays are ``(frame, joint, space)`` over ``schemas.skeleton.JOINTS`` with ``space`` the
view's axes (x, y for ``px``; x, y, z for ``m``); ``frame`` is a row of the table, and frame
*indices* are the source's numbers, which may skip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from formset.quarantine import Rejection, SampleError
from formset.schemas.skeleton import AXES, JOINT_INDEX, JOINTS
from formset.schemas.tables import ANGLES, FEATURES, joint_columns
from formset.tasks.kinematics import UP_AXIS, compute_angles

STAGE = "normalize"

#: Number of spatial axes of each ``units`` value of the keypoints table.
SPACE_OF_UNITS: dict[str, int] = {"px": 2, "m": 3}

#: Units whose y axis points down (image rows) and is flipped so that up is positive.
Y_DOWN_UNITS: frozenset[str] = frozenset({"px"})

#: Named axes of the keypoint arrays.
FRAME_AXIS, JOINT_AXIS, SPACE_AXIS = 0, 1, 2

#: The two joints that define the torso: (top, bottom); bottom is the origin.
NECK, MID_HIP = JOINT_INDEX["neck"], JOINT_INDEX["mid_hip"]

#: A reference torso shorter than this share of the skeleton's extent in the reference frame
#: is degenerate (~zero). Relative, so the check does not depend on units or camera scale.
MIN_TORSO_FRACTION: float = 0.01

#: The Gaussian kernel is cut at this many sigmas (as scipy.ndimage's default).
TRUNCATE_SIGMAS: float = 4.0

POSITION_COLUMNS: list[str] = joint_columns(suffixes=AXES)
DELTA_COLUMNS: list[str] = ["d_" + c for c in POSITION_COLUMNS]
GROUP_KEYS: list[str] = ["set_id", "sample_id", "view"]


def present_joints(points: np.ndarray) -> np.ndarray:
    """Which joints are detected in which frames.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN.

    Returns
    -------
    numpy.ndarray
        bool, shape ``(frame, joint)``: True where every coordinate is finite.
    """
    return np.isfinite(points).all(axis=SPACE_AXIS)


def torso_lengths(points: np.ndarray) -> np.ndarray:
    """Neck - mid_hip distance per frame.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, in any unit.

    Returns
    -------
    numpy.ndarray
        Shape ``(frame,)``, in the unit of ``points``; NaN where neck or mid_hip is missing.
    """
    return np.linalg.norm(points[:, NECK] - points[:, MID_HIP], axis=-1)


def first_detection(points: np.ndarray) -> int | None:
    """Row of the first frame in which the torso (neck and mid_hip) is detected.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN.

    Returns
    -------
    int or None
        Row index, or None when neck and mid_hip are never both detected.
    """
    torso_found = present_joints(points)[:, [NECK, MID_HIP]].all(axis=1)
    return int(np.argmax(torso_found)) if torso_found.any() else None


def choose_reference_frame(points: np.ndarray, frame: np.ndarray, window: int) -> int:
    """Row of the reference frame: the longest torso soon after the person appears.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing.
    window
        Number of source frames, starting at the first detection, to choose from.

    Returns
    -------
    int
        Row index of the frame with the longest neck - mid_hip distance among frames whose
        index is below ``first detection + window`` (the earliest on a tie).

    Raises
    ------
    SampleError
        ``no_reference_frame`` when neck and mid_hip are never both detected.
    """
    first = first_detection(points)
    if first is None:
        raise SampleError(
            "no_reference_frame",
            "the neck and the mid-hip are never both detected (with enough confidence) in the "
            "same frame, so the body cannot be normalized; check that the whole upper body is "
            "in view",
        )
    lengths = torso_lengths(points)
    candidate = (frame < frame[first] + window) & np.isfinite(lengths)
    return int(np.argmax(np.where(candidate, lengths, -np.inf)))


def normalize_to_torso(points: np.ndarray, reference: int, y_down: bool = False) -> tuple[np.ndarray, float]:
    """Move mid_hip of the reference frame to the origin and scale its torso to length 1.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)`` in source units (pixels or metres).
    reference
        Row index of the reference frame; its neck and mid_hip must be present.
    y_down
        True for image coordinates (y pointing down): y is negated so that up is positive.

    Returns
    -------
    normalized : numpy.ndarray
        float64, shape of ``points``, in torso lengths of the reference frame.
    torso_length : float
        The reference frame's neck - mid_hip distance, in source units.

    Raises
    ------
    SampleError
        ``degenerate_torso`` when the reference torso has ~zero length.
    """
    reference_points = points[reference].astype(np.float64)
    torso_length = float(torso_lengths(reference_points[np.newaxis])[0])
    extent = float(np.nanmax(np.nanmax(reference_points, axis=0) - np.nanmin(reference_points, axis=0)))
    if not torso_length > MIN_TORSO_FRACTION * extent:
        raise SampleError(
            "degenerate_torso",
            f"in the reference frame (row {reference}) the neck and the mid-hip are at the same "
            "place, so the body's size cannot be measured; the keypoints of that view are "
            "probably wrong",
            torso_length,
        )
    axis_sign = np.ones(points.shape[SPACE_AXIS])
    if y_down:
        axis_sign[UP_AXIS] = -1.0
    normalized = (points.astype(np.float64) - reference_points[MID_HIP]) * (axis_sign / torso_length)
    return normalized, torso_length


def interpolate_gaps(values: np.ndarray, frame: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly fill short runs of NaN along frames, in source frame index.

    Parameters
    ----------
    values
        Shape ``(frame, ...)``; each trailing position is one series (e.g. joint x axis).
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing (may skip).
    max_gap
        Longest gap filled, in missing source frames between two detections (frame numbers
        absent from the table count as missing).

    Returns
    -------
    filled : numpy.ndarray
        float64, shape of ``values``; NaN before the first and after the last detection of
        each series and inside longer gaps (no extrapolation).
    was_filled : numpy.ndarray
        bool, shape of ``values``: True where a NaN was replaced.
    """
    n_rows = len(frame)
    series = np.asarray(values, dtype=np.float64).reshape(n_rows, -1)
    valid = ~np.isnan(series)
    rows = np.arange(n_rows)[:, np.newaxis]
    # For every row, the nearest valid row at or before it / at or after it (per series).
    before = np.maximum.accumulate(np.where(valid, rows, -1), axis=FRAME_AXIS)
    after = np.minimum.accumulate(np.where(valid, rows, n_rows)[::-1], axis=FRAME_AXIS)[::-1]
    bounded = (before >= 0) & (after < n_rows)
    before, after = np.clip(before, 0, n_rows - 1), np.clip(after, 0, n_rows - 1)
    frame_before, frame_after = frame[before], frame[after]
    was_filled = ~valid & bounded & (frame_after - frame_before - 1 <= max_gap)
    span = np.where(was_filled, frame_after - frame_before, 1)
    fraction = (frame[:, np.newaxis] - frame_before) / span
    value_before = np.take_along_axis(series, before, axis=FRAME_AXIS)
    value_after = np.take_along_axis(series, after, axis=FRAME_AXIS)
    filled = np.where(was_filled, value_before + fraction * (value_after - value_before), series)
    return filled.reshape(np.shape(values)), was_filled.reshape(np.shape(values))


def gaussian_smooth(values: np.ndarray, sigma: float, frame: np.ndarray | None = None) -> np.ndarray:
    """NaN-aware Gaussian smoothing along frames (normalized convolution).

    Each valid value becomes the Gaussian-weighted mean of the valid values around it; NaN
    values take no part and stay NaN, so a gap neither spreads NaN over its neighbours nor
    gets values invented inside it. Near the ends the kernel is renormalized over what
    exists, so a constant series stays constant.

    Parameters
    ----------
    values
        Shape ``(frame, ...)``; each trailing position is one series.
    sigma
        Standard deviation of the kernel, in source frames; 0 returns the values unchanged.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing. Weights use the
        distance in frame index, so skipped frame numbers are not mistaken for neighbours.
        Default: consecutive rows.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``values``.
    """
    n_rows = len(values)
    series = np.asarray(values, dtype=np.float64).reshape(n_rows, -1)
    if sigma <= 0:
        return series.reshape(np.shape(values))
    frame = np.arange(n_rows) if frame is None else np.asarray(frame)
    valid = ~np.isnan(series)
    zeroed = np.where(valid, series, 0.0)
    weighted_sum = np.zeros_like(series)
    weight_sum = np.zeros_like(series)
    radius = int(np.ceil(TRUNCATE_SIGMAS * sigma))
    # Frame indices are strictly increasing, so every neighbour within `radius` frames is
    # within `radius` rows: loop over kernel taps (row offsets), vectorized over frames.
    for offset in range(-radius, radius + 1):
        rows = slice(max(0, -offset), min(n_rows, n_rows - offset))
        neighbours = slice(rows.start + offset, rows.stop + offset)
        distance = frame[neighbours] - frame[rows]
        weight = np.where(np.abs(distance) <= radius, np.exp(-0.5 * (distance / sigma) ** 2), 0.0)
        weighted_sum[rows] += weight[:, np.newaxis] * zeroed[neighbours]
        weight_sum[rows] += weight[:, np.newaxis] * valid[neighbours]
    # A valid value has weight >= 1 on itself, so the division is safe where it is kept.
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = np.where(valid, weighted_sum / weight_sum, np.nan)
    return smoothed.reshape(np.shape(values))


def frame_deltas(values: np.ndarray, frame: np.ndarray | None = None) -> np.ndarray:
    """Change per source frame: (row t minus row t-1) / (frame t minus frame t-1).

    Parameters
    ----------
    values
        Shape ``(frame, ...)``.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing; dividing by the
        step keeps a skipped frame from doubling a delta. Default: consecutive rows.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``values``, in units of ``values`` per frame. The first row is
        NaN (nothing before it), so rows stay aligned with the positions; a model that needs
        the seed's (k - 1) rows drops it.
    """
    values = np.asarray(values, dtype=np.float64)
    step = np.diff(np.arange(len(values)) if frame is None else np.asarray(frame))
    deltas = np.full_like(values, np.nan)
    deltas[1:] = np.diff(values, axis=FRAME_AXIS) / step.reshape(-1, *([1] * (values.ndim - 1)))
    return deltas


def keypoint_arrays(keypoints: pd.DataFrame, n_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint table rows as arrays.

    Parameters
    ----------
    keypoints
        Rows with the ``<joint>_x/_y/_z/_conf`` columns of ``KEYPOINTS``.
    n_space
        Number of spatial axes to keep (2: x, y; 3: x, y, z).

    Returns
    -------
    points : numpy.ndarray
        float64, shape ``(frame, joint, n_space)``.
    confidence : numpy.ndarray
        float64, shape ``(frame, joint)``.
    """
    coordinates = joint_columns(suffixes=AXES[:n_space])
    points = keypoints[coordinates].to_numpy(dtype=np.float64, na_value=np.nan)
    confidence = keypoints[joint_columns(suffixes=("conf",))].to_numpy(dtype=np.float64, na_value=np.nan)
    return points.reshape(len(keypoints), len(JOINTS), n_space), confidence


def drop_low_confidence(points: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """Treat a joint as missing in a frame when its confidence is below ``min_confidence``.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``.
    confidence
        Shape ``(frame, joint)``, 0-1. NaN (unknown, e.g. a Kinect file without tracking
        states) does not count as low: such a joint is kept if its coordinates exist.
    min_confidence
        Threshold, 0-1.

    Returns
    -------
    numpy.ndarray
        Copy of ``points`` with every coordinate of low-confidence joints NaN; a joint with
        any NaN coordinate is also made NaN on every axis, so joints are whole or missing.
    """
    missing = (confidence < min_confidence) | ~present_joints(points)
    return np.where(missing[..., np.newaxis], np.nan, points)


def features_for_view(keypoints: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Normalized positions, deltas and angles of one sample seen from one view.

    Parameters
    ----------
    keypoints
        The rows of one sample x view of the keypoints table (``KEYPOINTS`` columns), one
        per frame, in any order. ``units`` is ``px`` (2-D, y down) or ``m`` (3-D, y up).
    params
        The ``normalize`` group of ``params.yaml``: ``reference_window``,
        ``max_gap_frames``, ``smoothing_sigma``, ``min_confidence``.

    Returns
    -------
    pandas.DataFrame
        Exactly the ``FEATURES`` columns, one row per input frame in frame order: positions
        in reference torso lengths with y up (``z`` NaN for 2-D), ``d_`` deltas per source
        frame (first row NaN), angles in degrees, ``reference_frame`` (source frame index),
        ``torso_length`` (source units) and ``interpolated_joints`` (joints filled by
        interpolation in that row).

    Raises
    ------
    SampleError
        ``unknown_units``, ``duplicate_frames``, ``no_reference_frame`` or
        ``degenerate_torso``.
    """
    rows = keypoints.sort_values("frame", kind="stable")
    units = str(rows["units"].iloc[0])
    if units not in SPACE_OF_UNITS:
        raise SampleError(
            "unknown_units",
            f"keypoint units must be one of {sorted(SPACE_OF_UNITS)} (pixels or metres)",
            units,
        )
    frame = rows["frame"].to_numpy(dtype=np.int64)
    repeated = frame[1:][np.diff(frame) == 0]
    if repeated.size:
        raise SampleError(
            "duplicate_frames",
            "a frame number appears more than once in this view's keypoints; re-extract the keypoints",
            repeated[0],
        )
    n_space = SPACE_OF_UNITS[units]

    points, confidence = keypoint_arrays(rows, n_space)
    points = drop_low_confidence(points, confidence, params["min_confidence"])
    reference = choose_reference_frame(points, frame, params["reference_window"])
    normalized, torso_length = normalize_to_torso(points, reference, y_down=units in Y_DOWN_UNITS)
    filled, was_filled = interpolate_gaps(normalized, frame, params["max_gap_frames"])
    smoothed = gaussian_smooth(filled, params["smoothing_sigma"], frame)
    deltas = frame_deltas(smoothed, frame)
    angles = compute_angles(smoothed)

    # Store every view with x, y, z columns; 2-D views have no z.
    missing_axes = np.full((len(frame), len(JOINTS), len(AXES) - n_space), np.nan)
    positions = np.concatenate([smoothed, missing_axes], axis=SPACE_AXIS).reshape(len(frame), -1)
    delta_positions = np.concatenate([deltas, missing_axes], axis=SPACE_AXIS).reshape(len(frame), -1)
    table = {
        **{key: rows[key].to_numpy() for key in GROUP_KEYS},
        "frame": frame.astype(np.int32),
        "time_s": rows["time_s"].to_numpy(dtype=np.float64),
        "reference_frame": np.full(len(frame), frame[reference], dtype=np.int32),
        "torso_length": np.full(len(frame), torso_length, dtype=np.float32),
        "interpolated_joints": was_filled.any(axis=SPACE_AXIS).sum(axis=JOINT_AXIS).astype(np.int16),
        **dict(zip(POSITION_COLUMNS, positions.astype(np.float32).T)),
        **dict(zip(DELTA_COLUMNS, delta_positions.astype(np.float32).T)),
        **{name: angles[name].astype(np.float32) for name in ANGLES},
    }
    return pd.DataFrame(table, columns=FEATURES.names)


def empty_features() -> pd.DataFrame:
    """A feature table with no rows and the ``FEATURES`` columns and dtypes."""
    return FEATURES.empty_table().to_pandas()


def features_for_samples(keypoints: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, list[Rejection]]:
    """Features of every sample x view in a keypoints table.

    Parameters
    ----------
    keypoints
        Rows of the keypoints table (``KEYPOINTS`` columns), any number of samples and views.
    params
        The ``normalize`` group of ``params.yaml``.

    Returns
    -------
    features : pandas.DataFrame
        ``FEATURES`` columns, rows grouped by sample and view, frames in order.
    rejections : list of Rejection
        One per rejected view (stage ``normalize``). A sample with any rejected view is
        rejected whole: none of its views appear in ``features``, so every sample in the
        table has all the views it came with.
    """
    per_view: dict[tuple[str, str, str], pd.DataFrame] = {}
    rejections: list[Rejection] = []
    for (set_id, sample_id, view), rows in keypoints.groupby(GROUP_KEYS, sort=False):
        try:
            per_view[(set_id, sample_id, view)] = features_for_view(rows, params)
        except SampleError as error:
            detail = f"{view} view: {error.detail}"
            rejections.append(Rejection(set_id, sample_id, STAGE, error.reason, detail, error.value))
    rejected = {(r.set_id, r.sample_id) for r in rejections}
    kept = [table for key, table in per_view.items() if key[:2] not in rejected]
    features = pd.concat(kept, ignore_index=True) if kept else empty_features()
    return features, rejections
