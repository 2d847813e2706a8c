"""Correct-vs-incorrect models judged on people they have not seen: leave-people-out k-fold
cross-validation, then the final model fitted on everyone.

1. ``build_sequences`` (``tasks.learning.sequences``): one sequence per labeled sample x view.
2. **Folds** (``label_folds``): the people are dealt into ``cv_folds`` folds (fewer when
   there are fewer people), whole people only, stratified by exercise x label so each fold
   holds about the same mix (scikit-learn's ``StratifiedGroupKFold``, seeded).
3. **Cross-validation**: for each fold, the model family of ``train.model`` is fitted on the
   other folds' people (``tasks.learning.families.fit_model``) and predicts the fold's samples; a
   sample's ``p(incorrect)`` is the mean over its views, ``incorrect`` at 0.5 or above.
   Every labeled sample thus gets one out-of-fold prediction (the ``PREDICTIONS`` table).
4. **Metrics** per fold (accuracy, precision, recall, F1 with ``incorrect`` the positive
   class, ROC AUC where the fold has both classes), then their mean and standard deviation
   over folds (sample std, ddof 1); the same per exercise (accuracy of the fold's samples of
   that exercise, over the folds that have some) and per view (per sequence) when there are
   several views. The ROC curve and the confusion matrix are of the out-of-fold predictions
   of all samples.
5. **Final model**: the same family fitted on every labeled sample; it is what
   ``models/classifier.pt`` holds.

``params`` is the ``train`` group of ``params.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score, roc_curve

from formset.params import TrainParams
from formset.quarantine import StageSkipped
from formset.tasks.learning.families import TrainedModel, fit_model
from formset.tasks.learning.folds import label_folds, mean_std
from formset.tasks.learning.sequences import CLASS_LABELS, N_CLASSES, SAMPLE_KEY, Sequences, build_sequences

#: ``p(incorrect)`` at or above which a sample is predicted incorrect.
DECISION_THRESHOLD = 0.5
#: Columns of ``plots/roc.csv`` and ``plots/confusion.csv`` (DVC's plot layouts).
ROC_COLUMNS: tuple[str, ...] = ("fpr", "tpr", "threshold")
CONFUSION_COLUMNS: tuple[str, ...] = ("actual", "predicted")
#: The figures of each fold, in the order ``metrics/train.json`` lists them.
FOLD_FIGURES: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "auc")


@dataclass(frozen=True)
class TrainResult:
    """What the train stage writes.

    Attributes
    ----------
    model
        The final model, fitted on every labeled sample.
    metrics
        ``metrics/train.json`` (see ``summarize_folds``).
    predictions
        ``PREDICTIONS`` rows: one per labeled sample, out of fold.
    roc
        ``ROC_COLUMNS`` of the out-of-fold ``p(incorrect)``, ``incorrect`` positive.
    confusion
        ``CONFUSION_COLUMNS``: one row per labeled sample, label strings.
    """

    model: TrainedModel
    metrics: dict
    predictions: pd.DataFrame
    roc: pd.DataFrame
    confusion: pd.DataFrame


def check_trainable(subjects: np.ndarray, y: np.ndarray, whose: str = "the labeled samples", min_people: int = 2) -> None:
    """Raise ``StageSkipped`` unless the sequences allow a classifier evaluated on unseen people.

    Parameters
    ----------
    subjects
        shape ``(sequence,)``: the person of each sequence.
    y
        int, shape ``(sequence,)``: 1 = incorrect.
    whose
        Who the sequences are, for the message.
    min_people
        2 for the whole dataset (someone must be held out); 1 for the training part of a split.

    Raises
    ------
    StageSkipped
        Fewer people than ``min_people`` (nobody could be held out), or one class only
        (nothing to tell apart).
    """
    people = np.unique(np.asarray(subjects, dtype=str))
    if len(people) < min_people:
        raise StageSkipped(
            f"{whose} come from one person ({', '.join(people)}): a model cannot be evaluated on people it has not "
            "seen; add labeled samples of at least one more person"
        )
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=N_CLASSES)
    if (counts == 0).any():
        present = CLASS_LABELS[int(np.argmax(counts))]
        absent = CLASS_LABELS[int(np.argmin(counts))]
        raise StageSkipped(
            f"every one of {whose} is {present}: a classifier needs {absent} examples too; "
            f"add {absent} samples of at least two people"
        )


def per_sample(seqs: Sequences, rows: np.ndarray, p_incorrect: np.ndarray, fold: np.ndarray) -> pd.DataFrame:
    """Average the views' ``p(incorrect)`` of each sample among the sequences ``rows``.

    Parameters
    ----------
    seqs
        The sequences.
    rows
        int, shape ``(n,)``: sequences predicted.
    p_incorrect
        float, shape ``(n,)``: their ``p(incorrect)``.
    fold
        int, shape ``(n,)``: the fold each was held out in.

    Returns
    -------
    pandas.DataFrame
        ``PREDICTIONS`` columns, one row per sample, sorted by set_id, sample_id.
    """
    per_view = pd.DataFrame(
        {
            "set_id": seqs.set_id[rows], "sample_id": seqs.sample_id[rows], "subject_id": seqs.subject[rows],
            "exercise": seqs.exercise[rows], "y": seqs.y[rows], "p_incorrect": p_incorrect, "fold": fold,
        }
    )  # fmt: skip
    samples = per_view.groupby(SAMPLE_KEY, sort=True, as_index=False).agg(
        subject_id=("subject_id", "first"), exercise=("exercise", "first"), y=("y", "first"),
        p_incorrect=("p_incorrect", "mean"), n_views=("p_incorrect", "size"), fold=("fold", "first"),
    )  # fmt: skip
    labels = np.asarray(CLASS_LABELS, dtype=object)
    samples["truth"] = labels[samples["y"].to_numpy()]
    samples["predicted"] = labels[(samples["p_incorrect"] >= DECISION_THRESHOLD).to_numpy(np.intp)]
    samples["p_correct"] = 1.0 - samples["p_incorrect"]
    samples["fold"] = samples["fold"].astype(np.int16) + 1
    samples["n_views"] = samples["n_views"].astype(np.int16)
    columns = [*SAMPLE_KEY, "subject_id", "exercise", "n_views", "truth", "predicted", "p_correct", "p_incorrect", "fold"]
    return samples[columns]


def fold_figures(predictions: pd.DataFrame) -> dict[str, float | None]:
    """``FOLD_FIGURES`` of one fold's sample predictions (``incorrect`` positive); ``auc``
    is None when the fold holds one class only."""
    actual = (predictions["truth"] == "incorrect").to_numpy()
    predicted = (predictions["predicted"] == "incorrect").to_numpy()
    precision, recall, f1, _ = precision_recall_fscore_support(actual, predicted, average="binary", zero_division=0)
    auc = float(roc_auc_score(actual, predictions["p_incorrect"])) if len(np.unique(actual)) == 2 else None
    return {"accuracy": float((actual == predicted).mean()), "precision": float(precision), "recall": float(recall),
            "f1": float(f1), "auc": auc}  # fmt: skip


def summarize_folds(predictions: pd.DataFrame, sequence_correct: pd.DataFrame, params: TrainParams) -> dict:
    """``metrics/train.json``: the cross-validation's figures.

    Parameters
    ----------
    predictions
        Out-of-fold ``PREDICTIONS`` rows of every labeled sample.
    sequence_correct
        One row per sequence: ``view``, ``fold`` (1-based) and ``correct`` (bool: its own
        ``p(incorrect)`` gives the right class).
    params
        The ``train`` group (``model``, ``exercise_mode``).

    Returns
    -------
    dict
        ``model``, ``exercise_mode``, ``folds``, ``n_samples``, ``n_subjects``; for each of
        ``FOLD_FIGURES`` its mean over folds and ``<figure>_std``; ``per_exercise``:
        exercise -> ``accuracy``, ``accuracy_std``, ``n_samples``;
        ``min_exercise_accuracy``; ``per_view`` (several views only): view -> ``accuracy``,
        ``accuracy_std``, ``n_sequences``.
    """
    by_fold = [fold_figures(group) for _, group in predictions.groupby("fold", sort=True)]
    metrics = {
        "model": params.model, "exercise_mode": params.exercise_mode, "folds": len(by_fold),
        "n_samples": len(predictions), "n_subjects": int(predictions["subject_id"].nunique()),
    }  # fmt: skip
    for figure in FOLD_FIGURES:
        metrics[figure], metrics[f"{figure}_std"] = mean_std([fold[figure] for fold in by_fold])
    correct = predictions["truth"] == predictions["predicted"]
    per_exercise = {}
    for exercise, rows in predictions.groupby("exercise", sort=True):
        mean, std = mean_std(correct[rows.index].groupby(rows["fold"]).mean().tolist())
        per_exercise[exercise] = {"accuracy": mean, "accuracy_std": std, "n_samples": len(rows)}
    metrics["per_exercise"] = per_exercise
    metrics["min_exercise_accuracy"] = min(e["accuracy"] for e in per_exercise.values())
    if sequence_correct["view"].nunique() > 1:
        metrics["per_view"] = {}
        for view, rows in sequence_correct.groupby("view", sort=True):
            mean, std = mean_std(rows.groupby("fold")["correct"].mean().tolist())
            metrics["per_view"][view] = {"accuracy": mean, "accuracy_std": std, "n_sequences": len(rows)}
    return metrics


def roc_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """``ROC_COLUMNS`` of out-of-fold predictions (``incorrect`` positive); empty with one class."""
    actual = (predictions["truth"] == "incorrect").to_numpy()
    if len(np.unique(actual)) < 2:
        return pd.DataFrame(columns=list(ROC_COLUMNS))
    fpr, tpr, threshold = roc_curve(actual, predictions["p_incorrect"].to_numpy())
    # roc_curve's first threshold is infinite (nothing predicted positive): 1 says the same in CSV.
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(threshold, 1.0)})


def cross_validate(seqs: Sequences, params: TrainParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold predictions of every labeled sample (module docstring, steps 2-3).

    Returns
    -------
    tuple of pandas.DataFrame
        ``(predictions, sequence_correct)`` as ``summarize_folds`` reads them.

    Raises
    ------
    StageSkipped
        The training people of a fold lack a class.
    """
    fold = label_folds(seqs.subject, seqs.exercise, seqs.y, params.cv_folds, params.seed)
    p_incorrect = np.empty(len(seqs.y))
    for number in np.unique(fold):
        train_rows, test_rows = np.flatnonzero(fold != number), np.flatnonzero(fold == number)
        check_trainable(seqs.subject[train_rows], seqs.y[train_rows], f"the training people of fold {number + 1}", min_people=1)
        p_incorrect[test_rows] = fit_model(seqs, train_rows, params).predict(seqs, test_rows)
    everyone = np.arange(len(seqs.y))
    sequence_correct = pd.DataFrame(
        {"view": seqs.view, "fold": fold + 1, "correct": (p_incorrect >= DECISION_THRESHOLD) == (seqs.y == 1)}
    )
    return per_sample(seqs, everyone, p_incorrect, fold), sequence_correct


def train_and_evaluate(features: pd.DataFrame, samples: pd.DataFrame, params: TrainParams) -> TrainResult:
    """Cross-validate ``params.model`` by people, then fit it on everyone.

    Parameters
    ----------
    features
        ``FEATURES`` rows (``gated_features``).
    samples
        The ``SAMPLES`` catalog.
    params
        The ``train`` group of ``params.yaml``.

    Raises
    ------
    StageSkipped
        No labeled sample, one person, one class, or a fold whose training people lack a class.
    """
    seqs = build_sequences(features, samples, params)
    check_trainable(seqs.subject, seqs.y)
    predictions, sequence_correct = cross_validate(seqs, params)
    model = fit_model(seqs, np.arange(len(seqs.y)), params)
    confusion = predictions.rename(columns={"truth": "actual"})[list(CONFUSION_COLUMNS)]
    return TrainResult(model, summarize_folds(predictions, sequence_correct, params), predictions, roc_table(predictions), confusion)
