"""Tests of inference anyone can call (``formset.models``): a version's model files loaded
safely and applied to built samples, on small synthetic squats (synthetic data, not people)."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_exercise import EXERCISE_PARAMS, RECOGNITION, two_exercises
from test_faults import FAULT_PARAMS, with_faults
from test_train import PARAMS, synthetic_set

from formset import models as inference
from formset.params import NormalizeParams, TrainParams, plain
from formset.quarantine import StageSkipped
from formset.schemas.vocab import FAULTS
from formset.tasks.exercise import recognize_exercises
from formset.tasks.faults import fault_targets, fit_fault_model
from formset.tasks.learning.families import fit_model
from formset.tasks.learning.model_files import save_model, save_skipped
from formset.tasks.learning.sequences import build_sequences

NORMALIZE = NormalizeParams(reference_window=5, max_gap_frames=5, smoothing_sigma=1.0, min_confidence=0.1)


def workspace(root, params: TrainParams) -> None:
    """A project folder holding ``params.yaml`` (its ``normalize`` group) and ``models/``."""
    (root / "models").mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump({"normalize": plain(NORMALIZE), "train": plain(params)}))


@pytest.fixture(scope="module")
def fitted():
    features, samples = synthetic_set(n_subjects=8)
    params = replace(PARAMS, model="kinematic", exercise_mode="per_exercise")
    seqs = build_sequences(features, samples, params)
    return features, samples, params, seqs, fit_model(seqs, np.arange(len(seqs.y)), params)


def test_workspace_models_predict_each_sample_as_the_mean_of_its_views(fitted, tmp_path):
    features, samples, params, seqs, model = fitted
    workspace(tmp_path, params)
    save_model(model, tmp_path / "models" / "classifier.pt", {"params": plain(params)})
    models = inference.load(inference.pull.WORKSPACE, str(tmp_path))
    assert models.rev == "workspace" and models.device == "cpu"
    assert models.normalize_params == NORMALIZE and models.train_params == params
    # Unlabeled samples are predicted too: inference needs no label.
    unlabeled = samples.assign(label=None)
    predictions = models.predict(features, unlabeled)
    assert list(predictions.columns) == list(inference.PREDICTION_COLUMNS)
    assert len(predictions) == samples["sample_id"].nunique()
    per_view = pd.DataFrame({"sample_id": seqs.sample_id, "p": model.predict(seqs, np.arange(len(seqs.y)))})
    expected = per_view.groupby("sample_id")["p"].mean()
    np.testing.assert_allclose(predictions.set_index("sample_id")["p_incorrect"], expected[predictions["sample_id"]], rtol=1e-9)
    assert (predictions["n_views"] == 2).all()
    assert (predictions["predicted"] == np.where(predictions["p_incorrect"] >= 0.5, "incorrect", "correct")).all()
    truth = samples.set_index("sample_id").loc[predictions["sample_id"], "label"].to_numpy()
    assert (predictions["predicted"].to_numpy() == truth).mean() >= 0.9  # fitted on them: a clear fault


def test_samples_of_unknown_exercise_get_a_prediction_too(fitted, tmp_path):
    features, _, params, _, model = fitted
    workspace(tmp_path, params)
    save_model(model, tmp_path / "models" / "classifier.pt", {"params": plain(params)})
    predictions = inference.load("workspace", str(tmp_path)).predict(features)
    assert (predictions["exercise"] == inference.UNKNOWN_EXERCISE).all()
    # per_exercise without a shared model: an exercise nobody trained on gets the prior.
    np.testing.assert_allclose(predictions["p_incorrect"], model.prior)


def test_a_skipped_version_says_why_and_a_pickled_object_is_refused(tmp_path):
    workspace(tmp_path, PARAMS)
    save_skipped(tmp_path / "models" / "classifier.pt", "every one of the labeled samples is correct", {"params": plain(PARAMS)})
    with pytest.raises(StageSkipped, match="no classifier to predict with: training was skipped in version workspace: every one"):
        inference.load("workspace", str(tmp_path))
    (tmp_path / "models" / "classifier.pt").unlink()
    with pytest.raises(StageSkipped, match="version workspace has no models/classifier.pt"):
        inference.load("workspace", str(tmp_path))
    torch.save({"model": np.random.default_rng(0)}, tmp_path / "models" / "classifier.pt")  # an arbitrary object
    with pytest.raises(pickle.UnpicklingError):
        inference.load("workspace", str(tmp_path))


def test_device_is_cuda_only_when_asked_and_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inference.choose_device("cuda") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inference.choose_device("cuda:0") == "cuda:0"
    assert inference.choose_device("cpu") == "cpu"
    assert inference.choose_device(None) == "cpu"


def test_an_exercise_model_names_samples_and_the_classifier_judges_them_as_named(tmp_path):
    features, samples = two_exercises()
    params = replace(EXERCISE_PARAMS, model="kinematic", exercise_mode="per_exercise")
    labeled = build_sequences(features, samples, params)
    classifier = fit_model(labeled, np.arange(len(labeled.y)), params)
    recognition = recognize_exercises(build_sequences(features, samples, params, labeled_only=False), params, RECOGNITION)
    workspace(tmp_path, params)
    save_model(classifier, tmp_path / "models" / "classifier.pt", {"params": plain(params)})
    save_model(recognition.model, tmp_path / "models" / "exercise_model.pt", {"params": plain(params)})
    models = inference.load("workspace", str(tmp_path))
    assert models.missing == {"fault_model": "version workspace has no models/fault_model.pt"}
    blind = models.predict(features)  # no catalog: the exercise is recognized, then judged
    assert list(blind.columns) == [*inference.PREDICTION_COLUMNS, "predicted_exercise", "p_exercise"]
    truth = samples.set_index("sample_id").loc[blind["sample_id"], "exercise"].to_numpy()
    assert (blind["predicted_exercise"].to_numpy() == truth).all()
    told = models.predict(features, samples)
    np.testing.assert_allclose(blind["p_incorrect"], told["p_incorrect"])  # named right: judged the same


def test_a_fault_model_adds_each_faults_probability_and_its_decision_at_the_tuned_threshold(fitted, tmp_path):
    features, samples, params, seqs, classifier = fitted
    samples = with_faults(samples.copy())
    params = replace(params, fault_model=FAULT_PARAMS.fault_model)
    faults = fit_fault_model(seqs, np.arange(len(seqs.y)), fault_targets(seqs, samples), params)
    workspace(tmp_path, params)
    save_model(classifier, tmp_path / "models" / "classifier.pt", {"params": plain(params)})
    save_model(faults, tmp_path / "models" / "fault_model.pt", {"params": plain(params)})
    predictions = inference.load("workspace", str(tmp_path)).predict(features, samples)
    assert list(predictions.columns[len(inference.PREDICTION_COLUMNS):]) == [c for f in FAULTS for c in (f"p_{f}", f)]
    knee = FAULTS.index("fault_left_knee")
    expected = predictions["p_fault_left_knee"] >= faults.thresholds[knee]
    assert (predictions["fault_left_knee"] == expected.astype(np.int8)).all()
    # A fault nobody has: its constant probability, 0.
    np.testing.assert_allclose(predictions["p_fault_neck"], 0.0)


def test_predictions_of_a_person_normalized_classifier_say_what_their_verdicts_depend_on():
    predictions = pd.DataFrame({"set_id": "s", "sample_id": ["a", "b", "c", "d"], "exercise": ["squat", "squat", "squat", "lunge"]})
    samples = pd.DataFrame({"set_id": "s", "sample_id": ["a", "b", "c", "d"], "subject_id": ["p", "p", "q", "p"]})
    assert inference.person_normalization_note(predictions, samples, "none") is None
    note = inference.person_normalization_note(predictions, samples, "rank")
    assert "train.person_normalization: rank" in note
    # q's squat and p's lunge are alone; p's two squats are read against each other.
    assert note.endswith("2 of the 4 samples are their person's only execution here and read as that person's usual one")
    # Without a catalog every sample is of one unknown person: only the lunge is alone.
    assert "1 of the 4 samples" in inference.person_normalization_note(predictions, None, "center")
    together = inference.person_normalization_note(predictions.iloc[:2], samples, "rank")
    assert "only execution" not in together
