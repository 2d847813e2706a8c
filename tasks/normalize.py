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

Every step works on the rows of many views at once (``view_start`` marks where each view's
rows begin; nothing crosses from one view into the next), in chunks of ``CHUNK_ROWS`` rows of
whole views: a set of a thousand executions costs a few dozen array operations per chunk, not
a data frame per view.

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

from formset.params import NormalizeParams
from formset.quarantine import Rejection, SampleError
from formset.schemas.skeleton import AXES, JOINT_INDEX, JOINTS
from formset.schemas.tables import ANGLES, FEATURES, joint_columns
from formset.tasks.maths.kinematics import UP_AXIS, compute_angles
from formset.tasks.maths.smoothing import gaussian_smooth, single_view, view_of_rows

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

POSITION_COLUMNS: list[str] = joint_columns(suffixes=AXES)
DELTA_COLUMNS: list[str] = ["d_" + c for c in POSITION_COLUMNS]
#: The float32 columns of the feature table that hold measures, in its order.
MEASURE_COLUMNS: list[str] = POSITION_COLUMNS + DELTA_COLUMNS + list(ANGLES)
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


def first_detections(points: np.ndarray, view_start: np.ndarray) -> np.ndarray:
    """Row of the first frame of each view in which the torso (neck and mid_hip) is detected.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN; rows grouped by view (``view_start``,
        see ``view_of_rows``), frames in order within a view.
    view_start
        int, shape ``(view,)``: the first row of each view.

    Returns
    -------
    numpy.ndarray
        int, shape ``(view,)``: row index, -1 where neck and mid_hip are never both detected.
    """
    n_rows = len(points)
    torso_found = present_joints(points)[:, [NECK, MID_HIP]].all(axis=1)
    first = np.minimum.reduceat(np.where(torso_found, np.arange(n_rows), n_rows), view_start)
    view_end = np.append(view_start[1:], n_rows)
    return np.where(first < view_end, first, -1)


def first_detection(points: np.ndarray) -> int | None:
    """Row of the first frame in which the torso (neck and mid_hip) is detected.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN; one view.

    Returns
    -------
    int or None
        Row index, or None when neck and mid_hip are never both detected.
    """
    first = int(first_detections(points, single_view(len(points)))[0])
    return None if first < 0 else first


def no_reference_frame() -> SampleError:
    """The rejection of a view whose torso is never detected."""
    return SampleError(
        "no_reference_frame",
        "the neck and the mid-hip are never both detected (with enough confidence) in the "
        "same frame, so the body cannot be normalized; check that the whole upper body is "
        "in view",
    )


def degenerate_torso(reference: int, torso_length: float) -> SampleError:
    """The rejection of a view whose reference torso has ~zero length.

    Parameters
    ----------
    reference
        Row of the reference frame, counted within the view.
    torso_length
        Its neck - mid_hip distance, in source units.
    """
    return SampleError(
        "degenerate_torso",
        f"in the reference frame (row {reference}) the neck and the mid-hip are at the same "
        "place, so the body's size cannot be measured; the keypoints of that view are "
        "probably wrong",
        torso_length,
    )


def reference_frames(points: np.ndarray, frame: np.ndarray, window: int, view_start: np.ndarray) -> np.ndarray:
    """Row of each view's reference frame: the longest torso soon after the person appears.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)``, missing as NaN; rows grouped by view.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing within a view.
    window
        Number of source frames, starting at a view's first detection, to choose from.
    view_start
        int, shape ``(view,)``: the first row of each view.

    Returns
    -------
    numpy.ndarray
        int, shape ``(view,)``: row index of the frame with the longest neck - mid_hip
        distance among the view's frames whose index is below ``first detection + window``
        (the earliest on a tie); -1 where neck and mid_hip are never both detected.
    """
    n_rows = len(points)
    first = first_detections(points, view_start)
    row_view = view_of_rows(view_start, n_rows)
    window_end = frame[np.maximum(first, 0)] + window
    lengths = torso_lengths(points)
    candidate = (frame < window_end[row_view]) & np.isfinite(lengths)
    score = np.where(candidate, lengths, -np.inf)
    longest = np.maximum.reduceat(score, view_start)
    is_longest = candidate & (score == longest[row_view])
    reference = np.minimum.reduceat(np.where(is_longest, np.arange(n_rows), n_rows), view_start)
    return np.where(first >= 0, reference, -1)


def choose_reference_frame(points: np.ndarray, frame: np.ndarray, window: int) -> int:
    """Row of the reference frame of one view (``reference_frames`` of a single view).

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
    reference = int(reference_frames(points, frame, window, single_view(len(points)))[0])
    if reference < 0:
        raise no_reference_frame()
    return reference


def normalize_to_torsos(
    points: np.ndarray, reference: np.ndarray, view_start: np.ndarray, y_down: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per view, move mid_hip of the reference frame to the origin and scale its torso to 1.

    Parameters
    ----------
    points
        Shape ``(frame, joint, space)`` in source units (pixels or metres); rows grouped by view.
    reference
        int, shape ``(view,)``: row index of each view's reference frame, whose neck and
        mid_hip must be present.
    view_start
        int, shape ``(view,)``: the first row of each view.
    y_down
        True for image coordinates (y pointing down): y is negated so that up is positive.

    Returns
    -------
    normalized : numpy.ndarray
        float64, shape of ``points``, in torso lengths of each view's reference frame; NaN in
        the views that are ``degenerate``.
    torso_length : numpy.ndarray
        float64, shape ``(view,)``: each reference frame's neck - mid_hip distance, in source
        units.
    degenerate : numpy.ndarray
        bool, shape ``(view,)``: the reference torso has ~zero length (below
        ``MIN_TORSO_FRACTION`` of the skeleton's extent in that frame).
    """
    reference_points = points[reference].astype(np.float64)
    torso_length = torso_lengths(reference_points)
    # fmax/fmin skip NaN like nanmax/nanmin, without warning about all-NaN joints.
    spread = np.fmax.reduce(reference_points, axis=JOINT_AXIS) - np.fmin.reduce(reference_points, axis=JOINT_AXIS)
    extent = np.fmax.reduce(spread, axis=-1)  # over space
    degenerate = ~(torso_length > MIN_TORSO_FRACTION * extent)
    axis_sign = np.ones(points.shape[SPACE_AXIS])
    if y_down:
        axis_sign[UP_AXIS] = -1.0
    # Degenerate views get NaN rather than huge or infinite values: they are rejected whole.
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(degenerate[:, np.newaxis], np.nan, axis_sign / torso_length[:, np.newaxis])
    row_view = view_of_rows(view_start, len(points))
    origin = reference_points[:, MID_HIP]
    normalized = (points.astype(np.float64) - origin[row_view, np.newaxis]) * scale[row_view, np.newaxis]
    return normalized, torso_length, degenerate


def normalize_to_torso(points: np.ndarray, reference: int, y_down: bool = False) -> tuple[np.ndarray, float]:
    """Move mid_hip of the reference frame to the origin and scale its torso to length 1
    (``normalize_to_torsos`` of a single view).

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
    normalized, torso_length, degenerate = normalize_to_torsos(
        points, np.array([reference]), single_view(len(points)), y_down
    )
    if degenerate[0]:
        raise degenerate_torso(reference, float(torso_length[0]))
    return normalized, float(torso_length[0])


def interpolate_gaps(
    values: np.ndarray, frame: np.ndarray, max_gap: int, view_start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly fill short runs of NaN along frames, in source frame index.

    Parameters
    ----------
    values
        Shape ``(frame, ...)``; each trailing position is one series (e.g. joint x axis).
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing within a view (may skip).
    max_gap
        Longest gap filled, in missing source frames between two detections (frame numbers
        absent from the table count as missing).
    view_start
        int, shape ``(view,)``: the first row of each view when the rows hold several
        (``view_of_rows``); a gap is never filled across views. Default: one view.

    Returns
    -------
    filled : numpy.ndarray
        float64, shape of ``values``; NaN before the first and after the last detection of
        each series and inside longer gaps (no extrapolation).
    was_filled : numpy.ndarray
        bool, shape of ``values``: True where a NaN was replaced.
    """
    n_rows = len(frame)
    view_start = single_view(n_rows) if view_start is None else view_start
    series = np.asarray(values, dtype=np.float64).reshape(n_rows, -1)
    filled, was_filled = series.copy(), np.zeros(series.shape, dtype=bool)
    # Only series with a gap have work to do: often few (a Kinect tracks every joint it
    # has, and the joints it lacks are never there).
    missing = np.isnan(series)
    gappy = np.flatnonzero(missing.any(axis=FRAME_AXIS) & ~missing.all(axis=FRAME_AXIS))
    filled[:, gappy], was_filled[:, gappy] = fill_gaps(series[:, gappy], frame, max_gap, view_start)
    return filled.reshape(np.shape(values)), was_filled.reshape(np.shape(values))


def fill_gaps(
    series: np.ndarray, frame: np.ndarray, max_gap: int, view_start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``interpolate_gaps`` of series of shape ``(frame, series)`` (float64)."""
    n_rows = len(frame)
    valid = ~np.isnan(series)
    rows = np.arange(n_rows)[:, np.newaxis]
    row_view = view_of_rows(view_start, n_rows)
    first_row = view_start[row_view][:, np.newaxis]
    end_row = np.append(view_start[1:], n_rows)[row_view][:, np.newaxis]
    # For every row, the nearest valid row at or before it / at or after it (per series);
    # one in another view does not count.
    before = np.maximum.accumulate(np.where(valid, rows, -1), axis=FRAME_AXIS)
    after = np.minimum.accumulate(np.where(valid, rows, n_rows)[::-1], axis=FRAME_AXIS)[::-1]
    bounded = (before >= first_row) & (after < end_row)
    before, after = np.clip(before, 0, n_rows - 1), np.clip(after, 0, n_rows - 1)
    frame_before, frame_after = frame[before], frame[after]
    was_filled = ~valid & bounded & (frame_after - frame_before - 1 <= max_gap)
    span = np.where(was_filled, frame_after - frame_before, 1)
    fraction = (frame[:, np.newaxis] - frame_before) / span
    value_before = np.take_along_axis(series, before, axis=FRAME_AXIS)
    value_after = np.take_along_axis(series, after, axis=FRAME_AXIS)
    filled = np.where(was_filled, value_before + fraction * (value_after - value_before), series)
    return filled, was_filled


def frame_deltas(
    values: np.ndarray, frame: np.ndarray | None = None, view_start: np.ndarray | None = None
) -> np.ndarray:
    """Change per source frame: (row t minus row t-1) / (frame t minus frame t-1).

    Parameters
    ----------
    values
        Shape ``(frame, ...)``.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing within a view;
        dividing by the step keeps a skipped frame from doubling a delta. Default:
        consecutive rows.
    view_start
        int, shape ``(view,)``: the first row of each view when the rows hold several
        (``view_of_rows``). Default: one view.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``values``, in units of ``values`` per frame. The first row of
        each view is NaN (nothing before it), so rows stay aligned with the positions; a
        model that needs the seed's (k - 1) rows drops it.
    """
    values = np.asarray(values, dtype=np.float64)
    step = np.diff(np.arange(len(values)) if frame is None else np.asarray(frame))
    deltas = np.full_like(values, np.nan)
    # Across a view boundary the step is meaningless (maybe 0); that row is set NaN below.
    with np.errstate(invalid="ignore", divide="ignore"):
        deltas[1:] = np.diff(values, axis=FRAME_AXIS) / step.reshape(-1, *([1] * (values.ndim - 1)))
    deltas[single_view(len(values)) if view_start is None else view_start] = np.nan
    return deltas


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


#: Views are normalized together in chunks of about this many rows (whole views): a chunk's
#: temporaries stay small and in cache however many views a set holds.
CHUNK_ROWS: int = 16_384


def sort_views(keypoints: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The order that groups the rows by sample x view, frames ascending within a view.

    Parameters
    ----------
    keypoints
        Rows of the keypoints table, any order.

    Returns
    -------
    order : numpy.ndarray
        int, shape ``(row,)``: positions in ``keypoints``; views in the order in which they
        first appear, rows of equal frame in their input order.
    view_start : numpy.ndarray
        int, shape ``(view,)``: the first row of each view in ``keypoints`` taken in ``order``.
    """
    view = keypoints.groupby(GROUP_KEYS, sort=False).ngroup().to_numpy()
    order = np.lexsort((keypoints["frame"].to_numpy(dtype=np.int64), view))
    return order, np.flatnonzero(np.diff(view[order], prepend=-1))


def rows_of_views(view_start: np.ndarray, view_length: np.ndarray, views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of some views, and where each view starts among them.

    Parameters
    ----------
    view_start, view_length
        int, shape ``(view,)``: first row and number of rows of every view.
    views
        int, shape ``(chosen,)``: the views wanted, ascending.

    Returns
    -------
    rows : numpy.ndarray
        int, shape ``(row,)``: the rows of ``views``, in order.
    chosen_start : numpy.ndarray
        int, shape ``(chosen,)``: the first position of each chosen view in ``rows``.
    """
    length = view_length[views]
    chosen_start = np.cumsum(length) - length
    rows = np.repeat(view_start[views] - chosen_start, length) + np.arange(length.sum())
    return rows, chosen_start


def view_errors(units: np.ndarray, frame: np.ndarray, view_start: np.ndarray) -> dict[int, SampleError]:
    """Views that cannot be normalized at all: unknown units or a repeated frame number.

    Parameters
    ----------
    units
        str, shape ``(view,)``: each view's ``units``.
    frame
        int, shape ``(row,)``: source frame indices, rows grouped by view, ascending within.
    view_start
        int, shape ``(view,)``: the first row of each view.

    Returns
    -------
    dict of int to SampleError
        View index -> ``unknown_units`` or, failing that, ``duplicate_frames`` (the value is
        the first repeated frame number).
    """
    errors = {
        int(view): SampleError(
            "unknown_units",
            f"keypoint units must be one of {sorted(SPACE_OF_UNITS)} (pixels or metres)",
            units[view],
        )
        for view in np.flatnonzero(~np.isin(units, list(SPACE_OF_UNITS)))
    }
    row_view = view_of_rows(view_start, len(frame))
    repeated = np.flatnonzero((np.diff(frame) == 0) & (np.diff(row_view) == 0)) + 1
    views, first = np.unique(row_view[repeated], return_index=True)
    for view, row in zip(views, repeated[first]):
        errors.setdefault(
            int(view),
            SampleError(
                "duplicate_frames",
                "a frame number appears more than once in this view's keypoints; re-extract the keypoints",
                frame[row],
            ),
        )
    return errors


def normalize_views(
    points: np.ndarray, confidence: np.ndarray, frame: np.ndarray, view_start: np.ndarray, y_down: bool, params: NormalizeParams
) -> tuple[dict[str, np.ndarray], dict[int, SampleError]]:
    """Steps 1-6 of the method for the rows of several views of one ``units``.

    Parameters
    ----------
    points
        float64, shape ``(frame, joint, space)`` in source units; rows grouped by view.
    confidence
        Shape ``(frame, joint)``, 0-1 or NaN.
    frame
        int, shape ``(frame,)``: source frame indices, strictly increasing within a view.
    view_start
        int, shape ``(view,)``: the first row of each view.
    y_down
        True for image coordinates (y pointing down).
    params
        The ``normalize`` group of ``params.yaml``.

    Returns
    -------
    features : dict of str to numpy.ndarray
        Per row: ``positions`` and ``deltas`` (shape of ``points``, torso lengths, y up),
        ``interpolated_joints`` (joints filled in that row), every name of ``ANGLES``
        (degrees); ``reference_frame`` (source frame index) and ``torso_length`` (source
        units) of the row's view.
    errors : dict of int to SampleError
        View index -> ``no_reference_frame`` or ``degenerate_torso``; the rows of those
        views hold NaN.
    """
    points = drop_low_confidence(points, confidence, params.min_confidence)
    reference = reference_frames(points, frame, params.reference_window, view_start)
    found = reference >= 0
    # A view without a reference frame gets a stand-in one: all-NaN, so degenerate below.
    normalized, torso_length, degenerate = normalize_to_torsos(
        points, np.where(found, reference, view_start), view_start, y_down
    )
    filled, was_filled = interpolate_gaps(normalized, frame, params.max_gap_frames, view_start)
    smoothed = gaussian_smooth(filled, params.smoothing_sigma, frame, view_start)
    row_view = view_of_rows(view_start, len(frame))
    features = {
        "positions": smoothed,
        "deltas": frame_deltas(smoothed, frame, view_start),
        "interpolated_joints": was_filled.any(axis=SPACE_AXIS).sum(axis=JOINT_AXIS),
        "reference_frame": frame[np.maximum(reference, 0)][row_view],
        "torso_length": torso_length[row_view],
        **compute_angles(smoothed),
    }
    errors = {int(view): no_reference_frame() for view in np.flatnonzero(~found)}
    for view in np.flatnonzero(found & degenerate):
        errors[int(view)] = degenerate_torso(int(reference[view] - view_start[view]), float(torso_length[view]))
    return features, errors


def features_by_view(keypoints: pd.DataFrame, params: NormalizeParams) -> tuple[pd.DataFrame, list[tuple[tuple, SampleError]]]:
    """Normalized positions, deltas and angles of every sample x view that can be normalized.

    Parameters
    ----------
    keypoints
        Rows of the keypoints table (``KEYPOINTS`` columns), any number of samples and
        views, in any order. ``units`` is ``px`` (2-D, y down) or ``m`` (3-D, y up).
    params
        The ``normalize`` group of ``params.yaml``: ``reference_window``,
        ``max_gap_frames``, ``smoothing_sigma``, ``min_confidence``.

    Returns
    -------
    features : pandas.DataFrame
        Exactly the ``FEATURES`` columns, one row per input row of every view without an
        error; views in the order in which they first appear, frames in order: positions in
        reference torso lengths with y up (``z`` NaN for 2-D), ``d_`` deltas per source
        frame (first row of a view NaN), angles in degrees, ``reference_frame`` (source
        frame index), ``torso_length`` (source units) and ``interpolated_joints`` (joints
        filled by interpolation in that row).
    errors : list of ((set_id, sample_id, view), SampleError)
        The views left out, in view order: ``unknown_units``, ``duplicate_frames``,
        ``no_reference_frame`` or ``degenerate_torso``.
    """
    if keypoints.empty:
        return empty_features(), []
    order, view_start = sort_views(keypoints)
    n_rows = len(order)
    view_length = np.diff(view_start, append=n_rows)
    frame = keypoints["frame"].to_numpy(dtype=np.int64)[order]
    units = keypoints["units"].to_numpy()[order][view_start]
    errors = view_errors(units, frame, view_start)

    # Rows are gathered chunk by chunk from the columns as stored (float32): one (row, column)
    # array of the whole set would cost a pass over memory of its own.
    stored = {name: keypoints[name].to_numpy() for name in joint_columns()}
    measures = np.full((n_rows, len(MEASURE_COLUMNS)), np.nan, dtype=np.float32)
    # Every view is stored with x, y, z columns; 2-D views have no z.
    positions = measures[:, : len(POSITION_COLUMNS)].reshape(n_rows, len(JOINTS), len(AXES))
    deltas = measures[:, len(POSITION_COLUMNS) : 2 * len(POSITION_COLUMNS)].reshape(n_rows, len(JOINTS), len(AXES))
    angles = measures[:, 2 * len(POSITION_COLUMNS) :]
    per_view = {
        "reference_frame": np.zeros(n_rows, dtype=np.int32),
        "torso_length": np.zeros(n_rows, dtype=np.float32),
        "interpolated_joints": np.zeros(n_rows, dtype=np.int16),
    }
    for unit, n_space in SPACE_OF_UNITS.items():
        views = np.flatnonzero((units == unit) & ~np.isin(np.arange(len(view_start)), list(errors)))
        if not views.size:
            continue
        chunk = (np.cumsum(view_length[views]) - view_length[views]) // CHUNK_ROWS
        for chunk_views in np.split(views, np.flatnonzero(np.diff(chunk)) + 1):
            rows, chunk_start = rows_of_views(view_start, view_length, chunk_views)
            source_rows = order[rows]
            points = gather_columns(stored, joint_columns(suffixes=AXES[:n_space]), source_rows)
            confidence = gather_columns(stored, joint_columns(suffixes=("conf",)), source_rows)
            features, chunk_errors = normalize_views(
                points.reshape(len(rows), len(JOINTS), n_space),
                confidence,
                frame[rows],
                chunk_start,
                unit in Y_DOWN_UNITS,
                params,
            )
            errors.update({int(chunk_views[view]): error for view, error in chunk_errors.items()})
            positions[rows, :, :n_space] = features.pop("positions")
            deltas[rows, :, :n_space] = features.pop("deltas")
            angles[rows] = np.stack([features.pop(name) for name in ANGLES], axis=-1)
            for name, values in features.items():
                per_view[name][rows] = values

    kept = ~np.isin(view_of_rows(view_start, n_rows), list(errors))
    if not kept.any():
        return empty_features(), sorted_errors(keypoints, order, view_start, errors)
    kept_rows = order[kept]
    # Usually every view is kept: then the measures need no copy.
    kept_measures = measures if kept.all() else measures[kept]
    table = pd.DataFrame(
        {
            **{key: keypoints[key].to_numpy()[kept_rows] for key in GROUP_KEYS},
            "frame": frame[kept].astype(np.int32),
            "time_s": keypoints["time_s"].to_numpy(dtype=np.float64)[kept_rows],
            **{name: values[kept] for name, values in per_view.items()},
        }
    )
    # One float32 block for the measures (the last columns of FEATURES, in order): pandas
    # need not consolidate 157 columns.
    table = pd.concat([table, pd.DataFrame(kept_measures, columns=MEASURE_COLUMNS, copy=False)], axis=1)
    return table, sorted_errors(keypoints, order, view_start, errors)


def gather_columns(columns: dict[str, np.ndarray], names: list[str], rows: np.ndarray) -> np.ndarray:
    """float64 array of shape ``(row, name)``: ``rows`` of the ``names`` of ``columns``."""
    return np.stack([columns[name][rows] for name in names], axis=-1, dtype=np.float64)


def sorted_errors(
    keypoints: pd.DataFrame, order: np.ndarray, view_start: np.ndarray, errors: dict[int, SampleError]
) -> list[tuple[tuple, SampleError]]:
    """``errors`` (view index -> error) as ((set_id, sample_id, view), error), in view order."""
    first_rows = order[view_start]
    keys = keypoints[GROUP_KEYS].to_numpy()[first_rows]
    return [(tuple(keys[view]), errors[view]) for view in sorted(errors)]


def features_for_view(keypoints: pd.DataFrame, params: NormalizeParams) -> pd.DataFrame:
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
        The ``FEATURES`` columns of ``features_by_view``, one row per input frame in frame
        order.

    Raises
    ------
    SampleError
        ``unknown_units``, ``duplicate_frames``, ``no_reference_frame`` or
        ``degenerate_torso``.
    """
    features, errors = features_by_view(keypoints, params)
    if errors:
        raise errors[0][1]
    return features


def empty_features() -> pd.DataFrame:
    """A feature table with no rows and the ``FEATURES`` columns and dtypes."""
    return FEATURES.empty_table().to_pandas()


def features_for_samples(keypoints: pd.DataFrame, params: NormalizeParams) -> tuple[pd.DataFrame, list[Rejection]]:
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
    features, errors = features_by_view(keypoints, params)
    rejections = [
        Rejection(set_id, sample_id, STAGE, error.reason, f"{view} view: {error.detail}", error.value)
        for (set_id, sample_id, view), error in errors
    ]
    rejected = {(r.set_id, r.sample_id) for r in rejections}
    if not rejected:
        return features, rejections
    samples = pd.MultiIndex.from_frame(features[["set_id", "sample_id"]])
    features = features[~samples.isin(list(rejected))].reset_index(drop=True)
    return (features if len(features) else empty_features()), rejections
