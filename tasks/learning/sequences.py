"""Model inputs: one padded sequence per labeled sample x view (Park 2020).

Per frame the normalized x, y of ``params.joints`` (default the ten ``CORE_JOINTS``,
Park 2020's input), the joint angles of ``params.angles``, the per-frame deltas of the
positions, and a one-hot of the view, so one model learns from every view. People are never
split: ``split_by_subject`` holds out whole subjects.

``params`` is the ``train`` group of ``params.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from formset.params import TrainParams
from formset.quarantine import StageSkipped
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.vocab import LABELS

SAMPLE_KEY: list[str] = ["set_id", "sample_id"]
SEQUENCE_KEY: list[str] = [*SAMPLE_KEY, "view"]

#: Class indices of the logits; ``INCORRECT`` is the positive class of the metrics.
CORRECT, INCORRECT = 0, 1
CLASS_LABELS: tuple[str, ...] = ("correct", "incorrect")
N_CLASSES = len(CLASS_LABELS)
#: ``y`` of a sequence whose sample has no correct / incorrect label (``labeled_only=False``).
UNLABELED = -1

def input_columns(params: TrainParams) -> tuple[list[str], list[str], list[str]]:
    """The ``FEATURES`` columns a model reads: ``(positions, deltas, angles)``.

    ``params.joints`` (``CORE_JOINTS`` when empty, Park 2020's input) picks the joints whose
    normalized coordinates along ``params.axes`` (x, y when empty: Park 2020's planar input)
    and their deltas are used; ``params.angles`` adds joint angles.
    Park 2020's ten joints leave out the head and wrists, so neck faults and hand placement
    are invisible to it; params.yaml adds them, and z, which 3-D views (Kinect) have and
    2-D views lack (0 there).
    """
    joints = params.joints or CORE_JOINTS
    axes = params.axes or ("x", "y")
    positions = [f"{joint}_{axis}" for joint in joints for axis in axes]
    return positions, [f"d_{c}" for c in positions], list(params.angles)


@dataclass(frozen=True)
class Sequences:
    """Model inputs, one row per labeled sample x view.

    Attributes
    ----------
    X
        float32, shape ``(sequence, time, feature)``: frames in order, zero after ``lengths``.
    lengths
        int64, shape ``(sequence,)``: valid frames per sequence, 1 .. time.
    y
        int64, shape ``(sequence,)``: 1 = incorrect, 0 = correct.
    subject, set_id, sample_id, view, exercise
        object arrays of shape ``(sequence,)``.
    duration_s
        float64, shape ``(sequence,)``: seconds from the first to the last frame.
    feature_names
        Names of the ``feature`` axis.
    time_s
        float64, shape ``(sequence, time)``: the recording's time of each step, seconds
        (0 after ``lengths``); the views of a sample share this clock.
    """

    X: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    set_id: np.ndarray
    sample_id: np.ndarray
    view: np.ndarray
    exercise: np.ndarray
    duration_s: np.ndarray
    feature_names: tuple[str, ...]
    time_s: np.ndarray


def feature_names(params: TrainParams) -> tuple[str, ...]:
    """Names of the per-frame features: positions, angles, deltas, then one ``view_<name>``
    per view."""
    positions, deltas, angles = input_columns(params)
    return (*positions, *angles, *deltas, *(f"view_{view}" for view in params.views))


def frame_positions(n_frames: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Which source frame fills each time step, for sequences of ``n_frames`` frames.

    A sequence of at most ``max_frames`` frames is kept whole; a longer one is subsampled to
    ``max_frames`` evenly spaced frames (first and last kept), so the whole execution stays in
    view and the deltas keep their per-source-frame meaning.

    Parameters
    ----------
    n_frames
        int, shape ``(sequence,)``, at least 1.
    max_frames
        Time steps of the output, at least 2.

    Returns
    -------
    tuple of numpy.ndarray
        ``(positions, lengths)``: int, shape ``(sequence, max_frames)``, the frame index within
        the sequence (0 past the length), and int64, shape ``(sequence,)``.
    """
    lengths = np.minimum(n_frames, max_frames).astype(np.int64)
    step = np.where(n_frames > max_frames, (n_frames - 1) / (max_frames - 1), 1.0)
    positions = np.rint(np.arange(max_frames)[np.newaxis, :] * step[:, np.newaxis]).astype(np.intp)
    valid = np.arange(max_frames)[np.newaxis, :] < lengths[:, np.newaxis]
    return np.where(valid, positions, 0), lengths


def build_sequences(features: pd.DataFrame, samples: pd.DataFrame, params: TrainParams, labeled_only: bool = True) -> Sequences:
    """Turn the frames of labeled samples (or of every sample) into padded per-view sequences.

    A missing position is carried forward from the last frame that had it (backward at the
    start); a joint missing in the whole sequence is 0 (the mid-hip). A missing delta is 0
    (no movement).

    Parameters
    ----------
    features
        ``FEATURES`` rows (one per sample x view x frame); the key columns, ``time_s``, the
        joints' ``x``, ``y``, their ``d_`` deltas and the angles are read.
    samples
        The ``SAMPLES`` catalog (``subject_id``, ``exercise``, ``label``); with
        ``labeled_only``, samples whose label is not ``correct`` / ``incorrect`` are left out.
    params
        The ``train`` group: ``views`` (also the one-hot order), ``max_frames``.
    labeled_only
        False keeps every sample of ``samples`` (exercise recognition, inference): ``y`` is
        ``UNLABELED`` for a sample without a correct / incorrect label.
    """
    views = list(params.views)
    position_columns, delta_columns, angle_columns = input_columns(params)
    needed = [*SEQUENCE_KEY, "frame", "time_s", *position_columns, *delta_columns, *angle_columns]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise ValueError(f"the features table lacks the columns {missing}")
    kept = samples["label"].isin(LABELS) if labeled_only else np.ones(len(samples), dtype=bool)
    labeled = samples.loc[kept, [*SAMPLE_KEY, "subject_id", "exercise", "label"]]
    rows = (
        features.loc[features["view"].isin(views), needed]
        .merge(labeled, on=SAMPLE_KEY, how="inner", validate="many_to_one")
        .sort_values([*SEQUENCE_KEY, "frame"], ignore_index=True)
    )
    if rows.empty:
        which = "labeled samples (label correct or incorrect)" if labeled_only else "samples"
        raise StageSkipped(
            f"no {which} with features in the views {', '.join(views)}: "
            "nothing to train on; label some samples or add a labeled set"
        )
    sequence_of_row = rows.groupby(SEQUENCE_KEY, sort=False).ngroup().to_numpy()
    # Positions and angles are states: carry them over gaps. Deltas are changes: 0 when unknown.
    positions = rows[position_columns + angle_columns].groupby(sequence_of_row).ffill()
    positions = positions.groupby(sequence_of_row).bfill()
    view_one_hot = np.eye(len(views), dtype=np.float32)[pd.Categorical(rows["view"], categories=views).codes]
    frame_features = np.hstack(
        [
            positions.fillna(0.0).to_numpy(np.float32),
            rows[delta_columns].fillna(0.0).to_numpy(np.float32),
            view_one_hot,
        ]
    )
    starts = np.flatnonzero(np.diff(sequence_of_row, prepend=-1))
    n_frames = np.diff(np.append(starts, len(rows)))
    time_steps = max(2, min(params.max_frames, int(n_frames.max())))
    steps, lengths = frame_positions(n_frames, time_steps)
    valid = np.arange(time_steps)[np.newaxis, :] < lengths[:, np.newaxis]
    X = frame_features[starts[:, np.newaxis] + steps]  # (sequence, time, feature)
    X[~valid] = 0.0
    first = rows.iloc[starts]
    last = rows.iloc[starts + n_frames - 1]
    return Sequences(
        X=X,
        lengths=lengths,
        y=np.select([first["label"] == "incorrect", first["label"] == "correct"], [INCORRECT, CORRECT], UNLABELED).astype(np.int64),
        subject=first["subject_id"].to_numpy(object),
        set_id=first["set_id"].to_numpy(object),
        sample_id=first["sample_id"].to_numpy(object),
        view=first["view"].to_numpy(object),
        exercise=first["exercise"].to_numpy(object),
        duration_s=last["time_s"].to_numpy(np.float64) - first["time_s"].to_numpy(np.float64),
        feature_names=feature_names(params),
        time_s=np.where(valid, rows["time_s"].to_numpy(np.float64)[starts[:, np.newaxis] + steps], 0.0),
    )


#: The ``view`` of a fused sequence (``fuse_views``).
FUSED_VIEW = "fused"


def _interpolation(times: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each ``grid`` time falls among increasing ``times``: ``(below, above, weight of
    above, inside)``, ``inside`` False outside ``[times[0], times[-1]]``."""
    above = np.clip(np.searchsorted(times, grid), 1, max(len(times) - 1, 1)) if len(times) > 1 else np.zeros(len(grid), np.intp)
    below = np.maximum(above - 1, 0)
    gap = times[above] - times[below]
    weight = np.where(gap > 0, (grid - times[below]) / np.where(gap > 0, gap, 1.0), 0.0)
    inside = (grid >= times[0] - 1e-9) & (grid <= times[-1] + 1e-9)
    return below, above, np.clip(weight, 0.0, 1.0), inside


def fuse_views(seqs: Sequences, rows: np.ndarray) -> tuple[Sequences, np.ndarray]:
    """One sequence per sample holding all of its views, aligned on the recordings' times.

    A sample's time grid spans from the earliest first frame to the latest last frame of its
    views, with as many steps as its longest view has; each view's channels are linearly
    interpolated at the grid's times, 0 where the view does not cover a time or the sample
    lacks the view, and a ``view_<name>`` channel says where each view is present (1) or not.

    Parameters
    ----------
    seqs
        Per-view sequences (``build_sequences``); their ``view_<name>`` channels name the views.
    rows
        int, shape ``(n,)``: the sequences to fuse.

    Returns
    -------
    tuple
        ``(fused, sample_of_row)``: the fused ``Sequences`` (``view`` ``FUSED_VIEW``,
        features ``<channel>@<view>`` view-major, then ``view_<name>``; one per sample, in
        first-appearance order) and int, shape ``(n,)``: the fused sequence of each row.
    """
    rows = np.asarray(rows)
    views = [name.removeprefix("view_") for name in seqs.feature_names if name.startswith("view_")]
    channels = [i for i, name in enumerate(seqs.feature_names) if not name.startswith("view_")]
    keys = pd.MultiIndex.from_arrays([seqs.set_id[rows], seqs.sample_id[rows]])
    sample_of_row, _ = pd.factorize(keys)
    n_samples = int(sample_of_row.max()) + 1 if len(rows) else 0
    steps = np.zeros(n_samples, dtype=np.int64)
    np.maximum.at(steps, sample_of_row, seqs.lengths[rows])
    first = np.full(n_samples, np.inf)
    last = np.full(n_samples, -np.inf)
    np.minimum.at(first, sample_of_row, seqs.time_s[rows, 0])
    np.maximum.at(last, sample_of_row, seqs.time_s[rows, seqs.lengths[rows] - 1])
    width = len(channels)
    X = np.zeros((n_samples, int(steps.max(initial=2)), width * len(views) + len(views)), dtype=np.float32)
    grid_of = [np.linspace(first[s], last[s], steps[s]) for s in range(n_samples)]
    for row, sample in zip(rows, sample_of_row):
        view = views.index(seqs.view[row])
        n = int(seqs.lengths[row])
        below, above, weight, inside = _interpolation(seqs.time_s[row, :n], grid_of[sample])
        source = seqs.X[row, :n][:, channels].astype(np.float64)
        values = (1 - weight)[:, np.newaxis] * source[below] + weight[:, np.newaxis] * source[above]
        X[sample, : steps[sample], view * width : (view + 1) * width] = np.where(inside[:, np.newaxis], values, 0.0)
        X[sample, : steps[sample], width * len(views) + view] = inside
    head = np.zeros(n_samples, dtype=np.intp)
    head[sample_of_row[::-1]] = rows[::-1]  # each sample's first row
    time_s = np.zeros(X.shape[:2])
    for sample, grid in enumerate(grid_of):
        time_s[sample, : len(grid)] = grid
    names = (*(f"{seqs.feature_names[i]}@{view}" for view in views for i in channels), *(f"view_{view}" for view in views))
    fused = Sequences(
        X=X, lengths=steps, y=seqs.y[head], subject=seqs.subject[head], set_id=seqs.set_id[head],
        sample_id=seqs.sample_id[head], view=np.full(n_samples, FUSED_VIEW, dtype=object), exercise=seqs.exercise[head],
        duration_s=last - first, feature_names=names, time_s=time_s,
    )  # fmt: skip
    return fused, sample_of_row.astype(np.intp)


def split_by_subject(
    subjects: np.ndarray, test_fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole subjects: no person is in both parts.

    Subjects are stratified by their majority label (with ``labels``) and about
    ``test_fraction`` of each stratum is drawn, at least one and never all of a stratum of
    two or more, so both classes reach the test set whenever each has two subjects.

    Parameters
    ----------
    subjects
        shape ``(row,)``: the person of each row.
    test_fraction
        Share of subjects to hold out, 0-1.
    seed
        Seed of the draw; the same inputs and seed give the same split.
    labels
        int, shape ``(row,)``: 1 = incorrect; None to draw without strata.

    Returns
    -------
    tuple of numpy.ndarray
        ``(train_mask, test_mask)``, bool, shape ``(row,)``, complementary.

    Raises
    ------
    ValueError
        Fewer than two subjects: nobody could be held out.
    """
    people, person_of_row = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)
    if len(people) < 2:
        raise ValueError(f"a subject-level split needs at least two subjects, found {len(people)}")
    if labels is None:
        stratum = np.zeros(len(people), dtype=np.int64)
    else:
        incorrect_share = np.bincount(person_of_row, weights=labels) / np.bincount(person_of_row)
        stratum = (incorrect_share >= 0.5).astype(np.int64)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(people), dtype=bool)
    for members in (np.flatnonzero(stratum == s) for s in np.unique(stratum)):
        # At least one person of a stratum is held out, never its only or last one.
        n_test = min(max(int(np.rint(test_fraction * len(members))), 1), len(members) - 1)
        held_out[rng.permutation(members)[:n_test]] = True
    if not held_out.any():
        # One subject per stratum: hold out one person so there is a test set at all.
        held_out[rng.integers(len(people))] = True
    test_mask = held_out[person_of_row]
    return ~test_mask, test_mask

