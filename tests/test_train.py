"""Tests of the sequence classifier on small synthetic squats whose class is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from formset.quarantine import StageSkipped
from formset.schemas.skeleton import CORE_JOINTS
from formset.tasks.train import (
    FormClassifier,
    build_sequences,
    check_trainable,
    class_weights,
    evaluate,
    frame_positions,
    load_model,
    predict_proba,
    save_model,
    save_skipped,
    split_by_subject,
    standardization,
    input_columns,
    train_and_evaluate,
)

#: The seed-003 input: the core joints' x, y and their deltas (no extra joints, no angles).
POSITION_COLUMNS, DELTA_COLUMNS, _ = input_columns({})

#: A small, fast architecture; the real one comes from params.yaml.
PARAMS = {
    "seed": 7,
    "threads": 1,
    "views": ["front", "kinect"],
    "test_subject_fraction": 0.25,
    "validation_subject_fraction": 0.0,
    "patience": 3,
    "max_frames": 24,
    "epochs": 8,
    "batch_size": 8,
    "learning_rate": 0.01,
    "dropout": 0.1,
    "conv_filters": [8, 16, 16],
    "conv_kernels": [5, 3, 3],
    "lstm_units": 12,
    "dense_units": 8,
}

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
            for view in PARAMS["views"]:
                points = synthetic_squat(rng, int(rng.integers(16, 32)), incorrect)
                flat = points.reshape(len(points), -1)  # joint-major (x, y), as POSITION_COLUMNS
                deltas = np.vstack([np.full((1, flat.shape[1]), np.nan), np.diff(flat, axis=0)])
                table = pd.DataFrame(np.hstack([flat, deltas]), columns=[*POSITION_COLUMNS, *DELTA_COLUMNS])
                table.insert(0, "frame", np.arange(len(points)))
                table.insert(0, "view", view)
                table.insert(0, "sample_id", sample_id)
                table.insert(0, "set_id", "synthetic")
                frames.append(table)
    samples = pd.DataFrame(catalog, columns=["set_id", "sample_id", "subject_id", "exercise", "label"])
    return pd.concat(frames, ignore_index=True), samples


@pytest.fixture(scope="module")
def trained():
    features, samples = synthetic_set()
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

    seqs = build_sequences(features, samples, {**PARAMS, "max_frames": 100})
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

    short = build_sequences(features, samples, {**PARAMS, "max_frames": 8})
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


def test_learns_a_clear_fault_on_held_out_subjects(trained):
    _, _, (model, metrics, confusion) = trained
    assert metrics["accuracy"] > 0.8
    assert metrics["n_test_subjects"] == 4 and metrics["n_train_subjects"] == 16
    assert metrics["n_test_samples"] == len(confusion) == 4
    assert {"precision", "recall", "f1", "accuracy_front", "accuracy_kinect"} <= metrics.keys()
    assert list(confusion.columns) == ["actual", "predicted"]
    assert set(confusion["actual"]) == {"correct", "incorrect"}


def test_same_seed_gives_same_metrics(trained):
    features, samples, (_, metrics, confusion) = trained
    _, again, again_confusion = train_and_evaluate(features, samples, PARAMS)
    assert again == metrics
    pd.testing.assert_frame_equal(again_confusion, confusion)


def test_early_stopping_runs_and_stays_deterministic():
    features, samples = synthetic_set(n_subjects=12)
    params = {**PARAMS, "validation_subject_fraction": 0.25, "epochs": 4}
    assert train_and_evaluate(features, samples, params)[1] == train_and_evaluate(features, samples, params)[1]


def test_save_and_load_give_identical_predictions(trained, tmp_path):
    features, samples, (model, metrics, _) = trained
    seqs = build_sequences(features, samples, PARAMS)
    meta = {"params": PARAMS, "metrics": metrics}
    save_model(model, tmp_path / "model.pt", meta)
    loaded, loaded_meta = load_model(tmp_path / "model.pt")
    assert loaded_meta == meta
    assert loaded.config["feature_names"] == list(seqs.feature_names)
    np.testing.assert_array_equal(
        predict_proba(loaded, seqs.X, seqs.lengths), predict_proba(model, seqs.X, seqs.lengths)
    )
    everyone = np.ones(len(seqs.y), dtype=bool)
    assert evaluate(loaded, seqs, everyone)[0] == evaluate(model, seqs, everyone)[0]


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
    save_skipped(tmp_path / "classifier.pt", "the labeled samples come from one person (p00)", {"params": PARAMS})
    with pytest.raises(StageSkipped, match=r"holds no model: training was skipped \(the labeled samples come from one person"):
        load_model(tmp_path / "classifier.pt")


def test_early_stopping_stops_patience_epochs_after_the_best_and_keeps_its_weights(monkeypatch):
    from formset.tasks import train

    features, samples = synthetic_set(n_subjects=8, samples_per_subject=4, seed=1)
    params = {**PARAMS, "validation_subject_fraction": 0.25, "epochs": 30, "patience": 3, "learning_rate": 0.003}
    seqs = build_sequences(features, samples, params)
    everyone = np.ones(len(seqs.y), dtype=bool)
    _, held = split_by_subject(seqs.subject, params["validation_subject_fraction"], params["seed"], seqs.y)
    # One in four of the validation people's sequences carries the other label: the majority,
    # and so the split, stays; the validation loss falls while the model is unsure and rises
    # once it grows confident on the clear fault.
    flipped = np.flatnonzero(held)[::4]
    seqs.y[flipped] = 1 - seqs.y[flipped]
    np.testing.assert_array_equal(split_by_subject(seqs.subject, 0.25, params["seed"], seqs.y)[1], held)

    losses, weights = [], []
    real_mean_loss = train._mean_loss

    def recording_mean_loss(model, seqs, index, loss_fn):
        loss = real_mean_loss(model, seqs, index, loss_fn)
        losses.append(loss)
        weights.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        return loss

    monkeypatch.setattr(train, "_mean_loss", recording_mean_loss)
    model = train.train_classifier(seqs, everyone, params)

    best = int(np.argmin(losses))  # 0-based epoch of the lowest validation loss
    assert 0 < best and len(losses) == best + 1 + params["patience"] < params["epochs"]
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
