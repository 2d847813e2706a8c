"""Tests of the sequence classifiers and their leave-people-out cross-validation, on small
synthetic squats whose class is known by construction (synthetic data, not people)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DEFAULTS

from formset.params import KinematicModelParams, MiniRocketModelParams, plain
from formset.quarantine import StageSkipped
from formset.schemas.skeleton import CORE_JOINTS
from formset.tasks.learning.conv_lstm import FormClassifier, class_weights, standardization
from formset.tasks.learning.families import (
    EXERCISE_MODES,
    MODEL_FAMILIES,
    SHARED,
    SUMMARY_STATISTICS,
    fit_model,
    kinematic_summaries,
    summary_channels,
)
from formset.tasks.learning.folds import assign_folds
from formset.tasks.learning.minirocket import dilation_schedule, fit_minirocket, transform_minirocket
from formset.tasks.learning.model_files import load_model, save_model, save_skipped
from formset.tasks.learning.sequences import build_sequences, frame_positions, input_columns, split_by_subject
from formset.tasks.train import check_trainable, roc_table, summarize_folds, train_and_evaluate

#: The seed-003 input: the core joints' x, y and their deltas (no extra joints, no angles).
POSITION_COLUMNS, DELTA_COLUMNS, _ = input_columns(replace(DEFAULTS.train, joints=(), axes=(), angles=()))

#: A small, fast architecture on seed 003's inputs (the core joints' x and y); the real one
#: comes from params.yaml.
PARAMS = replace(
    DEFAULTS.train,
    seed=7,
    threads=1,
    views=("front", "kinect"),
    joints=(),
    axes=(),
    angles=(),
    model="conv_lstm",
    exercise_mode="input",
    view_fusion="average",
    person_normalization="none",
    body_frame=False,
    cv_folds=4,
    kinematic=KinematicModelParams(C=1.0),
    minirocket=MiniRocketModelParams(length=24, features=840, C=0.1),
    validation_subject_fraction=0.0,
    patience=3,
    max_frames=24,
    epochs=8,
    batch_size=8,
    learning_rate=0.01,
    dropout=0.1,
    conv_filters=(8, 16, 16),
    conv_kernels=(5, 3, 3),
    lstm_units=12,
    dense_units=8,
)

#: Standing pose of the core joints, (x, y) in torso lengths from the mid-hip.
STANDING = {
    "neck": (0.0, 1.0),
    "mid_hip": (0.0, 0.0),
    "left_shoulder": (0.3, 1.0),
    "right_shoulder": (-0.3, 1.0),
    "left_hip": (0.15, 0.0),
    "right_hip": (-0.15, 0.0),
    "left_knee": (0.18, -0.9),
    "right_knee": (-0.18, -0.9),
    "left_ankle": (0.18, -1.8),
    "right_ankle": (-0.18, -1.8),
}
#: The synthetic fault: an incorrect squat has its left knee this far out (x, torso lengths).
KNEE_OFFSET = 0.4
#: Frame rate of the synthetic sequences, frames per second.
FPS = 30.0


def synthetic_squat(rng: np.random.Generator, n_frames: int, incorrect: bool) -> np.ndarray:
    """Synthetic positions (frame, core joint, xy): one squat, everything above the ankles
    dips 0.5 torso lengths; an incorrect one has the left knee KNEE_OFFSET out."""
    pose = np.array([STANDING[j] for j in CORE_JOINTS])
    dip = 0.25 * (1 - np.cos(np.linspace(0, 2 * np.pi, n_frames)))
    moving = np.array([not j.endswith("ankle") for j in CORE_JOINTS])
    points = np.repeat(pose[np.newaxis], n_frames, axis=0)
    points[:, moving, 1] -= dip[:, np.newaxis]
    if incorrect:
        points[:, CORE_JOINTS.index("left_knee"), 0] += KNEE_OFFSET
    return points + rng.normal(0, 0.02, points.shape)


def synthetic_set(n_subjects: int = 20, samples_per_subject: int = 1, seed: int = 0):
    """Synthetic FEATURES and SAMPLES: odd subjects squat incorrectly, each sample in two views."""
    rng = np.random.default_rng(seed)
    frames, catalog = [], []
    for subject in range(n_subjects):
        incorrect = subject % 2 == 1
        label = "incorrect" if incorrect else "correct"
        for k in range(samples_per_subject):
            sample_id = f"p{subject:02d}_{k}"
            catalog.append(("synthetic", sample_id, f"p{subject:02d}", "squat", label))
            for view in PARAMS.views:
                points = synthetic_squat(rng, int(rng.integers(16, 32)), incorrect)
                flat = points.reshape(len(points), -1)  # joint-major (x, y), as POSITION_COLUMNS
                deltas = np.vstack([np.full((1, flat.shape[1]), np.nan), np.diff(flat, axis=0)])
                table = pd.DataFrame(np.hstack([flat, deltas]), columns=[*POSITION_COLUMNS, *DELTA_COLUMNS])
                table.insert(0, "time_s", np.arange(len(points)) / FPS)
                table.insert(0, "frame", np.arange(len(points)))
                table.insert(0, "view", view)
                table.insert(0, "sample_id", sample_id)
                table.insert(0, "set_id", "synthetic")
                frames.append(table)
    samples = pd.DataFrame(catalog, columns=["set_id", "sample_id", "subject_id", "exercise", "label"])
    return pd.concat(frames, ignore_index=True), samples


@pytest.fixture(scope="module")
def trained():
    features, samples = synthetic_set(samples_per_subject=2)
    return features, samples, train_and_evaluate(features, samples, PARAMS)


def test_split_holds_out_whole_subjects_of_both_classes_deterministically():
    subjects = np.repeat([f"p{i}" for i in range(12)], 3)
    labels = np.repeat(np.arange(12) % 2, 3)
    train, test = split_by_subject(subjects, 0.25, seed=3, labels=labels)
    assert (train ^ test).all()
    assert not set(subjects[train]) & set(subjects[test])
    assert len(set(subjects[test])) == 4  # 0.25 of 6 rounds to 2, per class
    assert sorted(set(subjects[test])) == ["p2", "p5", "p8", "p9"]  # seed 3's draw, stratum by stratum
    assert set(labels[test]) == {0, 1}
    again_train, again_test = split_by_subject(subjects, 0.25, seed=3, labels=labels)
    np.testing.assert_array_equal(test, again_test)
    draws = {tuple(split_by_subject(subjects, 0.25, seed=s, labels=labels)[1]) for s in range(5)}
    assert len(draws) > 1  # the seed matters


def test_split_keeps_a_lone_subject_of_a_class_in_training():
    subjects = np.array(["a", "b", "c", "d"])
    labels = np.array([0, 0, 0, 1])
    train, test = split_by_subject(subjects, 0.5, seed=0, labels=labels)
    assert train[3] and test.sum() == 2  # 0.5 of the three correct subjects rounds to 2
    assert subjects[test].tolist() == ["a", "c"]  # seed 0's draw: a published split does not move


def test_split_needs_two_subjects():
    with pytest.raises(ValueError, match="at least two subjects"):
        split_by_subject(np.array(["a", "a"]), 0.25, seed=0)


def test_frame_positions_keep_short_sequences_and_subsample_long_ones():
    positions, lengths = frame_positions(np.array([3, 9]), max_frames=5)
    np.testing.assert_array_equal(lengths, [3, 5])
    np.testing.assert_array_equal(positions, [[0, 1, 2, 0, 0], [0, 2, 4, 6, 8]])


def test_build_sequences_layout_fill_and_labels():
    features, samples = synthetic_set(n_subjects=2)
    samples.loc[len(samples)] = ("synthetic", "unlabeled", "p99", "squat", None)
    unlabeled = features[features["sample_id"] == "p00_0"].assign(sample_id="unlabeled")
    features = pd.concat([features, unlabeled], ignore_index=True)
    first_front = (features["sample_id"] == "p01_0") & (features["view"] == "front")
    knee_x = features.loc[first_front, "left_knee_x"].to_numpy()
    features.loc[first_front & features["frame"].isin([0, 3]), "left_knee_x"] = np.nan

    seqs = build_sequences(features, samples, replace(PARAMS, max_frames=100))
    assert len(seqs.y) == 4  # 2 labeled samples x 2 views; the unlabeled one is left out
    assert len(seqs.feature_names) == seqs.X.shape[2] == 2 * 2 * len(CORE_JOINTS) + 2
    row = np.flatnonzero((seqs.sample_id == "p01_0") & (seqs.view == "front"))[0]
    assert seqs.y[row] == 1 and seqs.subject[row] == "p01"
    n = seqs.lengths[row]
    assert n == first_front.sum() and not seqs.X[row, n:].any()
    knee = seqs.X[row, :n, seqs.feature_names.index("left_knee_x")]
    np.testing.assert_allclose(knee[[0, 3]], knee_x[[1, 2]])  # back-filled at the start, carried forward after
    np.testing.assert_allclose(knee[4:], knee_x[4:], rtol=1e-6)
    assert seqs.X[row, 0, seqs.feature_names.index("d_neck_y")] == 0  # the first delta is missing -> 0
    np.testing.assert_array_equal(seqs.X[row, :n, seqs.feature_names.index("view_front")], 1)
    np.testing.assert_array_equal(seqs.X[row, :n, seqs.feature_names.index("view_kinect")], 0)

    short = build_sequences(features, samples, replace(PARAMS, max_frames=8))
    assert short.X.shape[1] == 8 and (short.lengths == 8).all()


def test_class_weights_balance_and_refuse_a_missing_class():
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 1])).numpy(), [4 / 6, 4 / 2])
    with pytest.raises(ValueError, match="no incorrect"):
        class_weights(np.array([0, 0]))


def test_standardization_ignores_padding_and_constant_features():
    X = np.zeros((2, 4, 2), dtype=np.float32)
    X[0, :2] = [[1.0, 5.0], [3.0, 5.0]]
    X[1, :1] = [[2.0, 5.0]]
    mean, scale = standardization(X, np.array([2, 1]))
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(scale, [np.sqrt(2 / 3), 1.0])


def test_model_output_shape_and_padding_does_not_leak():
    torch.manual_seed(0)
    model = FormClassifier.from_params(tuple(f"f{i}" for i in range(6)), PARAMS).eval()
    x = torch.randn(3, 20, 6)
    lengths = torch.tensor([20, 7, 12])
    x[1, 7:] = 0
    x[2, 12:] = 0
    with torch.no_grad():
        logits = model(x, lengths)
        alone = model(x[1:2, :7], lengths[1:2])
    assert logits.shape == (3, 2)
    torch.testing.assert_close(logits[1:2], alone)


def test_cross_validation_predicts_every_sample_from_a_model_that_never_saw_its_person(trained):
    _, samples, result = trained
    predictions = result.predictions
    assert len(predictions) == len(samples) == 40 and predictions["sample_id"].is_unique
    assert sorted(predictions["fold"].unique()) == [1, 2, 3, 4]
    assert (predictions.groupby("subject_id")["fold"].nunique() == 1).all()  # a person is in one fold
    # Stratified: odd people squat incorrectly, so every fold holds both classes.
    assert (predictions.groupby("fold")["truth"].nunique() == 2).all()
    np.testing.assert_allclose(predictions["p_correct"] + predictions["p_incorrect"], 1.0)
    assert (predictions["n_views"] == 2).all()
    assert (predictions["predicted"] == np.where(predictions["p_incorrect"] >= 0.5, "incorrect", "correct")).all()


def test_metrics_are_means_and_stds_over_folds_overall_per_exercise_and_per_view(trained):
    _, _, result = trained
    metrics, predictions = result.metrics, result.predictions
    assert metrics["model"] == "conv_lstm" and metrics["folds"] == 4
    assert metrics["n_samples"] == 40 and metrics["n_subjects"] == 20
    assert metrics["accuracy"] > 0.8
    per_fold = (predictions["truth"] == predictions["predicted"]).groupby(predictions["fold"]).mean()
    assert metrics["accuracy"] == pytest.approx(per_fold.mean())
    assert metrics["accuracy_std"] == pytest.approx(per_fold.std(ddof=1))
    assert metrics["per_exercise"]["squat"] == {"accuracy": pytest.approx(per_fold.mean()),
                                                "accuracy_std": pytest.approx(per_fold.std(ddof=1)), "n_samples": 40}
    assert set(metrics["per_view"]) == {"front", "kinect"}
    assert metrics["per_view"]["front"]["n_sequences"] == 40
    assert list(result.confusion.columns) == ["actual", "predicted"] and len(result.confusion) == 40
    assert list(result.roc.columns) == ["fpr", "tpr", "threshold"]
    assert result.roc[["fpr", "tpr"]].iloc[0].tolist() == [0.0, 0.0] and result.roc[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]


def test_summary_of_hand_made_folds():
    # Fold 1: 3 of 4 right; fold 2: 1 of 2 right. Exercise a: fold 1 2/2, fold 2 0/1.
    predictions = pd.DataFrame(
        {
            "subject_id": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "exercise": ["a", "a", "b", "b", "a", "b"],
            "truth": ["correct", "incorrect", "correct", "incorrect", "correct", "incorrect"],
            "predicted": ["correct", "incorrect", "correct", "correct", "incorrect", "incorrect"],
            "p_incorrect": [0.1, 0.9, 0.2, 0.4, 0.6, 0.8],
            "fold": [1, 1, 1, 1, 2, 2],
        }
    )
    one_view = pd.DataFrame({"view": "kinect", "fold": predictions["fold"], "correct": True})
    metrics = summarize_folds(predictions, one_view, replace(PARAMS, model="kinematic", exercise_mode="input"))
    assert metrics["accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert metrics["accuracy_std"] == pytest.approx(np.std([0.75, 0.5], ddof=1))
    assert metrics["per_exercise"]["a"]["accuracy"] == pytest.approx((1.0 + 0.0) / 2)
    assert metrics["per_exercise"]["b"] == {"accuracy": pytest.approx((0.5 + 1.0) / 2),
                                            "accuracy_std": pytest.approx(np.std([0.5, 1.0], ddof=1)), "n_samples": 3}
    assert metrics["min_exercise_accuracy"] == pytest.approx(0.5)
    assert metrics["auc"] == pytest.approx((1.0 + 1.0) / 2)  # both folds rank every incorrect above every correct
    assert metrics["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert "per_view" not in metrics  # one view: nothing to break down


def test_folds_keep_people_whole_stratify_and_shrink_to_the_people_there_are():
    subjects = np.repeat([f"p{i}" for i in range(10)], 4)
    strata = np.tile(["a/correct", "a/incorrect", "b/correct", "b/incorrect"], 10)
    fold = assign_folds(subjects, strata, n_folds=5, seed=7)
    assert sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    assert all(len(np.unique(fold[subjects == s])) == 1 for s in np.unique(subjects))
    assert (np.bincount(fold) == 8).all()  # 2 people each
    np.testing.assert_array_equal(fold, assign_folds(subjects, strata, n_folds=5, seed=7))
    assert len(np.unique(assign_folds(subjects[:12], strata[:12], n_folds=5, seed=7))) == 3  # 3 people: 3 folds
    # Every stratum smaller than the folds (5 samples of 3 people): people only, still whole.
    few = assign_folds(np.array(["a", "b", "b", "c", "c"]), np.array(["s/c", "s/i", "l/i", "l/i", "s/c"]), n_folds=5, seed=7)
    assert sorted(np.unique(few)) == [0, 1, 2] and few[1] == few[2] and few[3] == few[4]
    with pytest.raises(ValueError, match="two folds of people: 1 people"):
        assign_folds(np.array(["p0", "p0"]), np.array(["a", "b"]), n_folds=5, seed=7)


def test_roc_of_a_perfect_ranking_and_of_one_class():
    predictions = pd.DataFrame({"truth": ["correct", "incorrect", "incorrect"], "p_incorrect": [0.2, 0.7, 0.9]})
    roc = roc_table(predictions)
    assert roc[["fpr", "tpr"]].values.tolist() == [[0.0, 0.0], [0.0, 0.5], [0.0, 1.0], [1.0, 1.0]]
    assert roc["threshold"].max() <= 1.0
    assert roc_table(predictions.assign(truth="correct")).empty


@pytest.mark.parametrize("family", MODEL_FAMILIES)
@pytest.mark.parametrize("mode", EXERCISE_MODES)
def test_every_family_learns_the_clear_fault_and_reloads_identically(family, mode, tmp_path):
    features, samples = synthetic_set()
    params = replace(PARAMS, model=family, exercise_mode=mode)
    result = train_and_evaluate(features, samples, params)
    assert result.metrics["accuracy"] >= 0.9 - 1e-9, result.metrics  # 18 of 20 right: a mean over folds, in floats
    assert result.model.family == family and result.model.exercise_mode == mode
    save_model(result.model, tmp_path / "model.pt", {"params": plain(params)})
    loaded, meta = load_model(tmp_path / "model.pt")
    assert meta == {"params": plain(params)}
    seqs = build_sequences(features, samples, params)
    everyone = np.arange(len(seqs.y))
    np.testing.assert_allclose(loaded.predict(seqs, everyone), result.model.predict(seqs, everyone), rtol=1e-6)


def test_per_exercise_models_fall_back_to_a_shared_one_and_to_the_prior():
    features, samples = synthetic_set(n_subjects=12)
    # p02 and p04 (even: correct) do lunges: the lunges have one class.
    samples.loc[samples["subject_id"].isin(["p02", "p04"]), "exercise"] = "lunge"
    params = replace(PARAMS, model="kinematic", exercise_mode="per_exercise")
    seqs = build_sequences(features, samples, params)
    model = fit_model(seqs, np.arange(len(seqs.y)), params)
    assert set(model.models) == {"squat", SHARED}  # lunges have one class: the shared model serves them
    assert model.prior == pytest.approx(seqs.y.mean())
    unseen = replace(seqs, exercise=np.full(len(seqs.y), "plank", dtype=object))
    only_squat = fit_model(seqs, np.flatnonzero(seqs.exercise == "squat"), params)
    assert set(only_squat.models) == {"squat"}
    np.testing.assert_allclose(only_squat.predict(unseen, np.arange(4)), only_squat.prior)


def test_kinematic_summaries_of_a_known_sequence():
    features, samples = synthetic_set(n_subjects=2)
    seqs = build_sequences(features, samples, PARAMS)
    row = 0
    n = seqs.lengths[row]
    summaries = kinematic_summaries(seqs, np.array([row]))[0]
    channels = summary_channels(seqs)
    assert [seqs.feature_names[c] for c in channels] == POSITION_COLUMNS  # no deltas, no view one-hot
    assert len(summaries) == len(channels) * len(SUMMARY_STATISTICS) + 1
    neck_y = seqs.X[row, :n, seqs.feature_names.index("neck_y")].astype(np.float64)
    at = POSITION_COLUMNS.index("neck_y") * len(SUMMARY_STATISTICS)
    expected = [neck_y.min(), neck_y.max(), np.ptp(neck_y), neck_y.mean(), neck_y.std(),
                neck_y.argmin() / (n - 1), neck_y.argmax() / (n - 1)]
    np.testing.assert_allclose(summaries[at : at + len(SUMMARY_STATISTICS)], expected, rtol=1e-6)
    frames = features[(features["sample_id"] == seqs.sample_id[row]) & (features["view"] == seqs.view[row])]
    assert summaries[-1] == pytest.approx(np.ptp(frames["time_s"]))  # the duration of every frame, seconds


def test_minirocket_dilations_features_and_determinism():
    dilations, per_dilation = dilation_schedule(100, 10_000)
    assert dilations[0] == 1 and dilations[-1] == int(2 ** np.log2(99 / 8))  # 12: the kernel spans the series
    assert per_dilation.sum() == 10_000 // 84 and len(np.unique(dilations)) == len(dilations)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3, 40))
    fitted = fit_minirocket(X, 840, seed=1)
    features = transform_minirocket(X, fitted)
    assert features.shape == (6, 840) and fitted.n_features == 840
    assert features.min() >= 0.0 and features.max() <= 1.0
    np.testing.assert_array_equal(features, transform_minirocket(X, fit_minirocket(X, 840, seed=1)))
    assert not np.array_equal(features, transform_minirocket(X, fit_minirocket(X, 840, seed=2)))
    # Biases are quantiles of the outputs on training series: the features of the training
    # series spread over (0, 1) rather than sit at 0 or 1.
    assert 0.3 < features.mean() < 0.7


def test_same_seed_gives_same_results(trained):
    features, samples, result = trained
    again = train_and_evaluate(features, samples, PARAMS)
    assert again.metrics == result.metrics
    pd.testing.assert_frame_equal(again.predictions, result.predictions)


def test_early_stopping_runs_and_stays_deterministic():
    features, samples = synthetic_set(n_subjects=12)
    params = replace(PARAMS, validation_subject_fraction=0.25, epochs=4, cv_folds=3)
    assert train_and_evaluate(features, samples, params).metrics == train_and_evaluate(features, samples, params).metrics


# --- what the data does not allow: the stage skips with a reason --------------------------------


def test_no_labeled_sample_skips_training_with_the_reason():
    features, samples = synthetic_set(n_subjects=2)
    samples["label"] = None
    with pytest.raises(StageSkipped, match="no labeled samples .* nothing to train on"):
        train_and_evaluate(features, samples, PARAMS)


def test_one_person_skips_training_with_the_reason():
    features, samples = synthetic_set(n_subjects=2)
    samples["subject_id"] = "p00"
    features["subject_id"] = "p00"
    with pytest.raises(StageSkipped, match=r"come from one person \(p00\).*at least one more person"):
        train_and_evaluate(features, samples, PARAMS)


def test_one_class_skips_training_and_names_the_missing_class():
    features, samples = synthetic_set(n_subjects=3)
    samples["label"] = "correct"
    with pytest.raises(StageSkipped, match="is correct: a classifier needs incorrect examples too"):
        train_and_evaluate(features, samples, PARAMS)
    samples["label"] = "incorrect"
    with pytest.raises(StageSkipped, match="is incorrect: a classifier needs correct examples too"):
        train_and_evaluate(features, samples, PARAMS)


def test_training_people_without_a_class_skip_after_the_split():
    # Two people, one all correct and one all incorrect: whoever is held out takes a class away.
    check_trainable(np.array(["a", "b"]), np.array([0, 1]))
    with pytest.raises(StageSkipped, match="every one of the training people .* is incorrect"):
        check_trainable(np.array(["b", "b"]), np.array([1, 1]), "the training people (the others are held out)", min_people=1)
    check_trainable(np.array(["b", "b"]), np.array([0, 1]), "the training people", min_people=1)  # one person trains


def test_a_skipped_model_slot_says_why_when_loaded(tmp_path):
    save_skipped(tmp_path / "classifier.pt", "the labeled samples come from one person (p00)", {"params": plain(PARAMS)})
    with pytest.raises(StageSkipped, match=r"holds no model: training was skipped \(the labeled samples come from one person"):
        load_model(tmp_path / "classifier.pt")


def test_early_stopping_stops_patience_epochs_after_the_best_and_keeps_its_weights(monkeypatch):
    from formset.tasks.learning import conv_lstm

    features, samples = synthetic_set(n_subjects=8, samples_per_subject=4, seed=1)
    params = replace(PARAMS, validation_subject_fraction=0.25, epochs=30, patience=3, learning_rate=0.003)
    seqs = build_sequences(features, samples, params)
    everyone = np.ones(len(seqs.y), dtype=bool)
    _, held = split_by_subject(seqs.subject, params.validation_subject_fraction, params.seed, seqs.y)
    # One in four of the validation people's sequences carries the other label: the majority,
    # and so the split, stays; the validation loss falls while the model is unsure and rises
    # once it grows confident on the clear fault.
    flipped = np.flatnonzero(held)[::4]
    seqs.y[flipped] = 1 - seqs.y[flipped]
    np.testing.assert_array_equal(split_by_subject(seqs.subject, 0.25, params.seed, seqs.y)[1], held)

    losses, weights = [], []
    real_mean_loss = conv_lstm._mean_loss

    def recording_mean_loss(model, seqs, index, loss_fn):
        loss = real_mean_loss(model, seqs, index, loss_fn)
        losses.append(loss)
        weights.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        return loss

    monkeypatch.setattr(conv_lstm, "_mean_loss", recording_mean_loss)
    model = conv_lstm.train_classifier(seqs, everyone, params)

    best = int(np.argmin(losses))  # 0-based epoch of the lowest validation loss
    assert 0 < best and len(losses) == best + 1 + params.patience < params.epochs
    assert min(losses[best + 1 :]) > losses[best]
    kept = model.state_dict()
    assert all(torch.equal(kept[name], tensor) for name, tensor in weights[best].items())
    assert not all(torch.equal(kept[name], tensor) for name, tensor in weights[-1].items())


def test_the_reasons_for_skipping_are_whole_sentences():
    with pytest.raises(StageSkipped) as raised:
        check_trainable(np.array(["p01", "p01"]), np.array([0, 1]))
    assert raised.value.reason == (
        "the labeled samples come from one person (p01): a model cannot be evaluated on people it has not seen; "
        "add labeled samples of at least one more person"
    )
    with pytest.raises(StageSkipped) as raised:
        check_trainable(np.array(["p01", "p02"]), np.array([0, 0]))
    assert raised.value.reason == (
        "every one of the labeled samples is correct: a classifier needs incorrect examples too; "
        "add incorrect samples of at least two people"
    )
    features, samples = synthetic_set(n_subjects=2)
    with pytest.raises(StageSkipped) as raised:
        build_sequences(features, samples.assign(label=None), PARAMS)
    assert raised.value.reason == (
        "no labeled samples (label correct or incorrect) with features in the views front, kinect: "
        "nothing to train on; label some samples or add a labeled set"
    )


def test_two_people_are_split_one_and_one():
    train, test = split_by_subject(np.array(["a", "a", "b"]), 0.25, seed=0, labels=np.array([0, 0, 1]))
    assert train.sum() + test.sum() == 3 and set(np.array(["a", "a", "b"])[test]) in ({"a"}, {"b"})
    assert len(set(np.array(["a", "a", "b"])[train])) == 1
