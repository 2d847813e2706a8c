"""Rep counting, tempo and per-frame kinematics on answers known by construction.

- generated executions (``tasks/synthetic``: reps with pauses, tracking noise, missing
  joints, dropped and empty frames, a bystander): count exact in every view, boundaries
  within a few frames;
- a hand-made signal with long rests, pauses, noise and gaps;
- recordings where no rep can be found say why instead of inventing reps;
- the real squat video (slow): two reps, each between its standing phases.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULTS, GENERATED_FPS

from formset.params import ExerciseRepsParams, TempoParams, plain
from formset.schemas import tables
from formset.storage import to_arrow
from formset.tasks.reps import (
    STATUSES,
    count_errors,
    default_rep_spec,
    fill_short_gaps,
    find_reps,
    named_otherwise,
    recognition_margin,
    reps_for_samples,
    tempo_feedback,
    tempo_sentence,
)
from formset.tasks.synthetic.generator import rep_frames

REPO = Path(__file__).resolve().parent.parent
PARAMS = DEFAULTS
REPS_PARAMS = PARAMS.reps
SQUAT = REPS_PARAMS.exercises["squat"]
NO_QUARANTINE = tables.QUARANTINE.empty_table().to_pandas()
#: Largest allowed boundary error on generated recordings, frames (at 15 fps: 0.27 s).
MAX_BOUNDARY_ERROR_FRAMES = 4

@pytest.fixture(scope="module")
def generated_reps(generated_features):
    samples, features, plan = generated_features
    kinematics, reps, recordings = reps_for_samples(features, samples, NO_QUARANTINE, REPS_PARAMS)
    return samples, plan, kinematics, reps, recordings


def test_generated_rep_counts_are_exact_in_every_view(generated_reps):
    samples, plan, _, _, recordings = generated_reps
    assert len(recordings) == 3 * len(samples)  # front, diagonal, kinect for each
    assert (recordings["status"] == "ok").all(), recordings.loc[recordings["status"] != "ok", "detail"].tolist()
    assert (recordings["rep_count"] == recordings["labeled_rep_count"]).all()
    assert count_errors(recordings) == {
        "n_recordings": len(samples), "mae_over_true": 0.0, "off_by_at_most_one": 1.0, "exact": 1.0,
    }  # fmt: skip


def test_generated_rep_boundaries_are_within_a_few_frames(generated_reps):
    _, plan, _, reps, _ = generated_reps
    for (sample_id, view), found in reps.groupby(["sample_id", "view"]):
        truth = rep_frames(plan[sample_id].reps, GENERATED_FPS)
        for edge in ("start", "bottom", "end"):
            error = found[f"{edge}_frame"].to_numpy() - truth[edge]
            assert np.abs(error).max() <= MAX_BOUNDARY_ERROR_FRAMES, (sample_id, view, edge, error)


def test_tables_fit_their_schemas_and_frames_know_their_rep(generated_reps):
    _, _, kinematics, reps, recordings = generated_reps
    for frame, schema in ((kinematics, tables.KINEMATICS), (reps, tables.REPS), (recordings, tables.RECORDINGS)):
        to_arrow(frame, schema)
    first = reps.iloc[0]
    frames = kinematics[(kinematics["sample_id"] == first["sample_id"]) & (kinematics["view"] == first["view"])]
    # Back-to-back reps share their boundary frame, which belongs to the later one.
    inside = frames[(frames["frame"] >= first["start_frame"]) & (frames["frame"] < first["end_frame"])]
    assert (inside["rep"] == 1).all()
    assert frames["rep"].isna().any()  # the rest before and after belongs to no rep
    assert recordings.groupby("sample_id")["primary_view"].sum().eq(1).all()
    assert (recordings.loc[recordings["primary_view"], "view"] == "kinect").all()


def test_moment_arms_only_where_they_mean_something(generated_reps):
    samples, _, kinematics, _, _ = generated_reps
    frames = kinematics.merge(samples[["sample_id", "exercise"]], on="sample_id")
    has_arm = frames["moment_arm_hip"].notna().groupby([frames["exercise"], frames["view"]]).mean()
    assert has_arm[("squat", "kinect")] > 0.9 and has_arm[("squat", "diagonal")] > 0.9
    assert has_arm[("squat", "front")] == 0 and has_arm["push_up"].eq(0).all()


def test_depth_and_range_of_motion_are_plausible(generated_reps):
    _, _, _, reps, _ = generated_reps
    squats = reps[reps["exercise"] == "squat"]
    assert squats["depth"].between(0.2, 2.0).all()  # torso lengths the hips sink
    in_3d = squats[squats["view"] == "kinect"]
    assert in_3d["range_of_motion_deg"].between(30, 150).all()  # knee flexion
    np.testing.assert_allclose(reps["duration_s"], reps["descent_s"] + reps["ascent_s"])


def test_wrong_exercise_gives_no_reps(generated_features):
    samples, features, _ = generated_features
    swapped = samples.assign(exercise=samples["exercise"].map({"squat": "push_up", "push_up": "squat"}))
    _, reps, recordings = reps_for_samples(features, swapped, NO_QUARANTINE, REPS_PARAMS)
    assert reps.empty
    assert (recordings["status"] == "wrong_exercise").all()
    assert recordings["detail"].str.contains("deg from vertical").all()


def recognized_as(samples: pd.DataFrame, predicted: dict[str, str], margin: float) -> pd.DataFrame:
    """``EXERCISE_PREDICTIONS`` rows naming each sample's exercise, or ``predicted[sample_id]``
    with ``ln(p_exercise / p_claimed)`` = ``margin``."""
    return pd.DataFrame({
        "set_id": samples["set_id"], "sample_id": samples["sample_id"], "subject_id": samples["subject_id"],
        "exercise": samples["exercise"], "predicted_exercise": samples["sample_id"].map(predicted).fillna(samples["exercise"]),
        "p_exercise": 0.5, "p_claimed": 0.5 / np.exp(margin), "fold": 1,
    })  # fmt: skip


def test_recognition_naming_another_exercise_surely_makes_the_sample_wrong_exercise(generated_features):
    samples, features, _ = generated_features
    first = samples["sample_id"].iloc[0]
    named = recognized_as(samples, {first: "lunge"}, REPS_PARAMS.recognition_min_margin)
    _, reps, recordings = reps_for_samples(features, samples, NO_QUARANTINE, REPS_PARAMS, named)
    flagged = recordings[recordings["status"] == "wrong_exercise"]
    assert set(flagged["sample_id"]) == {first} and len(flagged) == features.loc[features["sample_id"] == first, "view"].nunique()
    assert flagged["detail"].str.startswith("exercise recognition, trained on other people, names this a lunge").all()
    assert first not in set(reps["sample_id"]) and (recordings.loc[recordings["sample_id"] != first, "status"] == "ok").all()
    # Below the margin it must reach, recognition says nothing.
    unsure = recognized_as(samples, {first: "lunge"}, REPS_PARAMS.recognition_min_margin - 0.01)
    _, _, recordings = reps_for_samples(features, samples, NO_QUARANTINE, REPS_PARAMS, unsure)
    assert (recordings["status"] == "ok").all()


def test_named_otherwise_keeps_sure_other_names_sorted_and_never_an_exercise_the_model_never_saw():
    recognized = pd.DataFrame({
        "set_id": ["s", "s", "s", "r", "r"], "sample_id": ["c", "b", "a", "z", "y"], "exercise": ["squat"] * 5,
        "predicted_exercise": ["lunge", "squat", "lunge", "push_up", "lunge"],
        "p_exercise": [0.6, 0.9, 0.5, 0.7, 0.9], "p_claimed": [0.2, 0.9, 0.2, 0.1, 0.0],
    })  # fmt: skip
    np.testing.assert_allclose(recognition_margin(recognized), [np.log(3), 0.0, np.log(2.5), np.log(7), np.nan])
    named = named_otherwise(recognized, np.log(3))
    assert named[["set_id", "sample_id", "predicted_exercise"]].values.tolist() == [["r", "z", "push_up"], ["s", "c", "lunge"]]
    assert list(named.columns) == ["set_id", "sample_id", "exercise", "predicted_exercise", "p_exercise", "p_claimed"]


def test_sample_without_features_gets_a_row_saying_why(generated_features):
    samples, features, _ = generated_features
    gone = samples["sample_id"].iloc[0]
    quarantine = pd.DataFrame([{"set_id": "generated", "sample_id": gone, "stage": "keypoints",
                                "reason": "no_person", "detail": "nobody", "value": None}])  # fmt: skip
    kept = features[features["sample_id"] != gone]
    _, reps, recordings = reps_for_samples(kept, samples, quarantine, REPS_PARAMS)
    row = recordings[recordings["sample_id"] == gone].iloc[0]
    assert (row["status"], row["rep_count"], row["primary_view"]) == ("no_keypoints", 0, True)
    assert recordings["sample_id"].iloc[0] == gone  # its row, made last, is sorted into place
    pd.testing.assert_index_equal(recordings.index, pd.RangeIndex(len(recordings)), exact=True)
    assert "no_person" in row["detail"]
    assert gone not in set(reps["sample_id"])


# ---------------------------------------------------------------- hand-made signals
FPS = 30.0


def dips(depths_durations_pauses, rest_s=1.5, noise=0.0, seed=0):
    """A hip-height signal: rest, then dips of (depth, duration, pause after), then rest.

    Returns time_s, frame, signal and the true (start, bottom, end) rows of each dip."""
    pieces, truth, t = [np.zeros(int(rest_s * FPS))], [], int(rest_s * FPS)
    for depth, duration, pause in depths_durations_pauses:
        n = int(duration * FPS)
        pieces.append(-depth * (1 - np.cos(np.linspace(0, 2 * np.pi, n, endpoint=False))) / 2)
        truth.append((t, t + n // 2, t + n))
        pieces.append(np.zeros(int(pause * FPS)))
        t += n + int(pause * FPS)
    pieces.append(np.zeros(int(rest_s * FPS)))
    signal = np.concatenate(pieces) + np.random.default_rng(seed).normal(0, noise, t + int(rest_s * FPS))
    frame = np.arange(len(signal))
    return frame / FPS, frame, signal, np.array(truth)


UPRIGHT_DEG = 5.0


def test_pauses_noise_and_gaps_keep_the_count_and_boundaries():
    time_s, frame, signal, truth = dips([(0.6, 2.0, 3.0), (0.5, 1.5, 0.0), (0.7, 2.5, 0.4), (0.4, 1.2, 0.0)], noise=0.015)
    signal[truth[1, 1] - 5 : truth[1, 1] + 3] = np.nan  # a dropout at a bottom
    signal[40:52] = np.nan  # and in the rest
    keep = np.ones(len(signal), dtype=bool)
    keep[truth[2, 0] + 5 : truth[2, 0] + 8] = False  # dropped frames
    search = find_reps(time_s[keep], frame[keep], signal[keep], UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert search.status == "ok"
    found = np.array([(frame[keep][r.start], frame[keep][r.bottom], frame[keep][r.end]) for r in search.reps])
    assert found.shape == truth.shape
    assert np.abs(found - truth).max() <= 5  # frames at 30 fps


def test_a_wobble_at_the_bottom_is_one_rep():
    time_s, frame, signal, truth = dips([(0.6, 3.0, 0.5)])
    signal[truth[0, 1] - 10 : truth[0, 1] + 10] += 0.08 * np.sin(np.linspace(0, 4 * np.pi, 20))
    assert len(find_reps(time_s, frame, signal, UPRIGHT_DEG, SQUAT, REPS_PARAMS).reps) == 1


def test_default_signal_is_the_coordinate_that_moves_most_with_rest_at_the_ends():
    time_s, frame, signal, _ = dips([(1.0, 2.0, 0.0)], noise=0.01)
    lift = -signal  # 0 at rest, 1 at the top: an arm raise
    noise = np.random.default_rng(2).normal(0, 0.01, len(lift))
    columns = pd.DataFrame(
        {
            "left_wrist_y": 0.2 + 1.2 * lift,  # moves most (torso lengths)
            "right_wrist_z": 0.1 + 0.9 * lift,
            "mid_hip_y": 3.0 * lift,  # the origin of normalized positions: never the signal
            "neck_y": 1.0 + noise,
            "angle_left_elbow": 160 + 10 * lift,
            "angle_left_shoulder": 20 + 120 * lift,  # degrees: the range reported, not the signal
        }
    )
    spec = default_rep_spec(columns, REPS_PARAMS)
    assert spec == ExerciseRepsParams(signal=("left_wrist_y",), direction="up", min_range=REPS_PARAMS.default_min_range,
                                      angle=("angle_left_shoulder",), upright=None)  # fmt: skip
    search = find_reps(time_s, frame, columns["left_wrist_y"].to_numpy(), np.nan, spec, REPS_PARAMS)
    assert (search.status, len(search.reps)) == ("ok", 1)
    # The same movement downwards (a lunge's hip-relative knee): rest is high at the ends.
    assert default_rep_spec(columns.assign(left_wrist_y=0.2 - 1.2 * lift), REPS_PARAMS).direction == "down"
    # Nothing visible: no signal to follow.
    assert default_rep_spec(columns.assign(left_wrist_y=np.nan, right_wrist_z=np.nan, neck_y=np.nan), REPS_PARAMS).signal == ()


def test_an_exercise_without_a_rep_signal_counts_generated_reps_with_the_default(generated_features):
    samples, features, _ = generated_features
    renamed = samples.assign(exercise=samples["exercise"].map({"squat": "new_squat", "push_up": "new_push_up"}))
    assert not set(renamed["exercise"]) & set(REPS_PARAMS.exercises)
    _, reps, recordings = reps_for_samples(features, renamed, NO_QUARANTINE, REPS_PARAMS)
    primary = recordings[recordings["primary_view"]]
    # Every count exact, as with the exercises' own signals (measured: all views too).
    assert (primary["rep_count"] == primary["labeled_rep_count"]).all()
    assert reps["signal"].str.fullmatch(r"[a-z_]+_[xyz]").all()  # one coordinate of one joint
    assert not reps["signal"].str.startswith("mid_hip_").any()


@pytest.mark.parametrize(
    ("case", "status"),
    [("still", "no_movement"), ("nobody", "no_person"), ("short", "too_short"), ("lying", "wrong_exercise")],
)
def test_no_rep_cases_say_why(case, status):
    time_s, frame, signal, _ = dips([(0.6, 2.0, 0.5)], noise=0.01)
    lean = UPRIGHT_DEG
    if case == "still":
        signal = np.random.default_rng(1).normal(0, 0.01, len(signal))
    elif case == "nobody":
        signal[: int(0.7 * len(signal))] = np.nan
    elif case == "short":
        time_s, frame, signal = time_s[:10], frame[:10], signal[:10]
    elif case == "lying":
        lean = 85.0
    search = find_reps(time_s, frame, signal, lean, SQUAT, REPS_PARAMS)
    assert (search.status, search.reps) == (status, ())
    assert status in STATUSES
    assert search.detail


def test_fill_short_gaps_fills_only_short_gaps():
    time_s = np.arange(10) / 10.0
    values = np.array([np.nan, 1, np.nan, 3, np.nan, np.nan, np.nan, np.nan, np.nan, 9.0])
    filled = fill_short_gaps(values, time_s, max_gap_s=0.3)
    np.testing.assert_allclose(filled[:4], [np.nan, 1, 2, 3])
    assert np.isnan(filled[4:9]).all() and filled[9] == 9


#: Kim & Heo's push-up counter's tempo rules.
SEED_TEMPO = TempoParams(irregular_std_s=0.1, too_fast_s=1.5, too_slow_s=2.5)


def test_tempo_defaults_do_not_flag_ordinary_squats():
    tempo = REPS_PARAMS.tempo
    assert tempo == TempoParams(irregular_std_s=0.5, too_fast_s=1.0, too_slow_s=5.0)
    assert tempo_feedback(np.array([2.9, 3.23]), tempo) == "good tempo"  # the real squat's two reps
    assert tempo_feedback(np.array([2.0, 3.5]), tempo) == "irregular"  # std 1.06 s
    assert tempo_feedback(np.array([0.9, 0.95]), tempo) == "too fast"
    assert tempo_feedback(np.array([5.1]), tempo) == "too slow"


def test_tempo_sentence_says_count_mean_spread_and_the_rule_broken():
    assert tempo_sentence(np.array([2.9, 3.2]), REPS_PARAMS.tempo) == (
        "2 reps of 3.05 s on average, 0.30 s apart at most: a steady tempo within 1.0-5.0 s per rep."
    )
    assert tempo_sentence(np.array([1.0, 1.4]), SEED_TEMPO) == (
        "2 reps of 1.20 s on average, 0.40 s apart (std 0.28 s, above 0.1 s): uneven; "
        "faster than 1.5 s per rep: slow down."
    )
    assert tempo_sentence(np.array([3.0]), SEED_TEMPO) == "1 rep of 3.00 s: slower than 2.5 s per rep: speed up."
    assert tempo_sentence(np.array([]), SEED_TEMPO) == "No reps, so no tempo to judge."


def test_tempo_feedback_uses_the_seed_thresholds():
    tempo = SEED_TEMPO
    assert tempo_feedback(np.array([2.0, 2.05, 1.95]), tempo) == "good tempo"
    assert tempo_feedback(np.array([1.0, 1.4]), tempo) == "irregular, too fast"
    assert tempo_feedback(np.array([3.0]), tempo) == "too slow"
    assert tempo_feedback(np.array([]), tempo) == ""


# ---------------------------------------------------------------- the real squat video
@pytest.mark.slow
def test_real_squat_video_has_two_reps_between_its_standing_phases():
    pytest.importorskip("mediapipe")
    from formset.tasks.ingest import ingest_set
    from formset.tasks.keypoints import assemble_samples, read_view_outcome, source_columns
    from formset.tasks.normalize import features_for_samples
    from formset.tasks.pose.mediapipe_backend import MediaPipeBackend

    set_dir = REPO / "samples" / "real-squat"
    # Every second frame, at most 480 px: as tests/test_pose_mediapipe.py, to stay fast.
    keypoint_params = replace(PARAMS.keypoints, video_stride=2, video_max_side=480)
    samples = ingest_set(set_dir, PARAMS.exercises).samples
    sample = samples.to_dict("records")[0]
    backend = MediaPipeBackend(plain(keypoint_params))
    outcomes = {sample["sample_id"]: {v: read_view_outcome(sample, c, set_dir, keypoint_params, backend)
                                      for v, c in source_columns(sample).items()}}  # fmt: skip
    keypoints, _ = assemble_samples(samples, outcomes)
    features, _ = features_for_samples(keypoints, PARAMS.normalize)
    _, reps, recordings = reps_for_samples(features, samples, NO_QUARANTINE, REPS_PARAMS)
    assert recordings["rep_count"].tolist() == [2]
    # set.yaml: bottoms near 10.5 s and 17.5 s; standing before, between and after.
    for (_, rep), bottom_s in zip(reps.iterrows(), (10.5, 17.5)):
        assert rep["start_s"] < bottom_s - 0.5 and rep["end_s"] > bottom_s + 0.5
        assert abs(rep["bottom_s"] - bottom_s) < 1.0
    assert reps["end_s"].iloc[0] < reps["start_s"].iloc[1]


# ---------------------------------------------------------------- boundaries (make mutation)
def squat_frames(hip_y: np.ndarray, fps: float = FPS, knee_from: int = 0) -> pd.DataFrame:
    """``FEATURES``-like rows of one kinect recording whose mid-hip height is ``hip_y``.

    The left hip (0, 0), knee and ankle (0, -1) are present from row ``knee_from`` on, the
    knee coming forward so that the knee angle is 180 degrees standing and 90 at ``hip_y``
    = -0.6; every other joint is missing.
    """
    n = len(hip_y)
    columns = {c: np.full(n, np.nan) for c in tables.joint_columns()}
    columns["mid_hip_y"] = hip_y
    bend = np.radians(90.0) * np.clip(-hip_y / 0.6, 0.0, 1.0)
    present = np.arange(n) >= knee_from
    for column, value in {"left_hip_x": 0.0, "left_hip_y": 0.0, "left_knee_x": 0.5 * np.tan(bend / 2),
                          "left_knee_y": -0.5, "left_ankle_x": 0.0, "left_ankle_y": -1.0}.items():  # fmt: skip
        columns[column] = np.where(present, value, np.nan)
    frame = np.arange(n)
    return pd.DataFrame({"set_id": "s", "sample_id": "sq", "view": "kinect", "frame": frame,
                         "time_s": frame / fps, **columns})  # fmt: skip


def test_a_rep_owns_its_frames_from_start_to_end_inclusive_and_durations_are_summed():
    from formset.tasks.reps import reps_for_view

    time_s, frame, signal, truth = dips([(0.6, 2.0, 1.0), (0.6, 1.6, 1.0)])
    kinematics, reps, recording = reps_for_view(squat_frames(signal), "squat", UPRIGHT_DEG, REPS_PARAMS)
    assert (recording["status"], recording["detail"], recording["rep_count"]) == ("ok", "2 reps", 2)
    for number, rep in enumerate(reps.itertuples(), start=1):
        inside = kinematics["frame"].between(rep.start_frame, rep.end_frame)
        assert kinematics.loc[inside, "rep"].tolist() == [number] * inside.sum()
        assert kinematics.loc[kinematics["frame"] == rep.end_frame + 1, "rep"].isna().all()
    durations = reps["duration_s"].to_numpy()
    assert recording["exercise_s"] == pytest.approx(durations.sum())
    assert recording["mean_rep_s"] == pytest.approx(durations.mean())
    assert recording["std_rep_s"] == pytest.approx(np.std(durations, ddof=1))


def test_the_range_of_motion_uses_the_frames_where_the_angle_is_known():
    from formset.tasks.reps import reps_for_view

    time_s, frame, signal, truth = dips([(0.6, 2.0, 1.0)])
    # The knee is seen from the bottom of the rep on: its angle goes from 90 back to 0 degrees.
    _, reps, _ = reps_for_view(squat_frames(signal, knee_from=truth[0, 1]), "squat", UPRIGHT_DEG, REPS_PARAMS)
    assert reps["range_of_motion_deg"].tolist() == [pytest.approx(90.0, abs=1.0)]


def test_excursion_levels_are_the_rest_percentile_from_each_side():
    from formset.tasks.reps import excursion

    signal = np.arange(101.0)  # percentile p is p itself
    share, rest, far = excursion(signal, "down", 95.0)
    assert (rest, far) == (pytest.approx(95.0), pytest.approx(5.0))
    assert share[95] == pytest.approx(0.0) and share[5] == pytest.approx(1.0)
    _, rest, far = excursion(signal, "up", 90.0)
    assert (rest, far) == (pytest.approx(10.0), pytest.approx(90.0))


def test_a_gap_between_exactly_two_known_values_is_filled():
    filled = fill_short_gaps(np.array([1.0, np.nan, 3.0]), np.array([0.0, 0.1, 0.2]), max_gap_s=0.3)
    np.testing.assert_allclose(filled, [1.0, 2.0, 3.0])


def test_an_empty_recording_has_nobody_in_it():
    empty = np.array([])
    search = find_reps(empty, empty.astype(int), empty, UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert (search.status, search.detail) == ("no_person", "the body parts that move in this exercise are visible in only 0% of the frames")


def test_a_recording_exactly_one_rep_long_is_not_too_short():
    min_rep_s = REPS_PARAMS.min_rep_s
    frame = np.arange(int(min_rep_s * FPS) + 1)  # 0 .. min_rep_s seconds
    search = find_reps(frame / FPS, frame, np.zeros(len(frame)), UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert search.status == "no_movement"
    shorter = find_reps(frame[:-1] / FPS, frame[:-1], np.zeros(len(frame) - 1), UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert (shorter.status, shorter.detail) == ("too_short", "the recording lasts 0.47 s, shorter than one rep (0.5 s)")


def test_the_signal_is_smoothed_with_smoothing_s_in_source_frames():
    from formset.tasks.maths.smoothing import gaussian_smooth

    fps = 15.0  # smoothing_s 0.1 s is 1.5 frames
    time_s, frame, signal, _ = dips([(0.6, 2.0, 1.0)])
    frame = np.arange(len(signal))
    search = find_reps(frame / fps, frame, signal, UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    np.testing.assert_allclose(search.signal, gaussian_smooth(signal, 1.5, frame), atol=1e-6)


def test_two_bottoms_closer_than_min_rep_s_are_one_rep():
    # Down 0.6, a bounce 0.36 back up and down again within 0.4 s (12 frames < 0.5 s), then up.
    rest = np.zeros(int(1.5 * FPS))
    down = -0.3 * (1 - np.cos(np.linspace(0, np.pi, int(FPS))))
    bounce = -0.6 + 0.18 * (1 - np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)))
    signal = np.concatenate([rest, down, bounce, down[::-1], rest])
    frame = np.arange(len(signal))
    search = find_reps(frame / FPS, frame, signal, UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert search.status == "ok" and len(search.reps) == 1


def test_reps_of_a_time_lapse_at_one_frame_a_second_are_found():
    time_s, frame, signal, truth = dips([(0.6, 8.0, 4.0), (0.6, 8.0, 4.0)], rest_s=4.0)
    slow = frame[::30]  # 1 frame per second
    search = find_reps(slow / FPS, slow, signal[::30], UPRIGHT_DEG, SQUAT, REPS_PARAMS)
    assert (search.status, len(search.reps)) == ("ok", 2)


def test_one_rep_has_no_regularity_to_judge_and_raises_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tempo_feedback(np.array([2.0]), SEED_TEMPO) == "good tempo"
    assert tempo_feedback(np.array([2.0, 2.2]), SEED_TEMPO) == "irregular"  # std 0.14 s


def test_count_errors_score_primary_views_with_a_labeled_count_of_one_or_more():
    recordings = pd.DataFrame(
        {
            "primary_view": [True, True, True, False, True],
            "labeled_rep_count": [1, 4, 3, 3, None],
            "rep_count": [1, 3, 6, 0, 2],
        }
    )
    assert count_errors(recordings) == {
        "n_recordings": 3, "mae_over_true": pytest.approx((0 + 1 / 4 + 3 / 3) / 3),
        "off_by_at_most_one": pytest.approx(2 / 3), "exact": pytest.approx(1 / 3),
    }  # fmt: skip
    nothing = count_errors(recordings.assign(primary_view=False))
    assert nothing["n_recordings"] == 0 and set(nothing) == {"n_recordings", "mae_over_true", "off_by_at_most_one", "exact"}
    assert all(np.isnan(nothing[key]) for key in ("mae_over_true", "off_by_at_most_one", "exact"))
