"""Repetitions, tempo and per-frame kinematics from normalized keypoints (docs/methods.md: Kim & Heo;
"Check squat forms with deep learning").

Kim & Heo count push-ups with a per-frame image classifier; formset counts reps of any
exercise from the keypoints it already has. Per sample x view:

1. **Rep signal**: the exercise's signal (``params.reps.exercises.<exercise>.signal``): the
   mean of the named columns that are present in a frame, e.g. the mid-hip height for squats
   (torso lengths) or the elbow angles for curls (degrees). ``direction`` says whether a rep
   moves the signal ``down`` (squat: the hips sink) or ``up`` (press: the wrists rise).
2. Gaps of at most ``max_gap_s`` are interpolated, then the signal is smoothed with a
   Gaussian of ``smoothing_s`` (on source frame indices, so dropped frames stay gaps).
3. **Excursion**: the rest level is the ``rest_percentile`` of the signal on the rest side,
   the far end the same percentile from the other side; their difference is the range of
   motion. The excursion ``e`` is 0 at rest and 1 at the far end. A range below the
   exercise's ``min_range`` means the performer did not move: no reps (``no_movement``).
4. **Bottoms**: peaks of ``e`` at least ``min_depth`` high and ``min_prominence`` above the
   excursion on both sides before a deeper peak (so noise and a wobble at the bottom do not
   count twice), at least ``min_rep_s`` apart.
5. **Boundaries**: between two bottoms, the frame of least excursion splits them. A rep
   starts where its descent starts: the last frame before its fastest descent (after the
   split) that moves slower than ``rest_speed_fraction`` of that speed; it ends at the first
   such frame after its fastest ascent. A standing or resting start and end, pauses between
   reps and a slow drift while standing (a real person shifting their weight) thus belong to
   no rep.
6. **Checks that refuse to invent reps** (the recording's ``status``): ``no_person`` (the
   signal is missing in most frames), ``too_short`` (shorter than ``min_rep_s``),
   ``wrong_exercise`` (exercise recognition, judged on people it never saw, names the
   sample as another exercise, surer of it than of the catalog's by at least
   ``recognition_min_margin``: ``named_otherwise``; or the trunk posture contradicts the exercise: an upright exercise
   done lying, or the reverse: the sample's median trunk inclination in ``posture_views``,
   where it is trustworthy, against ``UPRIGHT_MAX_DEG``; every view of the sample then says so),
   ``no_movement``, ``no_reps`` (movement but no rep-shaped dip),
   and ``no_keypoints`` (an earlier stage quarantined the sample).
8. **An exercise without an entry** in ``params.reps.exercises`` (one a lab just added to
   ``params.yaml: exercises``) gets its signal from the recording (``default_rep_spec``):
   the normalized joint coordinate (one axis of one joint, torso lengths from the mid-hip)
   with the largest range of motion, the range measured as in step 3. Coordinates only:
   they share one unit, so their ranges compare; an angle in degrees has no common scale
   with them. The rest side is where the recording starts and ends (people start and stop
   at rest): ``direction`` is ``down`` when the first and last frames lie on the signal's
   high side, ``up`` otherwise. The smallest rep range is ``reps.default_min_range``; the
   angle whose range is reported is the kinematics angle with the largest range; there is
   no posture check. The chosen column is the rep's ``signal``.
7. **Tempo** (Kim & Heo): per recording, the rep count, exercise time (sum of rep durations),
   mean and standard deviation of rep duration, and the feedback ``irregular`` (std above
   ``tempo.irregular_std_s``), ``too fast`` / ``too slow`` (mean below / above
   ``tempo.too_fast_s`` / ``tempo.too_slow_s``), else ``good tempo``.

The view whose answer stands for the sample (``primary_view``) is the first of
``view_preference`` whose status is ``ok`` (else the first the sample has).

All per-frame work is vectorized over frames; loops run over reps and sample-views only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from formset.params import ExerciseRepsParams, RepsParams, TempoParams
from formset.schemas.skeleton import AXES, JOINTS
from formset.schemas.tables import KINEMATIC_ANGLES, KINEMATICS, MOMENT_ARMS, RECORDINGS, REPS, joint_columns
from formset.tasks.maths.kinematics import compute_kinematics
from formset.tasks.maths.smoothing import gaussian_smooth

GROUP_KEYS: list[str] = ["set_id", "sample_id", "view"]

#: Recording statuses; only ``ok`` recordings have reps.
OK = "ok"
STATUSES: tuple[str, ...] = (
    OK, "no_keypoints", "no_person", "too_short", "wrong_exercise", "no_movement", "no_reps",
)  # fmt: skip

#: Trunk inclination (degrees from vertical) separating upright from lying postures.
UPRIGHT_MAX_DEG = 45.0


@dataclass(frozen=True)
class Rep:
    """One repetition, as rows of the sample-view's frames (see ``find_reps``)."""

    start: int
    bottom: int
    end: int


@dataclass(frozen=True)
class RepSearch:
    """What ``find_reps`` found in one signal.

    Attributes
    ----------
    status
        One of ``STATUSES``.
    detail
        A sentence for people: why there are no reps, or what was measured.
    reps
        The reps in time order (empty unless ``status`` is ``ok``).
    signal
        float64, shape ``(frame,)``: the gap-filled, smoothed signal (NaN where unknown).
    rest_level, far_level
        The signal at rest and at the far end of the movement (signal units; NaN if unknown).
    """

    status: str
    detail: str
    reps: tuple[Rep, ...]
    signal: np.ndarray
    rest_level: float = np.nan
    far_level: float = np.nan


def rep_signal(frames: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The mean of ``columns`` over those present in each frame.

    Parameters
    ----------
    frames
        One sample-view's rows, holding ``columns`` (feature positions or kinematics angles).
    columns
        Column names, e.g. ``["mid_hip_y"]`` or ``["angle_left_elbow", "angle_right_elbow"]``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(frame,)``; NaN where none of the columns has a value.
    """
    values = frames[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present.any(axis=1), np.where(present, values, 0.0).sum(axis=1) / present.sum(axis=1), np.nan)


def fill_short_gaps(values: np.ndarray, time_s: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Linearly interpolate NaN runs that last at most ``max_gap_s`` between known values.

    Parameters
    ----------
    values
        float, shape ``(frame,)``.
    time_s
        float, shape ``(frame,)``, increasing.
    max_gap_s
        Longest gap filled: the time between the known values on either side, seconds.

    Returns
    -------
    numpy.ndarray
        float64 copy of ``values``; NaN before the first / after the last known value and in
        longer gaps.
    """
    values = np.asarray(values, dtype=np.float64)
    known = np.isfinite(values)
    if known.sum() < 2:
        return values.copy()
    known_rows = np.flatnonzero(known)
    filled = np.interp(time_s, time_s[known_rows], values[known_rows])
    # For every row, the known rows just before and after it bound its gap.
    after = np.searchsorted(known_rows, np.arange(len(values)), side="left")
    before = after - 1
    inside = (before >= 0) & (after < len(known_rows))
    gap = np.full(len(values), np.inf)
    gap[inside] = time_s[known_rows[after[inside]]] - time_s[known_rows[before[inside]]]
    return np.where(known | (gap <= max_gap_s), filled, np.nan)


def excursion(signal: np.ndarray, direction: str, rest_percentile: float) -> tuple[np.ndarray, float, float]:
    """How far the signal is from rest, as a share of the movement's range.

    Parameters
    ----------
    signal
        float, shape ``(frame,)``, NaN where unknown.
    direction
        ``down``: a rep lowers the signal (rest is high); ``up``: a rep raises it.
    rest_percentile
        Percentile (0-100) of the signal taken as rest, counted from the rest side; the far
        end is the same percentile from the other side.

    Returns
    -------
    excursion : numpy.ndarray
        float64, shape ``(frame,)``: 0 at rest, 1 at the far end (may leave [0, 1] a little);
        NaN where the signal is NaN or the range is zero.
    rest_level, far_level : float
        In signal units.
    """
    low, high = np.nanpercentile(signal, [100 - rest_percentile, rest_percentile])
    rest_level, far_level = (high, low) if direction == "down" else (low, high)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (signal - rest_level) / (far_level - rest_level)
    return share, float(rest_level), float(far_level)


def rep_bounds(share: np.ndarray, time_s: np.ndarray, bottoms: np.ndarray, rest_speed_fraction: float) -> list[Rep]:
    """Start and end of each rep around its bottom (module docstring, step 5).

    Parameters
    ----------
    share
        float, shape ``(frame,)``: the excursion; NaN where unknown (counts as still).
    time_s
        float, shape ``(frame,)``, increasing.
    bottoms
        int, sorted rows of the reps' bottoms.
    rest_speed_fraction
        A rep starts at the last frame before its fastest descent that moves slower than this
        share of that speed, and ends at the first such frame after its fastest ascent.

    Returns
    -------
    list of Rep
    """
    speed = np.nan_to_num(np.gradient(share, time_s), nan=0.0)  # excursion per second, + going deeper
    filled = np.where(np.isnan(share), np.inf, share)
    splits = [int(a + np.argmin(filled[a : b + 1])) for a, b in zip(bottoms[:-1], bottoms[1:])]
    known = np.flatnonzero(np.isfinite(share))
    lower, upper = [int(known[0]), *splits], [*splits, int(known[-1])]
    reps = []
    for bottom, low, high in zip(bottoms.tolist(), lower, upper):
        fastest_down = low + int(np.argmax(speed[low : bottom + 1]))
        fastest_up = bottom + int(np.argmin(speed[bottom : high + 1]))
        slow_before = np.flatnonzero(speed[low:fastest_down] <= rest_speed_fraction * speed[fastest_down])
        slow_after = np.flatnonzero(-speed[fastest_up : high + 1] <= rest_speed_fraction * -speed[fastest_up])
        start = low + int(slow_before[-1]) if slow_before.size else low
        end = fastest_up + int(slow_after[0]) if slow_after.size else high
        reps.append(Rep(start, bottom, end))
    return reps


def find_reps(
    time_s: np.ndarray,
    frame: np.ndarray,
    raw_signal: np.ndarray,
    lean_deg: float,
    spec: ExerciseRepsParams,
    params: RepsParams,
) -> RepSearch:
    """Reps in one sample-view's rep signal (module docstring, steps 2-6).

    Parameters
    ----------
    time_s
        float, shape ``(frame,)``: seconds, increasing.
    frame
        int, shape ``(frame,)``: source frame indices, increasing (they may skip).
    raw_signal
        float, shape ``(frame,)``: ``rep_signal`` of the frames, NaN where unknown.
    lean_deg
        The performer's median trunk inclination, degrees from vertical (``sample_lean``);
        NaN skips the posture check.
    spec
        The exercise's entry of ``params.exercises``: ``signal``, ``direction``,
        ``min_range`` (signal units), ``upright`` (bool or None: no posture check).
    params
        The ``reps`` group of ``params.yaml``.

    Returns
    -------
    RepSearch
    """
    present = float(np.isfinite(raw_signal).mean()) if len(raw_signal) else 0.0
    duration = float(time_s[-1] - time_s[0]) if len(time_s) else 0.0
    empty = np.full(len(raw_signal), np.nan)
    if present < params.min_present_fraction:
        return RepSearch("no_person", f"the body parts that move in this exercise are visible in only "
                         f"{present:.0%} of the frames", (), empty)  # fmt: skip
    if duration < params.min_rep_s:
        return RepSearch("too_short", f"the recording lasts {duration:.2f} s, shorter than one rep "
                         f"({params.min_rep_s} s)", (), empty)  # fmt: skip
    upright = spec.upright
    if upright is not None and np.isfinite(lean_deg) and (lean_deg <= UPRIGHT_MAX_DEG) != upright:
        posture = "upright" if lean_deg <= UPRIGHT_MAX_DEG else "lying"
        return RepSearch("wrong_exercise", f"the trunk is {posture} ({lean_deg:.0f} deg from vertical, median) "
                         f"but this exercise is done {'upright' if upright else 'lying'}", (), empty)  # fmt: skip
    step_s = float(np.median(np.diff(time_s) / np.diff(frame)))
    signal = gaussian_smooth(fill_short_gaps(raw_signal, time_s, params.max_gap_s), params.smoothing_s / step_s, frame)
    share, rest_level, far_level = excursion(signal, spec.direction, params.rest_percentile)
    moved = abs(far_level - rest_level)
    if moved < spec.min_range:
        return RepSearch("no_movement", f"the {'/'.join(spec.signal)} moves by {moved:.3g}, less than a rep's "
                         f"{spec.min_range}", (), signal, rest_level, far_level)  # fmt: skip
    min_rows = max(1, int(round(params.min_rep_s / step_s / np.median(np.diff(frame)))))
    bottoms, _ = find_peaks(
        np.where(np.isnan(share), -np.inf, share),
        height=params.min_depth,
        prominence=params.min_prominence,
        distance=min_rows,
    )
    reps = [
        rep
        for rep in rep_bounds(share, time_s, bottoms, params.rest_speed_fraction)
        if time_s[rep.end] - time_s[rep.start] >= params.min_rep_s
    ]
    if not reps:
        return RepSearch("no_reps", "the signal moves, but never in a rep-shaped dip and back", (), signal,
                         rest_level, far_level)  # fmt: skip
    return RepSearch(OK, f"{len(reps)} reps", tuple(reps), signal, rest_level, far_level)


def tempo_feedback(durations_s: np.ndarray, tempo: TempoParams) -> str:
    """Kim & Heo's feedback on rep durations.

    Parameters
    ----------
    durations_s
        float, shape ``(rep,)``, seconds.
    tempo
        ``irregular_std_s``, ``too_fast_s``, ``too_slow_s`` (seconds).

    Returns
    -------
    str
        ``irregular``, ``too fast``, ``too slow`` joined by ``, ``, or ``good tempo``; empty
        without reps. Regularity needs at least two reps.
    """
    if not len(durations_s):
        return ""
    mean = float(np.mean(durations_s))
    notes = []
    if len(durations_s) > 1 and float(np.std(durations_s, ddof=1)) > tempo.irregular_std_s:
        notes.append("irregular")
    if mean < tempo.too_fast_s:
        notes.append("too fast")
    elif mean > tempo.too_slow_s:
        notes.append("too slow")
    return ", ".join(notes) or "good tempo"


def tempo_sentence(durations_s: np.ndarray, tempo: TempoParams) -> str:
    """``tempo_feedback`` as a sentence a coach reads: the count, the mean duration, the
    spread, and which rule is broken with what to do.

    Parameters
    ----------
    durations_s
        float, shape ``(rep,)``, seconds.
    tempo
        ``irregular_std_s``, ``too_fast_s``, ``too_slow_s`` (seconds).
    """
    if not len(durations_s):
        return "No reps, so no tempo to judge."
    mean = float(np.mean(durations_s))
    parts = [f"{len(durations_s)} rep{'s' if len(durations_s) > 1 else ''} of {mean:.2f} s" + (" on average" if len(durations_s) > 1 else "")]
    notes = []
    if len(durations_s) > 1:
        spread, std = float(np.ptp(durations_s)), float(np.std(durations_s, ddof=1))
        if std > tempo.irregular_std_s:
            parts.append(f"{spread:.2f} s apart (std {std:.2f} s, above {tempo.irregular_std_s} s)")
            notes.append("uneven")
        else:
            parts.append(f"{spread:.2f} s apart at most")
    if mean < tempo.too_fast_s:
        notes.append(f"faster than {tempo.too_fast_s} s per rep: slow down")
    elif mean > tempo.too_slow_s:
        notes.append(f"slower than {tempo.too_slow_s} s per rep: speed up")
    if not notes:
        return f"{', '.join(parts)}: a steady tempo within {tempo.too_fast_s}-{tempo.too_slow_s} s per rep."
    return f"{', '.join(parts)}: {'; '.join(notes)}."


#: Share of a recording's frames at each end taken as its rest position (step 8).
REST_EDGE_FRACTION = 0.1


def signal_range(values: np.ndarray, rest_percentile: float) -> float:
    """Range of motion of a signal as step 3 measures it: the ``rest_percentile`` minus the
    ``100 - rest_percentile`` percentile (signal units; NaN when no value is known)."""
    if not np.isfinite(values).any():
        return np.nan
    low, high = np.nanpercentile(values, [100 - rest_percentile, rest_percentile])
    return float(high - low)


def default_rep_spec(columns: pd.DataFrame, params: RepsParams) -> ExerciseRepsParams:
    """The rep signal of an exercise ``params.exercises`` does not list (module docstring,
    step 8), chosen from one sample-view's frames.

    Parameters
    ----------
    columns
        One sample-view's ``FEATURES`` and kinematics columns, in frame order.
    params
        The ``reps`` group: ``rest_percentile``, ``min_present_fraction``,
        ``default_min_range`` (torso lengths).

    Returns
    -------
    ExerciseRepsParams
        As an entry of ``reps.exercises``: ``signal`` (one ``<joint>_<axis>`` column,
        or none when no coordinate is present in enough frames), ``direction``,
        ``min_range``, ``angle`` (one kinematics angle column, or none) and ``upright``
        (None).
    """
    candidates = [c for c in joint_columns(suffixes=AXES) if c in columns and not c.startswith("mid_hip_")]
    values = columns[candidates].to_numpy(dtype=np.float64, na_value=np.nan)  # (frame, coordinate)
    present = np.isfinite(values).mean(axis=0) >= params.min_present_fraction
    ranges = np.array([signal_range(v, params.rest_percentile) if ok else np.nan for v, ok in zip(values.T, present)])
    signal_column, direction, angle = (), "down", ()
    if np.isfinite(ranges).any():
        best = int(np.nanargmax(ranges))
        signal = values[:, best]
        edge = max(1, int(round(REST_EDGE_FRACTION * len(signal))))
        rest = np.nanmedian(np.concatenate([signal[:edge], signal[-edge:]]))
        low, high = np.nanpercentile(signal, [100 - params.rest_percentile, params.rest_percentile])
        signal_column = (candidates[best],)
        direction = "down" if not np.isfinite(rest) or rest >= (low + high) / 2 else "up"
    angles = [a for a in KINEMATIC_ANGLES if a in columns]
    angle_ranges = [signal_range(columns[a].to_numpy(dtype=np.float64, na_value=np.nan), params.rest_percentile) for a in angles]
    if np.isfinite(angle_ranges).any():
        angle = (angles[int(np.nanargmax(angle_ranges))],)
    return ExerciseRepsParams(signal_column, direction, params.default_min_range, angle, upright=None)


def _view_points(frames: pd.DataFrame) -> np.ndarray:
    """Normalized positions ``(frame, joint, space)``; space 3 where the view has depth."""
    n_space = 3 if np.isfinite(frames[joint_columns(suffixes=("z",))].to_numpy(dtype=np.float64)).any() else 2
    positions = frames[joint_columns(suffixes=AXES[:n_space])].to_numpy(dtype=np.float64, na_value=np.nan)
    return positions.reshape(len(frames), len(JOINTS), n_space)


def sample_lean(features: pd.DataFrame, posture_views: list[str]) -> pd.Series:
    """Median trunk inclination per sample over the frames of ``posture_views``.

    A front camera sees a push-up's trunk end-on (it can look upright), so only views that
    see the trunk from the side or in 3-D decide the posture.

    Returns
    -------
    pandas.Series
        Degrees from vertical, indexed by ``(set_id, sample_id)``; samples without such
        views are absent.
    """
    rows = features[features["view"].isin(posture_views)]
    return rows.groupby(["set_id", "sample_id"])["trunk_inclination"].median().dropna()


def recognition_margin(recognized: pd.DataFrame) -> np.ndarray:
    """How much surer exercise recognition is of the exercise it names than of the catalog's:
    ``ln(p_exercise / p_claimed)``, the difference of the two classes' decision values
    (whatever the number of classes; 0 when it names the catalog's, NaN when the catalog's
    exercise is one the model never saw)."""
    claimed = recognized["p_claimed"].to_numpy(np.float64)
    with np.errstate(divide="ignore"):
        return np.where(claimed > 0, np.log(recognized["p_exercise"].to_numpy(np.float64) / np.where(claimed > 0, claimed, 1.0)), np.nan)


def named_otherwise(recognized: pd.DataFrame, min_margin: float) -> pd.DataFrame:
    """The samples exercise recognition names as another exercise than the catalog's.

    Parameters
    ----------
    recognized
        ``EXERCISE_PREDICTIONS`` rows: out-of-fold predictions of the ``exercise`` stage.
    min_margin
        The ``recognition_margin`` the named exercise must reach (a model that never saw
        the catalog's exercise names nothing).

    Returns
    -------
    pandas.DataFrame
        ``set_id``, ``sample_id``, ``exercise``, ``predicted_exercise``, ``p_exercise``,
        ``p_claimed`` of those samples, sorted by the key.
    """
    columns = ["set_id", "sample_id", "exercise", "predicted_exercise", "p_exercise", "p_claimed"]
    other = (recognized["predicted_exercise"] != recognized["exercise"]).to_numpy() & (recognition_margin(recognized) >= min_margin)
    return recognized.loc[other, columns].sort_values(["set_id", "sample_id"], ignore_index=True)


def recognition_verdict(row: pd.Series) -> str:
    """The ``wrong_exercise`` detail of a ``named_otherwise`` row."""
    return (f"exercise recognition, trained on other people, names this a {row['predicted_exercise']} "
            f"(probability {row['p_exercise']:.2f}, {row['p_claimed']:.2f} for a {row['exercise']})")  # fmt: skip


def reps_for_view(
    frames: pd.DataFrame, exercise: str, lean_deg: float, params: RepsParams, verdict: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Kinematics, reps and recording summary of one sample-view.

    Parameters
    ----------
    frames
        The ``FEATURES`` rows of one sample x view, in frame order.
    exercise
        The sample's exercise.
    lean_deg
        The sample's trunk inclination (``sample_lean``), NaN if unknown.
    params
        The ``reps`` group of ``params.yaml``.
    verdict
        Why the sample is of another exercise (``recognition_verdict``): its status is then
        ``wrong_exercise``; empty when recognition did not say so.

    Returns
    -------
    kinematics : pandas.DataFrame
        ``KINEMATICS`` columns, one row per frame (``rep`` null outside reps).
    reps : pandas.DataFrame
        ``REPS`` columns, one row per rep.
    recording : dict
        One ``RECORDINGS`` row (``primary_view`` False; ``labeled_rep_count`` None).
    """
    set_id, sample_id, view = (str(frames[key].iloc[0]) for key in GROUP_KEYS)
    time_s = frames["time_s"].to_numpy(dtype=np.float64)
    frame = frames["frame"].to_numpy(dtype=np.int64)
    spec = params.exercises.get(exercise)
    # Moment arms about the mid-foot only mean something standing on the feet ("Check squat forms with deep learning").
    standing = spec is not None and spec.upright is True
    kinematic = compute_kinematics(_view_points(frames), standing and view in params.moment_arm_views)
    columns = pd.concat([frames.reset_index(drop=True), pd.DataFrame(kinematic)[list(kinematic)]], axis=1)
    columns = columns.loc[:, ~columns.columns.duplicated(keep="last")]
    if spec is None:
        spec = default_rep_spec(columns, params)
    if verdict:
        search = RepSearch("wrong_exercise", verdict, (), np.full(len(frames), np.nan))
    elif spec.signal:
        search = find_reps(time_s, frame, rep_signal(columns, spec.signal), lean_deg, spec, params)
    else:
        search = RepSearch("no_person", "no joint coordinate is visible in enough frames to follow the movement",
                           (), np.full(len(frames), np.nan))  # fmt: skip
    rep_of_row = np.zeros(len(frames), dtype=np.int64)  # 0: in no rep
    rows = []
    angle = rep_signal(columns, spec.angle) if spec.angle else None
    for number, rep in enumerate(search.reps, start=1):
        rep_of_row[rep.start : rep.end + 1] = number
        inside = slice(rep.start, rep.end + 1)
        swing = angle[inside] if angle is not None else np.array([])
        rows.append(
            {
                "rep": number,
                "start_frame": frame[rep.start], "bottom_frame": frame[rep.bottom], "end_frame": frame[rep.end],
                "start_s": time_s[rep.start], "bottom_s": time_s[rep.bottom], "end_s": time_s[rep.end],
                "duration_s": time_s[rep.end] - time_s[rep.start],
                "descent_s": time_s[rep.bottom] - time_s[rep.start],
                "ascent_s": time_s[rep.end] - time_s[rep.bottom],
                "depth": abs(search.rest_level - search.signal[rep.bottom]),
                "range_of_motion_deg": np.nanmax(swing) - np.nanmin(swing) if np.isfinite(swing).any() else np.nan,
            }
        )  # fmt: skip
    reps = pd.DataFrame(rows, columns=[c for c in REPS.names if c not in (*GROUP_KEYS, "exercise", "signal")])
    reps = reps.assign(set_id=set_id, sample_id=sample_id, view=view, exercise=exercise,
                       signal="+".join(spec.signal))[REPS.names]  # fmt: skip
    kinematics = pd.DataFrame(
        {
            "set_id": set_id, "sample_id": sample_id, "view": view,
            "frame": frame.astype(np.int32), "time_s": time_s,
            "rep": pd.array(np.where(rep_of_row > 0, rep_of_row, None), dtype="Int16"),
            "rep_signal": search.signal.astype(np.float32),
            **{name: kinematic[name].astype(np.float32) for name in (*KINEMATIC_ANGLES, *MOMENT_ARMS)},
        },
        columns=KINEMATICS.names,
    )  # fmt: skip
    durations = reps["duration_s"].to_numpy()
    recording = {
        "set_id": set_id, "sample_id": sample_id, "view": view, "exercise": exercise, "primary_view": False,
        "status": search.status, "detail": search.detail, "rep_count": len(durations), "labeled_rep_count": None,
        "exercise_s": float(durations.sum()),
        "mean_rep_s": float(durations.mean()) if len(durations) else None,
        "std_rep_s": float(durations.std(ddof=1)) if len(durations) > 1 else None,
        "tempo_feedback": tempo_feedback(durations, params.tempo),
    }  # fmt: skip
    return kinematics, reps, recording


def _no_keypoints_row(sample: pd.Series, reasons: str) -> dict:
    return {
        "set_id": sample["set_id"], "sample_id": sample["sample_id"], "view": None, "exercise": sample["exercise"],
        "primary_view": True, "status": "no_keypoints",
        "detail": f"no keypoints reached this stage (quarantined: {reasons or 'unknown reason'}); see `formset quarantine`",
        "rep_count": 0, "labeled_rep_count": sample["rep_count"], "exercise_s": 0.0, "mean_rep_s": None,
        "std_rep_s": None, "tempo_feedback": "",
    }  # fmt: skip


def mark_primary_views(recordings: pd.DataFrame, preference: list[str]) -> pd.Series:
    """Whether each row is its sample's primary view: the first of ``preference`` that is
    ``ok``, else the first of ``preference`` the sample has (unknown views last)."""
    rank = recordings["view"].map({v: i for i, v in enumerate(preference)}).fillna(len(preference))
    order = recordings.assign(_not_ok=recordings["status"] != OK, _rank=rank).sort_values(["_not_ok", "_rank"], kind="stable")
    first = order.groupby(["set_id", "sample_id"], sort=False).head(1).index
    return pd.Series(recordings.index.isin(first), index=recordings.index)


def reps_for_samples(
    features: pd.DataFrame,
    samples: pd.DataFrame,
    quarantine: pd.DataFrame,
    params: RepsParams,
    recognized: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Kinematics, reps and recording summaries of every sample of a catalog.

    Parameters
    ----------
    features
        ``FEATURES`` rows of the samples (any number of samples and views).
    samples
        The ``SAMPLES`` catalog rows: ``exercise`` and ``rep_count`` per sample.
    quarantine
        ``QUARANTINE`` rows of earlier stages: why a catalog sample has no features.
    params
        The ``reps`` group of ``params.yaml``.
    recognized
        ``EXERCISE_PREDICTIONS`` rows of the samples (none: the exercise stage skipped, and
        only the trunk posture can say ``wrong_exercise``).

    Returns
    -------
    kinematics, reps, recordings : pandas.DataFrame
        ``KINEMATICS``, ``REPS`` and ``RECORDINGS`` columns. Every catalog sample has at
        least one ``RECORDINGS`` row: one per view with features, or one ``no_keypoints`` row.
    """
    exercise_of = samples.set_index(["set_id", "sample_id"])["exercise"]
    lean = sample_lean(features, params.posture_views)
    verdicts = {}
    if recognized is not None:
        others = named_otherwise(recognized, params.recognition_min_margin)
        verdicts = {(row["set_id"], row["sample_id"]): recognition_verdict(row) for _, row in others.iterrows()}
    parts = [
        reps_for_view(frames.sort_values("frame"), exercise_of[key[:2]], lean.get(key[:2], np.nan), params,
                      verdicts.get(key[:2], ""))  # fmt: skip
        for key, frames in features.groupby(GROUP_KEYS, sort=True)
        if key[:2] in exercise_of.index
    ]
    featured = {(p[2]["set_id"], p[2]["sample_id"]) for p in parts}
    reasons = quarantine.groupby(["set_id", "sample_id"])["reason"].agg(lambda r: ", ".join(sorted(set(r))))
    missing = [
        _no_keypoints_row(sample, reasons.get((sample["set_id"], sample["sample_id"]), ""))
        for _, sample in samples.iterrows()
        if (sample["set_id"], sample["sample_id"]) not in featured
    ]
    recordings = pd.DataFrame([p[2] for p in parts] + missing, columns=RECORDINGS.names)
    if len(recordings):
        recordings["primary_view"] = mark_primary_views(recordings, params.view_preference)
        labeled = samples.set_index(["set_id", "sample_id"])["rep_count"]
        keys = pd.MultiIndex.from_frame(recordings[["set_id", "sample_id"]])
        recordings["labeled_rep_count"] = labeled.reindex(keys).to_numpy()
    recordings = recordings.sort_values(["set_id", "sample_id", "view"], ignore_index=True, na_position="first")
    kinematics = pd.concat([p[0] for p in parts], ignore_index=True) if parts else KINEMATICS.empty_table().to_pandas()
    reps = pd.concat([p[1] for p in parts if len(p[1])], ignore_index=True) if any(len(p[1]) for p in parts) else (
        REPS.empty_table().to_pandas()
    )  # fmt: skip
    return kinematics, reps, recordings


def count_errors(recordings: pd.DataFrame) -> dict:
    """Rep-count accuracy as rep-counting papers report it (RepCount-A: MAE and OBO).

    Parameters
    ----------
    recordings
        ``RECORDINGS`` rows; the primary view of every sample with a ``labeled_rep_count``
        above 0 is scored (a recording without reps counts 0).

    Returns
    -------
    dict
        ``n_recordings``; ``mae_over_true``: mean of ``|true - counted| / true``;
        ``off_by_at_most_one``: share with ``|true - counted| <= 1``; ``exact``: share
        counted exactly (NaN figures when nothing is scored).
    """
    scored = recordings[recordings["primary_view"] & (recordings["labeled_rep_count"].fillna(0) > 0)]
    true = scored["labeled_rep_count"].to_numpy(dtype=np.float64)
    error = np.abs(true - scored["rep_count"].to_numpy(dtype=np.float64))
    if not len(true):
        return {"n_recordings": 0, "mae_over_true": np.nan, "off_by_at_most_one": np.nan, "exact": np.nan}
    return {
        "n_recordings": int(len(true)),
        "mae_over_true": float(np.mean(error / true)),
        "off_by_at_most_one": float(np.mean(error <= 1)),
        "exact": float(np.mean(error == 0)),
    }
