"""The keypoints stage: every sample's sources read into one canonical keypoints table.

Per sample and view, one source is read: ``kinect_csv`` for the kinect view; for ``front``
and ``diagonal`` the OpenPose folder when there is one (keypoints already computed), else
the video through the pose backend. Any bad source rejects the whole sample; the rest of
the batch proceeds.

``keypoints_for_samples`` reads a batch one view after the other. For parallel runs the
same steps are exposed one view at a time: ``source_columns`` names what to read,
``read_view_outcome`` reads one view (a video is the unit worth a task of its own), and
``assemble_samples`` turns the per-view outcomes into the table and the rejections with the
same rule: any failing view rejects the whole sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from formset.params import KeypointsParams
from formset.quarantine import Rejection, SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.tables import KEYPOINTS, joint_columns
from formset.schemas.vocab import SOURCE_COLUMNS, VIEWS
from formset.tasks.pose.backends import PoseBackend
from formset.tasks.readers.kinect import read_kinect_csv
from formset.tasks.readers.openpose import read_openpose_folder

STAGE = "keypoints"
#: samples.csv source columns per view, in reading priority: computed keypoints before video.
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "front": ("openpose_front", "front_video"),
    "diagonal": ("openpose_diagonal", "diagonal_video"),
    "side": ("openpose_side", "side_video"),
    "kinect": ("kinect_csv",),
}
SORT_KEYS: list[str] = ["set_id", "sample_id", "view", "frame"]
#: The ``SOURCE_COLUMNS`` kind of a video column.
VIDEO_KIND = "video"
#: Axes of ``KeypointSeries.points``.
JOINT_AXIS, SPACE_AXIS = 1, 2


def series_to_frame(series: KeypointSeries, set_id: str, sample_id: str) -> pd.DataFrame:
    """One view of one sample as rows of the ``KEYPOINTS`` table.

    Parameters
    ----------
    series
        The view's keypoints, ``points`` shape ``(frame, joint, 3)``.
    set_id, sample_id
        The sample's identity.

    Returns
    -------
    pandas.DataFrame
        One row per frame, exactly the ``KEYPOINTS`` columns in order; ``<joint>_x/_y/_z``
        in the series' units (px or m) and ``<joint>_conf``, float32; ``image_width`` /
        ``image_height`` nullable Int32 (NA when the size is unknown).
    """
    return series_table([(set_id, sample_id, series)])


def series_table(views: list[tuple[str, str, KeypointSeries]]) -> pd.DataFrame:
    """Views of samples as rows of the ``KEYPOINTS`` table, built at once (not view by view:
    a data frame per view costs more than its rows).

    Parameters
    ----------
    views
        ``(set_id, sample_id, series)`` of each view; ``points`` of shape ``(frame, joint, 3)``.

    Returns
    -------
    pandas.DataFrame
        The ``series_to_frame`` rows of every view, in the order of ``views``.
    """
    all_series = [series for _, _, series in views]
    n_frames = np.array([series.n_frames for series in all_series])
    n_rows = int(n_frames.sum())
    per_joint = np.concatenate(
        [np.concatenate([s.points, s.confidence[..., np.newaxis]], axis=SPACE_AXIS) for s in all_series]
    )  # (frame, joint, x/y/z/conf), the joint-major order of joint_columns()
    joints = pd.DataFrame(per_joint.reshape(n_rows, -1).astype(np.float32), columns=joint_columns())
    sizes = [series.image_size or (None, None) for series in all_series]

    def per_view(values: list) -> np.ndarray:
        return np.repeat(np.array(values, dtype=object), n_frames)

    identity = pd.DataFrame(
        {
            "set_id": per_view([set_id for set_id, _, _ in views]),
            "sample_id": per_view([sample_id for _, sample_id, _ in views]),
            "view": per_view([series.view for series in all_series]),
            "source": per_view([series.source for series in all_series]),
            "units": per_view([series.units for series in all_series]),
            "derived_joints": per_view([",".join(series.derived_joints) for series in all_series]),
            "frame": np.concatenate([series.frame for series in all_series]).astype(np.int32),
            "time_s": np.concatenate([series.time_s for series in all_series]).astype(np.float64),
            "image_width": pd.array(per_view([width for width, _ in sizes]), dtype="Int32"),
            "image_height": pd.array(per_view([height for _, height in sizes]), dtype="Int32"),
        }
    )
    return pd.concat([identity, joints], axis=1)[KEYPOINTS.names]


def extract_sample(
    sample: Mapping, set_dir: Path, params: KeypointsParams, backend: PoseBackend | None
) -> list[KeypointSeries]:
    """Read every view of one sample.

    Parameters
    ----------
    sample
        One row of the catalog ``SAMPLES`` table: the source columns (paths relative to
        ``set_dir``, None / NaN when absent), ``fps`` and ``kinect_units``.
    set_dir
        The set's directory.
    params
        The ``keypoints`` group of params.yaml (``openpose_min_confidence``, ``min_frames``).
    backend
        The pose backend for videos, None when videos cannot be processed.

    Returns
    -------
    list of KeypointSeries
        One per view that has a source, in ``VIEWS`` order.

    Raises
    ------
    SampleError
        Any source's reader error; ``no_pose_backend`` for a view with only a video and no
        backend; ``too_few_frames`` for a view where the performer is found in fewer than
        ``min_frames`` frames; ``no_source`` when the sample names no source at all.
    """
    views = [read_view(sample, column, set_dir, params, backend) for column in source_columns(sample).values()]
    if not views:
        raise _no_source_error()
    return views


def source_columns(sample: Mapping) -> dict[str, str]:
    """The source column read for each view the sample has, in ``VIEWS`` order.

    Parameters
    ----------
    sample
        One row of the catalog ``SAMPLES`` table.

    Returns
    -------
    dict
        view -> samples.csv column (``VIEW_COLUMNS`` priority: computed keypoints before
        video); views without any source are absent.
    """
    columns = {view: next((c for c in VIEW_COLUMNS[view] if _given(sample.get(c))), None) for view in VIEWS}
    return {view: column for view, column in columns.items() if column is not None}


def is_video_column(column: str) -> bool:
    """Whether a samples.csv source column names a video (read through a pose backend)."""
    return SOURCE_COLUMNS[column][1] == VIDEO_KIND


def read_view(
    sample: Mapping, column: str, set_dir: Path, params: KeypointsParams, backend: PoseBackend | None
) -> KeypointSeries:
    """Read one view of one sample from the source in ``sample[column]``.

    Parameters
    ----------
    sample
        One row of the catalog ``SAMPLES`` table.
    column
        The source column to read (a value of ``source_columns(sample)``).
    set_dir
        The set's directory.
    params
        The ``keypoints`` group of params.yaml.
    backend
        The pose backend for videos, None when videos cannot be processed.

    Returns
    -------
    KeypointSeries
        The view's keypoints, ``points`` shape ``(frame, joint, 3)``.

    Raises
    ------
    SampleError
        The reader's error, ``no_pose_backend`` or ``too_few_frames`` (see ``extract_sample``).
    """
    series = _read_source(column, sample, Path(set_dir), params, backend)
    _check_found_frames(series, sample[column], params.min_frames)
    return series


def read_view_outcome(
    sample: Mapping, column: str, set_dir: Path, params: KeypointsParams, backend: PoseBackend | None
) -> KeypointSeries | Rejection:
    """``read_view``, with a bad source returned as the sample's ``Rejection``.

    A ``Rejection`` is a plain dataclass, so the outcome can cross a process boundary
    (``SampleError`` cannot be unpickled with its reason).
    """
    try:
        return read_view(sample, column, set_dir, params, backend)
    except SampleError as error:
        return error.rejection(sample["set_id"], sample["sample_id"], STAGE)


def assemble_samples(
    samples: pd.DataFrame, outcomes: Mapping[str, Mapping[str, KeypointSeries | Rejection]]
) -> tuple[pd.DataFrame, list[Rejection]]:
    """The keypoints table and rejections of a batch from its per-view outcomes.

    Parameters
    ----------
    samples
        Catalog ``SAMPLES`` rows (``set_id``, ``sample_id``).
    outcomes
        sample_id -> view -> what ``read_view_outcome`` gave for every view of
        ``source_columns(sample)``; a sample with no views is rejected as ``no_source``.

    Returns
    -------
    tuple
        ``(keypoints, rejections)`` as ``keypoints_for_samples`` returns them: a sample with
        any rejected view is rejected as a whole, with the rejection of its first failing view
        in ``VIEWS`` order.
    """
    accepted, rejections = [], []
    for set_id, sample_id in zip(samples["set_id"], samples["sample_id"]):
        views = outcomes.get(sample_id, {})
        ordered = [views[view] for view in VIEWS if view in views]
        rejected = [outcome for outcome in ordered if isinstance(outcome, Rejection)]
        if not ordered:
            rejected = [_no_source_error().rejection(set_id, sample_id, STAGE)]
        if rejected:
            rejections.append(rejected[0])
            continue
        accepted.extend((set_id, sample_id, series) for series in ordered)
    return _keypoints_table(accepted), rejections


def keypoints_for_samples(
    samples: pd.DataFrame, sets_dir: Path, params: KeypointsParams, backend: PoseBackend | None = None
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Run ``extract_sample`` over catalog rows; bad samples become rejections.

    Parameters
    ----------
    samples
        Catalog ``SAMPLES`` rows (``set_id``, ``sample_id`` and the columns
        ``extract_sample`` reads); each sample's files live under ``sets_dir / set_id``.
    sets_dir
        The directory of all sets.
    params
        The ``keypoints`` group of params.yaml.
    backend
        The pose backend for videos, None when videos cannot be processed.

    Returns
    -------
    tuple
        ``(keypoints, rejections)``: the ``KEYPOINTS`` rows of every accepted sample, sorted
        by set_id, sample_id, view, frame; and one ``Rejection`` (stage ``keypoints``) per
        rejected sample.
    """
    accepted, rejections = [], []
    for sample in samples.to_dict("records"):
        set_id, sample_id = sample["set_id"], sample["sample_id"]
        try:
            views = extract_sample(sample, Path(sets_dir) / set_id, params, backend)
        except SampleError as error:
            rejections.append(error.rejection(set_id, sample_id, STAGE))
            continue
        accepted.extend((set_id, sample_id, series) for series in views)
    return _keypoints_table(accepted), rejections


def _keypoints_table(views: list[tuple[str, str, KeypointSeries]]) -> pd.DataFrame:
    """``series_table`` of ``views`` sorted by ``SORT_KEYS`` (empty: no rows)."""
    if not views:
        return KEYPOINTS.empty_table().to_pandas()
    return series_table(views).sort_values(SORT_KEYS, ignore_index=True)


def _no_source_error() -> SampleError:
    return SampleError(
        "no_source", f"The sample names no source: give one of {', '.join(SOURCE_COLUMNS)} in samples.csv."
    )


def _given(value: object) -> bool:
    """Whether a catalog path cell names a file (absent cells are None or NaN)."""
    return isinstance(value, str) and value.strip() != ""


def _read_source(
    column: str, sample: Mapping, set_dir: Path, params: KeypointsParams, backend: PoseBackend | None
) -> KeypointSeries:
    """Read the source named in ``sample[column]`` with the reader of its kind."""
    view, kind = SOURCE_COLUMNS[column]
    relative = sample[column]
    path = set_dir / relative
    fps = float(sample["fps"])
    if kind == "kinect_csv":
        return read_kinect_csv(path, units=sample["kinect_units"], fps=fps)
    if kind == "openpose":
        return read_openpose_folder(path, view, fps=fps, min_confidence=params.openpose_min_confidence)
    if backend is None:
        raise SampleError(
            "no_pose_backend",
            f"The {view} view has only a video ({relative}) and no pose backend is configured "
            "(keypoints.pose_backend is none in params.yaml): set it to mediapipe or mmpose, "
            f"or deliver OpenPose keypoints for the {view} view.",
            relative,
        )
    return backend.extract(path, view)


def _check_found_frames(series: KeypointSeries, relative: str, min_frames: int) -> None:
    """Reject a view whose performer is found in fewer than ``min_frames`` frames."""
    found = np.isfinite(series.points).any(axis=(JOINT_AXIS, SPACE_AXIS)).sum()
    if found < min_frames:
        raise SampleError(
            "too_few_frames",
            f"The {series.view} view ({relative}) has the performer in {found} frame(s) of "
            f"{series.n_frames}; at least {min_frames} are needed.",
            found,
        )
