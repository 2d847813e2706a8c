"""Inference anyone can call: a published version's models applied to samples already built,
or to a keypoints table.

``load(rev)`` reads the model files of one version (the latest published tag by default,
``"workspace"`` for the files the last local build wrote) with torch's safe loader
(``weights_only=True``: tensors and plain values only, nothing executed), and returns a
frozen ``Models``. ``Models.predict`` takes the feature table (``FEATURES`` rows, what the
normalize stage writes) of any samples and returns one row per sample; ``Models.
predict_keypoints`` first normalizes a keypoints table (``KEYPOINTS`` rows) with the
version's own ``normalize`` parameters.

The models of a version, each a file the train stage writes (``dvc.yaml`` outputs, pulled by
name with ``formset pull NAME``):

- ``classifier`` (``models/classifier.pt``): ``p(incorrect)`` of a sample, the mean over its
  views (``tasks.learning.families``).
- ``exercise_model`` (``models/exercise_model.pt``): which exercise a keypoint sequence
  shows (``tasks.exercise``); a sample's is the most probable over its views.
- ``fault_model`` (``models/fault_model.pt``): the probability of each body-part fault
  (``tasks.faults``), the mean over the views, and 0/1 at the threshold tuned for it.

A version whose train stage skipped holds no classifier: ``load`` says why. A version
without an exercise model (skipped, or older) predicts without its columns, and
``Models.missing`` says why.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from formset import catalog, pull
from formset.params import NormalizeParams, TrainParams, group
from formset.quarantine import Rejection, StageSkipped
from formset.tasks.exercise import ExerciseModel, per_sample_exercise
from formset.tasks.faults import FaultModel, sample_mean
from formset.tasks.learning.families import TrainedModel
from formset.tasks.learning.sequences import SAMPLE_KEY, Sequences, build_sequences
from formset.tasks.normalize import features_for_samples
from formset.tasks.train import DECISION_THRESHOLD

#: Model name (``formset pull NAME``) -> its path in a version.
MODEL_FILES: dict[str, str] = {model.name: model.path for model in catalog.MODELS}
#: Where a sample's exercise is unknown (a keypoints table without an ``exercise`` column).
UNKNOWN_EXERCISE = ""
#: The columns ``Models.predict`` always returns, in order; then those of the models present.
PREDICTION_COLUMNS: tuple[str, ...] = ("set_id", "sample_id", "exercise", "n_views", "p_incorrect", "predicted")


def choose_device(requested: str | None) -> str:
    """``requested`` (``train.device``) when it is a CUDA device and one is present, else ``cpu``."""
    if requested and str(requested).startswith("cuda") and torch.cuda.is_available():
        return str(requested)
    return "cpu"


def read_payload(data: bytes) -> dict:
    """A model file's contents, loaded safely (``weights_only=True``)."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _version_files(rev: str | None, repo: str | None) -> tuple[str, dict[str, bytes | None], dict]:
    """``(label, name -> file bytes or None, params.yaml)`` of one version."""
    local = pull.local_path(pull.project_repo(repo))
    if rev == pull.WORKSPACE and local is not None:
        files = {name: (local / path).read_bytes() if (local / path).is_file() else None for name, path in MODEL_FILES.items()}
        params = yaml.safe_load((local / "params.yaml").read_text())
        return pull.WORKSPACE, files, params
    source = pull.resolve(rev, repo)
    fs = pull.version_fs(source)
    known = pull.tables_at(fs, source)
    files = {}
    for name, path in MODEL_FILES.items():
        if name not in known:
            files[name] = None
            continue
        with pull.data_of(name, path, source), fs.open(path) as handle:
            files[name] = handle.read()
    return source.label, files, yaml.safe_load(fs.read_text("params.yaml"))


@dataclass(frozen=True)
class Models:
    """The models of one version, ready to predict.

    Attributes
    ----------
    rev
        The version: a tag, a git revision, or ``"workspace"``.
    classifier
        The correct / incorrect model.
    exercise_model, fault_model
        None when the version has none (``missing`` says why).
    train_params, normalize_params
        The ``train`` group the classifier was fitted with and the version's ``normalize``
        group (how ``predict_keypoints`` turns keypoints into features).
    device
        Where torch models run: ``train.device`` when it is CUDA and one is present, else cpu.
    missing
        Model name -> why this version has no such model.
    """

    rev: str
    classifier: TrainedModel
    exercise_model: ExerciseModel | None
    fault_model: FaultModel | None
    train_params: TrainParams
    normalize_params: NormalizeParams
    device: str = "cpu"
    missing: dict[str, str] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame, samples: pd.DataFrame | None = None) -> pd.DataFrame:
        """One prediction per sample of ``features``.

        Parameters
        ----------
        features
            ``FEATURES`` rows of any samples and views; views not in ``train.views`` are not read.
        samples
            Optional ``set_id``, ``sample_id``, ``exercise`` (and ``subject_id``) per sample:
            the classifier then judges each sample as the exercise it says. Without it, or
            for an exercise left empty, the exercise model's prediction is used where the
            version has one.

        Returns
        -------
        pandas.DataFrame
            ``PREDICTION_COLUMNS`` (``exercise`` as given, empty if not; ``predicted``
            ``incorrect`` at ``p_incorrect`` >= 0.5), then with an exercise model
            ``predicted_exercise`` and ``p_exercise`` (its mean probability over the
            views), then with a fault model per fault ``p_<fault>`` (mean over the views)
            and ``<fault>`` (1 at or above its tuned threshold). Sorted by set_id, sample_id.

        Raises
        ------
        StageSkipped
            No sample of ``features`` has a view the models read.
        """
        catalog = sample_catalog(features, samples)
        seqs = build_sequences(features, catalog, self.train_params, labeled_only=False)
        rows = np.arange(len(seqs.y))
        table = pd.DataFrame({"set_id": seqs.set_id, "sample_id": seqs.sample_id, "exercise": seqs.exercise})
        judged_as = seqs.exercise
        named = None
        if self.exercise_model is not None:
            probabilities = self.exercise_model.predict_proba(seqs, rows)
            named = per_sample_exercise(seqs, rows, probabilities, self.exercise_model.classes)
            of_sequence = table[SAMPLE_KEY].merge(named, on=SAMPLE_KEY, how="left")["predicted_exercise"].to_numpy()
            judged_as = np.where(seqs.exercise == UNKNOWN_EXERCISE, of_sequence, seqs.exercise)
        table["p_incorrect"] = self.classifier.predict(_judged_as(seqs, judged_as), rows)
        predictions = per_sample_predictions(table)
        if named is not None:
            predictions = predictions.merge(named[[*SAMPLE_KEY, "predicted_exercise", "p_exercise"]], on=SAMPLE_KEY, how="left")
        if self.fault_model is not None:
            p = sample_mean(_judged_as(seqs, judged_as), rows, self.fault_model.predict_proba(_judged_as(seqs, judged_as), rows))
            for column, fault, threshold in zip(p.columns, self.fault_model.faults, self.fault_model.thresholds):
                predictions[f"p_{fault}"] = p[column].to_numpy()
                predictions[fault] = (p[column].to_numpy() >= threshold).astype(np.int8)
        return predictions

    def predict_keypoints(self, keypoints: pd.DataFrame) -> tuple[pd.DataFrame, list[Rejection]]:
        """``predict`` on a keypoints table (``KEYPOINTS`` columns; an ``exercise`` column,
        if present, says each sample's exercise), normalized as the version's normalize
        stage does. Returns the predictions and one ``Rejection`` per sample normalization
        refused (it gets no prediction)."""
        features, rejections = features_for_samples(keypoints, self.normalize_params)
        if features.empty:
            reasons = "; ".join(f"{r.set_id}/{r.sample_id}: {r.detail}" for r in rejections) or "the table has no rows"
            raise StageSkipped(f"no sample of the keypoints table could be normalized ({reasons})")
        samples = None
        if "exercise" in keypoints.columns:
            samples = keypoints[[*SAMPLE_KEY, "exercise"]].drop_duplicates(SAMPLE_KEY)
        return self.predict(features, samples), rejections


def _judged_as(seqs: Sequences, exercise: np.ndarray) -> Sequences:
    """``seqs`` with ``exercise`` as the exercise of each sequence (the classifier judges a
    sample of unknown exercise as the one recognized)."""
    return replace(seqs, exercise=np.asarray(exercise, dtype=object))


def sample_catalog(features: pd.DataFrame, samples: pd.DataFrame | None) -> pd.DataFrame:
    """The ``set_id``, ``sample_id``, ``subject_id``, ``exercise``, ``label`` rows
    ``build_sequences`` needs for every sample of ``features``: ``samples``' where given,
    ``UNKNOWN_EXERCISE`` and an unknown person otherwise."""
    keys = features[SAMPLE_KEY].drop_duplicates().reset_index(drop=True)
    if samples is not None:
        given = [c for c in ("subject_id", "exercise") if c in samples.columns]
        keys = keys.merge(samples[[*SAMPLE_KEY, *given]].drop_duplicates(SAMPLE_KEY), on=SAMPLE_KEY, how="left")
    for column in ("subject_id", "exercise"):
        if column not in keys.columns:
            keys[column] = UNKNOWN_EXERCISE
        keys[column] = keys[column].fillna(UNKNOWN_EXERCISE).astype(str)
    keys["label"] = None
    return keys


def person_normalization_note(predictions: pd.DataFrame, samples: pd.DataFrame | None, person_normalization: str) -> str | None:
    """What a reader of predictions must know when the classifier reads each execution
    against the same person's other executions (``train.person_normalization`` not ``none``).

    Parameters
    ----------
    predictions
        ``set_id``, ``sample_id``, ``exercise`` per sample predicted.
    samples
        Their catalog rows (``subject_id``), or None: every sample of an unknown person.
    person_normalization
        The version's ``train.person_normalization``.

    Returns
    -------
    str or None
        None for ``none``; else that the verdicts depend on which of the person's executions
        are predicted together, and how many samples are their person's only execution of
        the exercise among them (each read as that person's usual execution).
    """
    if person_normalization == "none":
        return None
    # The catalog's person of each sample; the exercise as predicted (given, or recognized).
    people = sample_catalog(predictions, samples).assign(exercise=predictions["exercise"].to_numpy())
    lone = int((people.groupby(["subject_id", "exercise"], dropna=False)["sample_id"].transform("size") == 1).sum())
    note = (f"this version's classifier reads each execution against the same person's other executions of the exercise "
            f"predicted with it (train.person_normalization: {person_normalization}): predict a person's executions "
            "together; a person whose executions are all correct gets about half of them called incorrect (README, Models)")  # fmt: skip
    if lone:
        note += f"; {lone} of the {len(people)} samples are their person's only execution here and read as that person's usual one"
    return note


def per_sample_predictions(per_view: pd.DataFrame) -> pd.DataFrame:
    """Average one row per sample x view into one row per sample.

    Parameters
    ----------
    per_view
        ``set_id``, ``sample_id``, ``exercise`` and ``p_incorrect`` per sequence.

    Returns
    -------
    pandas.DataFrame
        ``PREDICTION_COLUMNS``: ``p_incorrect`` the mean over the views, ``n_views`` their
        number, ``predicted`` ``incorrect`` at a mean of 0.5 or above.
    """
    out = per_view.groupby(SAMPLE_KEY, sort=True).agg(
        exercise=("exercise", "first"), n_views=("p_incorrect", "size"), p_incorrect=("p_incorrect", "mean")
    ).reset_index()
    out["n_views"] = out["n_views"].astype(np.int16)
    out["predicted"] = np.where(out["p_incorrect"] >= DECISION_THRESHOLD, "incorrect", "correct")
    return out[list(PREDICTION_COLUMNS)]


def load(rev: str | None = None, repo: str | None = None) -> Models:
    """The models of one version of a formset project.

    Parameters
    ----------
    rev
        A published tag (``data-2026-11-01``), any git revision, or ``"workspace"`` (the
        model files the last local build wrote); default: the latest published tag.
    repo
        A path or git URL; default: the current project.

    Returns
    -------
    Models

    Raises
    ------
    StageSkipped
        That version has no classifier: its train stage skipped, and why.
    formset.pull.PullError
        No such version or repository, or its model files are not in the DVC remote.
    """
    label, files, params = _version_files(rev, repo)
    missing: dict[str, str] = {}
    payloads = {}
    for name, data in files.items():
        if data is None:
            missing[name] = f"version {label} has no {MODEL_FILES[name]}"
            continue
        payload = read_payload(data)
        if "skipped" in payload:
            missing[name] = f"training was skipped in version {label}: {payload['skipped']}"
        else:
            payloads[name] = payload
    if "classifier" not in payloads:
        raise StageSkipped(f"no classifier to predict with: {missing['classifier']}")
    classifier_meta = json.loads(payloads["classifier"]["meta"])
    train_params = group(TrainParams, classifier_meta["params"], f"version {label}: {MODEL_FILES['classifier']}")
    device = choose_device(train_params.device)
    classifier = TrainedModel.from_state(payloads["classifier"]["model"]).to(device)
    exercise_model = ExerciseModel.from_state(payloads["exercise_model"]["model"]) if "exercise_model" in payloads else None
    fault_model = FaultModel.from_state(payloads["fault_model"]["model"]) if "fault_model" in payloads else None
    normalize_params = group(NormalizeParams, params["normalize"], f"version {label}: params.yaml")
    return Models(label, classifier, exercise_model, fault_model, train_params, normalize_params, device, missing)


def read_keypoints(path: str | Path) -> pd.DataFrame:
    """A keypoints table from a Parquet file (``KEYPOINTS`` columns)."""
    return pd.read_parquet(path)
