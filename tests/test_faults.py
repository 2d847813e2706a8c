"""Tests of the body-part fault heads (``tasks.faults``) on small synthetic squats whose
faults are known by construction (synthetic data, not people)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from test_train import PARAMS, synthetic_set

from formset.params import FaultModelParams
from formset.quarantine import StageSkipped
from formset.schemas.vocab import FAULTS
from formset.tasks.faults import (
    FaultModel,
    best_f1_threshold,
    check_fault_labels,
    evaluate_faults,
    f1_at_thresholds,
    fault_figures,
    fault_targets,
)
from formset.tasks.learning.sequences import build_sequences

FAULT_PARAMS = replace(PARAMS, cv_folds=3, fault_model=FaultModelParams(length=24, features=840, inner_folds=2))
KNEE = FAULTS.index("fault_left_knee")
TORSO = FAULTS.index("fault_torso")


def with_faults(samples: pd.DataFrame) -> pd.DataFrame:
    """Incorrect squats have the left knee fault (synthetic_set's only fault) and no other,
    except that their torso column is left empty; correct ones leave every column empty."""
    incorrect = samples["label"] == "incorrect"
    for fault in FAULTS:
        samples[fault] = pd.array(np.where(incorrect, int(fault == "fault_left_knee"), pd.NA), dtype="Int8")
    samples.loc[incorrect, "fault_torso"] = pd.NA
    return samples


def test_targets_count_an_empty_fault_of_a_correct_sample_as_none_and_of_an_incorrect_as_unknown():
    features, samples = synthetic_set(n_subjects=4)
    seqs = build_sequences(features, samples, PARAMS)
    targets = fault_targets(seqs, with_faults(samples))
    incorrect = seqs.y == 1
    assert (targets[incorrect, KNEE] == 1).all() and (targets[~incorrect] == 0).all()
    assert np.isnan(targets[incorrect, TORSO]).all() and (targets[incorrect, FAULTS.index("fault_neck")] == 0).all()


def test_best_f1_threshold_separates_and_defaults_without_positives():
    scores = np.array([0.1, 0.2, 0.35, 0.4, 0.9])
    assert best_f1_threshold(scores, np.array([0, 0, 0, 1, 1], bool)) == pytest.approx(0.375)
    assert best_f1_threshold(scores, np.array([0, 0, 1, 1, 1], bool)) == pytest.approx(0.275)
    assert best_f1_threshold(scores, np.array([1, 0, 0, 0, 1], bool)) == 0.5  # 0.5 and 0.65 both best (F1 2/3)
    assert best_f1_threshold(scores, np.zeros(5, bool)) == 0.5


def test_f1_at_thresholds_counts_ties_as_positive_and_is_zero_without_predictions():
    scores = np.array([0.1, 0.4, 0.4, 0.9])
    truth = np.array([0, 1, 0, 1], bool)
    # >= 0.4: TP 2, FP 1 -> 4/5; >= 0.9: TP 1 -> 2/3; >= 0.05: every score, TP 2, FP 2 -> 4/6;
    # above every score: nothing predicted -> 0; no positive at all -> 0, not a division by 0.
    f1 = f1_at_thresholds(scores, truth, np.array([0.4, 0.9, 0.05, 0.95]))
    assert f1 == pytest.approx([0.8, 2 / 3, 2 / 3, 0.0])
    assert f1_at_thresholds(scores, np.zeros(4, bool), np.array([0.5])) == pytest.approx([0.0])


def test_figures_per_fault_leave_unknowns_out():
    truth = pd.DataFrame(np.full((4, len(FAULTS)), 0.0))
    truth[KNEE] = [1, 1, 0, 0]
    truth[TORSO] = [1, np.nan, np.nan, 0]
    p = pd.DataFrame(np.full((4, len(FAULTS)), 0.1))
    p[KNEE] = [0.9, 0.2, 0.6, 0.1]
    p[TORSO] = [0.8, 0.1, 0.9, 0.2]
    figures = fault_figures(p, truth, np.full(len(FAULTS), 0.5))
    knee, torso = figures["per_fault"]["fault_left_knee"], figures["per_fault"]["fault_torso"]
    assert (knee["precision"], knee["recall"], knee["support"], knee["n_known"]) == (0.5, 0.5, 2, 4)
    assert knee["auc"] == pytest.approx(0.75)
    assert (torso["f1"], torso["n_known"], torso["auc"]) == (1.0, 2, 1.0)
    assert figures["per_fault"]["fault_neck"]["auc"] is None
    assert figures["macro_f1"] == pytest.approx((0.5 + 1.0) / 2)  # faults without positives do not count


def test_heads_find_the_fault_on_unseen_people_and_reload_identically():
    features, samples = synthetic_set(n_subjects=9)
    samples = with_faults(samples)
    seqs = build_sequences(features, samples, FAULT_PARAMS)
    result = evaluate_faults(seqs, samples, FAULT_PARAMS)
    knee = result.metrics["per_fault"]["fault_left_knee"]
    assert knee["f1"] >= 0.6 and knee["auc"] >= 0.9 and knee["support"] == 4  # 9 people: a small test
    assert result.metrics["per_fault"]["fault_torso"]["n_known"] == 5  # the 4 incorrect samples' torso unknown
    assert result.metrics["macro_f1"] == knee["f1"]  # the only fault with positives
    assert list(result.predictions.columns) == ["set_id", "sample_id", *(f"p_{f}" for f in FAULTS)]
    reloaded = FaultModel.from_state(result.model.state())
    rows = np.arange(len(seqs.y))
    np.testing.assert_allclose(reloaded.predict_proba(seqs, rows), result.model.predict_proba(seqs, rows))
    np.testing.assert_array_equal(reloaded.thresholds, result.model.thresholds)


def test_no_fault_labels_skip_with_the_reason():
    targets = np.full((4, len(FAULTS)), np.nan)
    with pytest.raises(StageSkipped, match="no fault column has both faulty and fault-free samples"):
        check_fault_labels(targets, np.array(["a", "a", "b", "b"]))
    targets[:, KNEE] = [1, 0, 1, 0]
    check_fault_labels(targets, np.array(["a", "a", "b", "b"]))
    with pytest.raises(StageSkipped):
        check_fault_labels(targets, np.array(["a", "a", "a", "a"]))
