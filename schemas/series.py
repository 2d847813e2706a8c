"""The in-memory shape of one view of one sample: keypoints over frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from formset.schemas.skeleton import JOINTS, SOURCES


@dataclass
class KeypointSeries:
    """Canonical keypoints of one sample seen from one view.

    Attributes
    ----------
    points
        float32, shape ``(frame, joint, space)`` with ``joint`` over ``JOINTS`` and
        ``space`` = (x, y, z). Pixels for 2-D views (``z`` NaN, ``y`` pointing down), metres
        for the kinect view (``y`` up). Missing is NaN, never 0.
    confidence
        float32, shape ``(frame, joint)``, 0-1; NaN where the joint is missing.
    frame
        int, shape ``(frame,)``: the source's frame index (gaps allowed, increasing).
    time_s
        float, shape ``(frame,)``: seconds from the start of the recording.
    view
        ``front``, ``diagonal`` or ``kinect``.
    source
        A key of ``SOURCES``.
    units
        ``px`` or ``m``.
    image_size
        ``(width, height)`` in pixels when known (videos), else None.
    read_notes
        What the reader corrected in the source, by kind, as counts (e.g.
        ``confidence_clipped``: OpenPose scores above 1 set to 1); recorded in the keypoints
        partition's provenance.
    """

    points: np.ndarray
    confidence: np.ndarray
    frame: np.ndarray
    time_s: np.ndarray
    view: str
    source: str
    units: str
    image_size: tuple[int, int] | None = None
    read_notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.frame)
        if self.points.shape != (n, len(JOINTS), 3):
            raise ValueError(f"points has shape {self.points.shape}, expected ({n}, {len(JOINTS)}, 3)")
        if self.confidence.shape != (n, len(JOINTS)):
            raise ValueError(f"confidence has shape {self.confidence.shape}, expected ({n}, {len(JOINTS)})")
        if self.time_s.shape != (n,):
            raise ValueError("time_s must have one value per frame")
        if n > 1 and np.any(np.diff(self.frame) <= 0):
            raise ValueError("frame indices must be strictly increasing")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")

    @property
    def n_frames(self) -> int:
        return len(self.frame)

    @property
    def derived_joints(self) -> tuple[str, ...]:
        return SOURCES[self.source].derived
