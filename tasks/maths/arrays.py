"""Keypoint table columns as numpy arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from formset.schemas.skeleton import AXES, JOINTS
from formset.schemas.tables import joint_columns


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
    points = float_columns(keypoints, joint_columns(suffixes=AXES[:n_space]))
    confidence = float_columns(keypoints, joint_columns(suffixes=("conf",)))
    return points.reshape(len(keypoints), len(JOINTS), n_space), confidence


def float_columns(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """float64 array of shape ``(row, column)`` of some columns of ``table``, missing as NaN.

    Column by column: ``DataFrame.to_numpy`` over the many one-column blocks of a table
    read from Arrow is several times slower.
    """
    return np.stack([table[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in columns], axis=-1)
