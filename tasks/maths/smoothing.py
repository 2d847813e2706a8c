"""Smoothing of per-frame series that may have gaps and hold several views one after another.

Used by normalize (every keypoint series) and reps (the rep signal).
"""

from __future__ import annotations

import numpy as np

#: Named axis of a ``(frame, series)`` array.
FRAME_AXIS = 0
#: The Gaussian kernel is cut at this many sigmas (as scipy.ndimage's default).
TRUNCATE_SIGMAS: float = 4.0


def single_view(n_rows: int) -> np.ndarray:
    """``view_start`` of rows that are all one view: shape ``(1,)``, the view starts at row 0."""
    return np.zeros(1 if n_rows else 0, dtype=np.int64)


def view_of_rows(view_start: np.ndarray, n_rows: int) -> np.ndarray:
    """The view each row belongs to.

    Parameters
    ----------
    view_start
        int, shape ``(view,)``: the first row of each view; rows are grouped by view, views
        in order, so the rows of view ``v`` are ``view_start[v]`` up to ``view_start[v + 1]``.
    n_rows
        Number of rows.

    Returns
    -------
    numpy.ndarray
        int, shape ``(row,)``: index into ``view_start``.
    """
    return np.repeat(np.arange(len(view_start)), np.diff(view_start, append=n_rows))


def gaussian_smooth(
    values: np.ndarray, sigma: float, frame: np.ndarray | None = None, view_start: np.ndarray | None = None
) -> np.ndarray:
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
        int, shape ``(frame,)``: source frame indices, strictly increasing within a view.
        Weights use the distance in frame index, so skipped frame numbers are not mistaken
        for neighbours. Default: consecutive rows.
    view_start
        int, shape ``(view,)``: the first row of each view when the rows hold several
        (``view_of_rows``); views do not mix. Default: one view.

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
    row_view = view_of_rows(single_view(n_rows) if view_start is None else view_start, n_rows)
    smoothed = np.full_like(series, np.nan)
    # Series that are never present (joints a source lacks) stay NaN without any work.
    present = np.flatnonzero((~np.isnan(series)).any(axis=FRAME_AXIS))
    smoothed[:, present] = normalized_convolution(series[:, present], sigma, frame, row_view)
    return smoothed.reshape(np.shape(values))


def normalized_convolution(series: np.ndarray, sigma: float, frame: np.ndarray, row_view: np.ndarray) -> np.ndarray:
    """``gaussian_smooth`` of float64 series of shape ``(frame, series)``; ``row_view``
    (``view_of_rows``) keeps views apart."""
    n_rows = len(series)
    valid = ~np.isnan(series)
    zeroed = np.where(valid, series, 0.0)
    weighted_sum = np.zeros_like(series)
    # Series without NaN share one sum of weights (per row): computed once, not per series.
    gappy = np.flatnonzero(~valid.all(axis=FRAME_AXIS))
    gappy_valid = valid[:, gappy]
    gappy_weight_sum = np.zeros_like(series[:, gappy])
    complete_weight_sum = np.zeros(n_rows)
    radius = int(np.ceil(TRUNCATE_SIGMAS * sigma))
    # Frame indices are strictly increasing, so every neighbour within `radius` frames is
    # within `radius` rows: loop over kernel taps (row offsets), vectorized over frames.
    for offset in range(-radius, radius + 1):
        # Clamped: a series shorter than the kernel has no neighbours at the far taps.
        rows = slice(min(n_rows, max(0, -offset)), max(0, min(n_rows, n_rows - offset)))
        neighbours = slice(rows.start + offset, rows.stop + offset)
        distance = frame[neighbours] - frame[rows]
        near = (np.abs(distance) <= radius) & (row_view[neighbours] == row_view[rows])
        weight = np.where(near, np.exp(-0.5 * (distance / sigma) ** 2), 0.0)
        weighted_sum[rows] += weight[:, np.newaxis] * zeroed[neighbours]
        gappy_weight_sum[rows] += weight[:, np.newaxis] * gappy_valid[neighbours]
        complete_weight_sum[rows] += weight
    weight_sum = np.repeat(complete_weight_sum[:, np.newaxis], series.shape[1], axis=1)
    weight_sum[:, gappy] = gappy_weight_sum
    # A valid value has weight >= 1 on itself, so the division is safe where it is kept.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, weighted_sum / weight_sum, np.nan)
