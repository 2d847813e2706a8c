"""DTW comparison with correct executions, learned thresholds and per-rep joint scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULTS
from dtaidistance import dtw

from formset.schemas import tables
from formset.storage import to_arrow
from formset.tasks.cluster import fit_joint_clusters
from formset.tasks.compare import compare_executions, dtw_to_references, json_safe, learn_threshold, rep_joint_scores
from formset.tasks.reps import reps_for_samples

PARAMS = DEFAULTS
NO_QUARANTINE = tables.QUARANTINE.empty_table().to_pandas()


@pytest.fixture(scope="module")
def compared(generated_features):
    samples, features, _ = generated_features
    kinematics, _, _ = reps_for_samples(features, samples, NO_QUARANTINE, PARAMS.reps)
    distances, verdicts, metrics = compare_executions(features, kinematics, samples, PARAMS.compare)
    return samples, features, kinematics, distances, verdicts, metrics


def test_dtw_to_references_matches_the_library_pair_by_pair_and_marks_missing_features():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(n, 2)) for n in (20, 25, 18, 30)]
    arrays[3][:, 1] = np.nan  # a feature missing in a whole segment
    distances = dtw_to_references(arrays, np.array([2, 0]))
    assert distances.shape == (4, 2, 2)
    for segment in range(4):
        for slot, reference in enumerate((2, 0)):
            expected = dtw.distance(arrays[segment][:, 0], arrays[reference][:, 0])
            assert distances[segment, slot, 0] == pytest.approx(expected)
    assert distances[0, 1, 0] == 0.0  # itself
    assert np.isnan(distances[3, :, 1]).all() and np.isfinite(distances[3, :, 0]).all()


def test_a_lone_segment_that_is_its_own_reference_is_at_distance_zero():
    # One recording of an exercise and view, correct: the whole group is one segment.
    lone = np.arange(10.0).reshape(5, 2)
    np.testing.assert_array_equal(dtw_to_references([lone], np.array([0])), np.zeros((1, 1, 2)))
    missing = lone.copy()
    missing[:, 1] = np.nan
    assert np.isnan(dtw_to_references([missing], np.array([0]))[0, 0, 1])


def test_without_references_there_is_no_distance():
    assert dtw_to_references([np.ones((5, 2)), np.ones((6, 2))], np.array([], dtype=int)).shape == (2, 0, 2)


def test_unlabeled_exercise_gets_no_distance_and_no_threshold(compared):
    samples, features, kinematics, _, _, _ = compared
    unlabeled = samples.assign(label=None)
    distances, verdicts, metrics = compare_executions(features, kinematics, unlabeled, PARAMS.compare)
    assert verdicts["distance"].isna().all() and verdicts["threshold"].isna().all()
    assert (verdicts["n_references"] == 0).all() and len(distances)
    assert np.isnan(metrics["recording"]["auc_mean"])


def test_time_warped_copy_is_closer_than_a_different_movement():
    slow = np.sin(np.linspace(0, np.pi, 40))[:, None]
    fast = np.sin(np.linspace(0, np.pi, 25))[:, None]
    shallow = 0.5 * slow
    distances = dtw_to_references([slow, fast, shallow], np.array([0]))[:, 0, 0]
    assert distances[1] < 0.2 < distances[2]


def test_learned_threshold_separates_and_auc_is_computed():
    distance = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, np.nan])
    incorrect = np.array([False, False, False, True, True, True, True])
    learned = learn_threshold(distance, incorrect)
    assert 3.0 < learned["threshold"] < 10.0
    assert (learned["auc"], learned["balanced_accuracy"], learned["n_correct"], learned["n_incorrect"]) == (1.0, 1.0, 3, 3)
    assert np.isnan(learn_threshold(distance[:3], incorrect[:3])["threshold"])


def test_generated_set_dtw_separates_correct_from_incorrect(compared):
    _, _, _, distances, verdicts, metrics = compared
    to_arrow(distances, tables.DISTANCES)
    to_arrow(verdicts, tables.VERDICTS)
    assert metrics["recording"]["auc_mean"] > 0.75
    assert metrics["rep"]["auc_mean"] > 0.7
    for scope in ("recording", "rep"):
        assert set(metrics[scope]["groups"]) == {f"{e}/{v}" for e in ("squat", "push_up") for v in ("front", "diagonal", "kinect")}
    recordings = verdicts[verdicts["rep"].isna()]
    assert recordings["threshold"].notna().all()
    assert (recordings["beyond_threshold"] == (recordings["distance"] > recordings["threshold"])).all()
    # Correct executions are compared with other people's only: 3 subjects x 3 correct each.
    correct = recordings[recordings["label"] == "correct"]
    assert (correct["n_references"] == 6).all()
    assert verdicts["rep"].notna().sum() > len(recordings)  # and every rep too


def test_a_chosen_reference_is_the_only_one(compared):
    samples, features, kinematics, _, _, _ = compared
    reference = samples[(samples["exercise"] == "squat") & (samples["label"] == "correct")].iloc[0]
    params = replace(PARAMS.compare, references={"squat": f"{reference['set_id']}/{reference['sample_id']}"})
    _, verdicts, metrics = compare_executions(features, kinematics, samples, params)
    squats = verdicts[(verdicts["exercise"] == "squat") & verdicts["rep"].isna()]
    others = squats["sample_id"] != reference["sample_id"]
    same_person = squats["sample_id"].str.startswith(reference["subject_id"])
    assert (squats.loc[others & ~same_person, "n_references"] == 1).all()
    assert (squats.loc[same_person, "n_references"] == 0).all()
    # Some squats have nothing to compare with, the others do: the group is not skipped.
    assert not any("skipped" in group for scope in ("recording", "rep") for group in metrics[scope]["groups"].values())


def test_rep_joint_scores_rank_the_most_deviating_joint_first(compared):
    samples, features, kinematics, _, _, _ = compared
    clusters = fit_joint_clusters(features, samples, PARAMS.cluster)
    scores = rep_joint_scores(features, kinematics, samples, clusters, PARAMS.cluster.max_distance)
    to_arrow(scores, tables.REP_SCORES)
    first = scores.sort_values("deviation_rank").groupby(["sample_id", "view", "rep"]).head(1)
    lowest = scores.groupby(["sample_id", "view", "rep"])["score"].transform("min")
    assert (first["score"] == lowest.loc[first.index]).all()
    assert scores["score"].between(0, 1).all()
    incorrect = samples.loc[samples["label"] == "incorrect", "sample_id"]
    mean_score = scores.groupby(scores["sample_id"].isin(incorrect))["score"].mean()
    assert mean_score[True] < mean_score[False]


def test_json_safe_replaces_nan_for_dvc():
    assert json_safe({"a": float("nan"), "b": {"c": 1.0}}) == {"a": None, "b": {"c": 1.0}}


# --- references, the threshold search and the verdicts (make mutation) --------------------------


def test_references_are_the_correct_executions_or_the_one_chosen():
    from formset.tasks.compare import _pick_references

    index = pd.DataFrame(
        {"set_id": ["a", "a", "a", "b", "b"], "sample_id": ["s1", "s2", "s3", "s1", "s4"],
         "label": ["correct", "incorrect", None, "correct", "incorrect"]}
    )  # fmt: skip
    np.testing.assert_array_equal(_pick_references(index, None), [0, 3])
    np.testing.assert_array_equal(_pick_references(index, "b/s4"), [4])
    np.testing.assert_array_equal(_pick_references(index, "c/s1"), np.array([], dtype=int))


def test_the_threshold_is_midway_between_the_distances_it_separates():
    distance = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0])
    incorrect = np.array([False, False, False, True, True, True])
    assert learn_threshold(distance, incorrect)["threshold"] == pytest.approx(6.5)


def test_an_imperfect_separation_keeps_its_fractional_balanced_accuracy():
    # correct at 1, 2, 5; incorrect at 3, 4: above 2.5 catches both incorrect and one correct.
    distance = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    incorrect = np.array([False, False, True, True, False])
    learned = learn_threshold(distance, incorrect)
    assert learned["threshold"] == pytest.approx(2.5)
    assert learned["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert learned["auc"] == pytest.approx(4 / 6)
    # correct at 1-4, incorrect at 2.5, 10, 11: best above 7, catching two of three incorrect.
    distance = np.array([1.0, 2.0, 3.0, 4.0, 2.5, 10.0, 11.0])
    incorrect = np.array([False] * 4 + [True] * 3)
    learned = learn_threshold(distance, incorrect)
    assert (learned["threshold"], learned["balanced_accuracy"]) == (pytest.approx(7.0), pytest.approx((2 / 3 + 1) / 2))


def test_the_most_distant_feature_is_the_one_farthest_from_the_references(compared):
    _, _, _, distances, verdicts, _ = compared
    recordings = distances[distances["rep"].isna()].dropna(subset=["distance"])
    farthest = recordings.loc[recordings.groupby(["sample_id", "view"])["distance"].idxmax()]
    expected = dict(zip(zip(farthest["sample_id"], farthest["view"]), farthest["feature"]))
    rows = verdicts[verdicts["rep"].isna()]
    got = {(r.sample_id, r.view): r.most_distant_feature for r in rows.itertuples() if (r.sample_id, r.view) in expected}
    assert got == expected and len(got) == len(rows)


def test_the_skip_reason_says_why_nothing_was_compared():
    from formset.tasks.compare import skip_reason

    views = ["front", "kinect"]
    assert skip_reason(pd.DataFrame({"n_references": []}), views) == "no recordings in the compared views (front, kinect)"
    assert skip_reason(pd.DataFrame({"n_references": [0, 0]}), views).startswith(
        "no correct executions by other people to compare with: every distance is empty"
    )
    assert skip_reason(pd.DataFrame({"n_references": [0, 1]}), views) is None


def test_only_the_targets_are_measured_and_they_match_the_whole_computation():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(n, 2)) for n in (20, 25, 18, 30, 22)]
    references = np.array([0, 2])
    whole = dtw_to_references(arrays, references)
    targeted = dtw_to_references(arrays, references, np.array([4, 1]))
    np.testing.assert_allclose(targeted[[1, 4]], whole[[1, 4]])
    assert np.isnan(targeted[[0, 2, 3]]).all()  # not measured: not even the references' own rows


def test_a_measured_sample_is_judged_against_the_others_and_is_never_a_reference(compared):
    from formset.tasks.compare import compare_group

    samples, features, kinematics, _, verdicts, _ = compared
    exercise, view = "squat", "front"
    frames = features[features["view"] == view].merge(
        kinematics[["set_id", "sample_id", "view", "frame", "rep"]], on=["set_id", "sample_id", "view", "frame"]
    ).merge(samples[["set_id", "sample_id", "subject_id", "exercise", "label"]], on=["set_id", "sample_id"])
    frames = frames[frames["exercise"] == exercise]
    correct = samples[(samples["exercise"] == exercise) & (samples["label"] == "correct")].iloc[0]
    key = (correct["set_id"], correct["sample_id"])
    _, measured = compare_group(frames, exercise, view, PARAMS.compare, measured={key})
    assert set(zip(measured["set_id"], measured["sample_id"])) == {key}
    whole = measured[measured["rep"].isna()].iloc[0]
    full = verdicts[(verdicts["set_id"] == key[0]) & (verdicts["sample_id"] == key[1]) & (verdicts["view"] == view) & verdicts["rep"].isna()].iloc[0]
    # Its own person's executions are no references either way: the same distance, the same references.
    assert whole["n_references"] == full["n_references"] > 0
    assert whole["distance"] == pytest.approx(full["distance"], rel=1e-6)
