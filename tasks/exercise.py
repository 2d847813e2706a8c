"""Exercise recognition: which exercise a keypoint sequence shows.

Trained on every sample's ``exercise`` (labeled correct / incorrect or not), from every view
(2-D camera keypoints from any camera angle, with ``z`` 0, and 3-D Kinect skeletons alike,
the view a one-hot input channel that the summaries leave out), so one model serves them all.

The model (``ExerciseModel``): each execution resampled to ``exercise_model.length`` steps and
standardized per channel, MiniRocket features (``tasks.learning.minirocket``; Dempster, Schmidt, Webb,
KDD 2021) and the per-execution kinematic summaries (``tasks.learning.families.kinematic_summaries``:
ranges, extremes and their timing, which carry the posture MiniRocket's zero-sum kernels do
not see), standardized, into a one-vs-rest ridge classifier with its penalty chosen by
leave-one-out (``RidgeClassifierCV``). A sequence's probabilities are the softmax of its
decision values (a ranking, not a calibrated probability); a sample's exercise is the one
with the highest mean probability over its views.

It is judged like the form classifier, on people it has not seen: leave-people-out folds
(``tasks.learning.folds.assign_folds``, stratified by exercise), an out-of-fold prediction for every
sample, then the final model fitted on everyone. It is a stage of its own (``exercise``),
after validation and before the reps stage, whose ``wrong_exercise`` check reads the
out-of-fold predictions.

Its parameters are the ``recognition`` group of ``params.yaml`` and the inputs the form
classifier reads (``RECOGNITION_INPUTS`` of the ``train`` group): ``recognition_record``
puts them together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeClassifierCV

from formset.params import Params, RecognitionParams, TrainParams, plain
from formset.quarantine import StageSkipped
from formset.tasks.learning.families import RIDGE_ALPHAS, RocketFeatures
from formset.tasks.learning.folds import assign_folds, mean_std
from formset.tasks.learning.sequences import SAMPLE_KEY, Sequences

#: Keys of the ``train`` group that exercise recognition reads: its inputs and its folds.
RECOGNITION_INPUTS: tuple[str, ...] = ("views", "joints", "axes", "angles", "max_frames", "cv_folds", "seed")


def recognition_record(params: Params) -> dict:
    """What exercise recognition's outputs are made with, as recorded in their provenance and
    model file: the ``RECOGNITION_INPUTS`` of ``train`` and the ``recognition`` group as
    ``exercise_model`` (a change to the classifier's other keys leaves recognition as it was)."""
    return {**{key: getattr(params.train, key) for key in RECOGNITION_INPUTS}, "exercise_model": plain(params.recognition)}


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` (shape ``(n, classes)``), numerically stable."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def check_recognizable(subjects: np.ndarray, exercises: np.ndarray) -> None:
    """Raise ``StageSkipped`` unless exercise recognition can be trained and judged on unseen
    people: at least two people and two exercises."""
    people = np.unique(np.asarray(subjects, dtype=str))
    names = np.unique(np.asarray(exercises, dtype=str))
    if len(names) < 2:
        raise StageSkipped(f"every sample is {', '.join(names) or 'of no exercise'}: exercise recognition needs samples of "
                           "at least two exercises")  # fmt: skip
    if len(people) < 2:
        raise StageSkipped(f"every sample comes from one person ({', '.join(people)}): exercise recognition cannot be "
                           "judged on people it has not seen; add samples of at least one more person")  # fmt: skip


@dataclass
class ExerciseModel:
    """``RocketFeatures`` -> ridge classifier over ``classes``."""

    classes: list[str]
    features: RocketFeatures
    coef: np.ndarray  # (class, feature)
    intercept: np.ndarray  # (class,)

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, recognition: RecognitionParams, seed: int) -> "ExerciseModel":
        """Fit on the sequences ``rows`` (at least two exercises among them).

        Parameters
        ----------
        recognition
            The ``recognition`` group: ``length``, ``features``, ``body_frame``.
        seed
            ``train.seed``.
        """
        rows = np.asarray(rows)
        features = RocketFeatures.fit(seqs, rows, recognition.length, recognition.features, seed, recognition.body_frame)
        labels = np.asarray(seqs.exercise[rows], dtype=str)
        ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(features(seqs, rows), labels)
        coef, intercept = np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
        if len(ridge.classes_) == 2:  # one decision value: the second class's score, the first's its negative
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        return cls([str(c) for c in ridge.classes_], features, coef, intercept)

    def predict_proba(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        """float64, shape ``(len(rows), len(classes))``: each sequence's probability of each
        exercise (softmax of the decision values), rows summing to 1."""
        return softmax(self.features(seqs, rows) @ self.coef.T + self.intercept)

    def state(self) -> dict:
        return {"features": self.features.state(), "coef": torch.from_numpy(self.coef),
                "intercept": torch.from_numpy(self.intercept), "classes": json.dumps(self.classes)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "ExerciseModel":
        return cls(json.loads(state["classes"]), RocketFeatures.from_state(state["features"]), state["coef"].numpy(),
                   state["intercept"].numpy())  # fmt: skip


def per_sample_exercise(seqs: Sequences, rows: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """The exercise of each sample among the sequences ``rows``: the highest mean probability
    over its views.

    Parameters
    ----------
    probabilities
        float, shape ``(len(rows), len(classes))``.

    Returns
    -------
    pandas.DataFrame
        ``set_id``, ``sample_id``, ``subject_id``, ``exercise`` (the catalog's),
        ``predicted_exercise``, ``p_exercise`` (its mean probability), ``p_claimed`` (the
        mean probability of the catalog's exercise, 0 for an exercise not in ``classes``),
        one row per sample, sorted by the key.
    """
    per_view = pd.DataFrame(probabilities, columns=classes)
    per_view["set_id"], per_view["sample_id"] = seqs.set_id[rows], seqs.sample_id[rows]
    per_view["subject_id"], per_view["exercise"] = seqs.subject[rows], seqs.exercise[rows]
    mean = per_view.groupby(SAMPLE_KEY, sort=True).agg(
        subject_id=("subject_id", "first"), exercise=("exercise", "first"), **{c: (c, "mean") for c in classes}
    )
    scores = mean[classes].to_numpy()
    out = mean[["subject_id", "exercise"]].reset_index()
    out["predicted_exercise"] = np.asarray(classes, dtype=object)[scores.argmax(axis=1)]
    out["p_exercise"] = scores.max(axis=1)
    column = {name: i for i, name in enumerate(classes)}
    claimed = np.array([column.get(e, -1) for e in out["exercise"]], dtype=np.intp)
    out["p_claimed"] = np.where(claimed >= 0, scores[np.arange(len(out)), claimed], 0.0)
    return out


@dataclass(frozen=True)
class ExerciseResult:
    """What exercise recognition writes.

    Attributes
    ----------
    model
        Fitted on every sample.
    metrics
        ``metrics/exercise.json``: ``accuracy`` and ``accuracy_std`` over the folds (per
        sample), ``per_exercise`` (recall: the share of that exercise's samples named right,
        and ``n_samples``), ``min_exercise_recall``, ``folds``, ``n_samples``, ``n_subjects``,
        ``classes``.
    predictions
        ``per_sample_exercise`` rows of every sample, out of fold, with ``fold`` (1-based).
    """

    model: ExerciseModel
    metrics: dict
    predictions: pd.DataFrame


def recognize_exercises(seqs: Sequences, train: TrainParams, recognition: RecognitionParams) -> ExerciseResult:
    """Leave-people-out cross-validation of exercise recognition, then the final fit.

    Parameters
    ----------
    seqs
        Every sample's sequences (``build_sequences(..., labeled_only=False)``).
    train
        The ``train`` group: its ``cv_folds`` and ``seed``.
    recognition
        The ``recognition`` group (``ExerciseModel.fit``).

    Raises
    ------
    StageSkipped
        One exercise or one person (``check_recognizable``).
    """
    check_recognizable(seqs.subject, seqs.exercise)
    classes = sorted(set(np.asarray(seqs.exercise, dtype=str)))
    fold = assign_folds(seqs.subject, seqs.exercise, train.cv_folds, train.seed)
    probabilities = np.zeros((len(fold), len(classes)))
    for number in np.unique(fold):
        train_rows, test_rows = np.flatnonzero(fold != number), np.flatnonzero(fold == number)
        if len(np.unique(seqs.exercise[train_rows])) < 2:
            # The other folds' people did one exercise: that is all a model of them can name.
            probabilities[np.ix_(test_rows, [classes.index(seqs.exercise[train_rows][0])])] = 1.0
            continue
        model = ExerciseModel.fit(seqs, train_rows, recognition, train.seed)
        probabilities[np.ix_(test_rows, [classes.index(c) for c in model.classes])] = model.predict_proba(seqs, test_rows)
    everyone = np.arange(len(fold))
    predictions = per_sample_exercise(seqs, everyone, probabilities, classes)
    fold_of = pd.DataFrame({"set_id": seqs.set_id, "sample_id": seqs.sample_id, "fold": fold + 1}).drop_duplicates(SAMPLE_KEY)
    predictions = predictions.merge(fold_of, on=SAMPLE_KEY, how="left")
    right = predictions["predicted_exercise"] == predictions["exercise"]
    accuracy, accuracy_std = mean_std(right.groupby(predictions["fold"]).mean().tolist())
    per_exercise = {name: {"recall": float(right[rows.index].mean()), "n_samples": len(rows)}
                    for name, rows in predictions.groupby("exercise", sort=True)}  # fmt: skip
    metrics = {
        "accuracy": accuracy, "accuracy_std": accuracy_std, "per_exercise": per_exercise,
        "min_exercise_recall": min(e["recall"] for e in per_exercise.values()), "folds": int(fold.max() + 1),
        "n_samples": len(predictions), "n_subjects": int(pd.Series(seqs.subject).nunique()), "classes": classes,
    }  # fmt: skip
    return ExerciseResult(ExerciseModel.fit(seqs, everyone, recognition, train.seed), metrics, predictions)
