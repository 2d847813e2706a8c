"""Tests of exercise recognition (``tasks.exercise``) on small synthetic executions of two
exercises whose names are known by construction (synthetic data, not people)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import DEFAULTS
from test_train import DELTA_COLUMNS, PARAMS, POSITION_COLUMNS, synthetic_set

from formset.params import RecognitionParams
from formset.quarantine import StageSkipped
from formset.tasks.exercise import (
    ExerciseModel,
    check_recognizable,
    per_sample_exercise,
    recognition_record,
    recognize_exercises,
    softmax,
)
from formset.tasks.learning.sequences import UNLABELED, build_sequences

EXERCISE_PARAMS = replace(PARAMS, cv_folds=3)
#: A small MiniRocket for exercise recognition.
RECOGNITION = RecognitionParams(length=24, features=840, body_frame=False)


def two_exercises(n_subjects: int = 9):
    """``synthetic_set`` where every third person does a left-leg raise instead of a squat:
    the left knee and ankle rise 0.8 torso lengths and back, the rest stands still."""
    features, samples = synthetic_set(n_subjects=n_subjects)
    raisers = samples["subject_id"].isin([f"p{s:02d}" for s in range(0, n_subjects, 3)])
    samples.loc[raisers, "exercise"] = "leg_raise"
    samples.loc[raisers, "label"] = None  # unlabeled: recognition learns from them all the same
    rows = features["sample_id"].isin(samples.loc[raisers, "sample_id"])
    for sample_view, frames in features[rows].groupby(["sample_id", "view"]).groups.items():
        n = len(frames)
        lift = 0.4 * (1 - np.cos(np.linspace(0, 2 * np.pi, n)))
        # Stand still (the squat's dip undone: the first frame's pose), then lift the left leg.
        still = features.loc[frames, POSITION_COLUMNS].to_numpy()
        standing = np.repeat(still[:1], n, axis=0)
        features.loc[frames, POSITION_COLUMNS] = standing
        for joint in ("left_knee_y", "left_ankle_y"):
            features.loc[frames, joint] = standing[:, POSITION_COLUMNS.index(joint)] + lift
        flat = features.loc[frames, POSITION_COLUMNS].to_numpy()
        features.loc[frames, DELTA_COLUMNS] = np.vstack([np.full((1, flat.shape[1]), np.nan), np.diff(flat, axis=0)])
    return features, samples


def test_softmax_rows_sum_to_one_and_keep_the_order():
    p = softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0].argmax() == 2 and p[1, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(p[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def test_recognition_names_unseen_peoples_exercise_and_reloads_identically():
    features, samples = two_exercises()
    seqs = build_sequences(features, samples, EXERCISE_PARAMS, labeled_only=False)
    assert (seqs.y[seqs.exercise == "leg_raise"] == UNLABELED).all()  # unlabeled samples are kept
    result = recognize_exercises(seqs, EXERCISE_PARAMS, RECOGNITION)
    assert result.metrics["accuracy"] == 1.0 and result.metrics["min_exercise_recall"] == 1.0
    assert result.metrics["classes"] == ["leg_raise", "squat"] and result.metrics["folds"] == 3
    assert result.metrics["n_samples"] == 9 and result.metrics["per_exercise"]["leg_raise"]["n_samples"] == 3
    assert set(result.predictions["fold"]) == {1, 2, 3}
    # Each person's samples are in one fold.
    assert result.predictions.groupby("subject_id")["fold"].nunique().max() == 1
    assert (result.predictions["p_claimed"] == result.predictions["p_exercise"]).all()  # every one named right
    reloaded = ExerciseModel.from_state(result.model.state())
    rows = np.arange(len(seqs.y))
    np.testing.assert_allclose(reloaded.predict_proba(seqs, rows), result.model.predict_proba(seqs, rows))
    assert reloaded.classes == ["leg_raise", "squat"]


def test_per_sample_exercise_is_the_highest_mean_over_views():
    features, samples = synthetic_set(n_subjects=2)
    seqs = build_sequences(features, samples, PARAMS)  # 2 samples x 2 views, sample-major
    # Sample 1: views say a (0.9) and b (0.6): mean a 0.65 > b 0.35. Sample 2: b.
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    out = per_sample_exercise(seqs, np.arange(4), p, ["a", "b"])
    assert list(out["predicted_exercise"]) == ["a", "b"]
    np.testing.assert_allclose(out["p_exercise"], [0.65, 0.75])
    assert list(out["subject_id"]) == list(seqs.subject[[0, 2]])


def test_the_claimed_exercise_s_probability_is_its_mean_over_views_and_0_when_unknown():
    features, samples = synthetic_set(n_subjects=2)
    seqs = build_sequences(features, samples, PARAMS)  # 2 squat samples x 2 views
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    named = per_sample_exercise(seqs, np.arange(4), p, ["lunge", "squat"])
    np.testing.assert_allclose(named["p_claimed"], [0.35, 0.75])
    assert list(named["predicted_exercise"]) == ["lunge", "squat"]
    unknown = per_sample_exercise(seqs, np.arange(4), p, ["lunge", "push_up"])
    np.testing.assert_array_equal(unknown["p_claimed"], [0.0, 0.0])


def test_recognition_reads_the_recognition_group_and_the_train_inputs_only():
    train = replace(DEFAULTS.train, views=("kinect",), joints=("neck",), axes=("x",), angles=(), max_frames=9, cv_folds=3, seed=1)
    params = replace(DEFAULTS, train=train, recognition=RECOGNITION)
    record = {
        "views": ("kinect",), "joints": ("neck",), "axes": ("x",), "angles": (), "max_frames": 9, "cv_folds": 3, "seed": 1,
        "exercise_model": {"length": 24, "features": 840, "body_frame": False},
    }  # fmt: skip
    assert recognition_record(params) == record
    # The classifier's own keys are not recognition's: changing them leaves its record as it was.
    assert recognition_record(replace(params, train=replace(train, model="kinematic", epochs=5))) == record


def test_one_exercise_or_one_person_skips_recognition_with_the_reason():
    with pytest.raises(StageSkipped, match="every sample is squat: exercise recognition needs samples of at least two"):
        check_recognizable(np.array(["a", "b"]), np.array(["squat", "squat"]))
    with pytest.raises(StageSkipped, match=r"one person \(a\): exercise recognition cannot be judged"):
        check_recognizable(np.array(["a", "a"]), np.array(["squat", "lunge"]))
    check_recognizable(np.array(["a", "b"]), np.array(["squat", "lunge"]))
