"""Body-part fault heads: one probability per fault column of the input contract
(``FAULTS``), multi-label, next to the correct / incorrect head.

Targets: a sample's fault column 1 or 0 as delivered; an empty column of a sample labeled
``correct`` is 0 (a correct execution has no fault: the contract refuses one that has); an
empty column of any other sample is **unknown**, and that sample is left out of that fault's
training and figures (it is not counted fault-free).

Model (``FaultModel``): ``RocketFeatures`` (``tasks.exercise``: MiniRocket and the kinematic
summaries) per exercise, and per exercise and fault a ridge classifier with its penalty chosen
by leave-one-out (``RidgeClassifierCV``), **class-balanced** (each class weighted by the
inverse of its frequency: faults are rare); a fault an exercise's samples show never (or
always) gets the share of positives as its constant probability. ``p(fault)`` is the logistic
function of twice the decision value, averaged over a sample's views.

Thresholds: one per fault, the one maximizing F1 on **validation people only**: the training
people are split into ``fault_model.inner_folds`` leave-people-out folds; every training
sample is scored by heads fitted without its person, and the threshold is chosen on those
scores. The heads are then fitted on all the training people. In the cross-validation this
happens inside each outer fold, so the held-out people never choose a threshold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeClassifierCV
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from formset.params import TrainParams
from formset.quarantine import StageSkipped
from formset.schemas.vocab import FAULTS
from formset.tasks.learning.families import RIDGE_ALPHAS, RocketFeatures
from formset.tasks.learning.folds import assign_folds, label_folds
from formset.tasks.learning.sequences import CORRECT, SAMPLE_KEY, Sequences

#: Threshold of a fault whose validation scores hold no positive (nothing to tune on).
DEFAULT_THRESHOLD = 0.5


def fault_targets(seqs: Sequences, samples: pd.DataFrame) -> np.ndarray:
    """float64, shape ``(sequence, len(FAULTS))``: 1, 0, or NaN (unknown) per sequence and
    fault, as the module docstring says."""
    catalog = samples.set_index(SAMPLE_KEY)
    keys = pd.MultiIndex.from_arrays([seqs.set_id, seqs.sample_id])
    values = catalog.reindex(keys)[list(FAULTS)].astype("float64").to_numpy()
    return np.where(np.isnan(values) & (seqs.y == CORRECT)[:, np.newaxis], 0.0, values)


def f1_at_thresholds(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """F1 of ``truth`` (bool) when ``scores >= t`` is predicted positive, for every ``t`` of
    ``thresholds`` at once: counts of scores at or above each threshold come from one sorted
    search per class, not one pass over the scores per threshold. 0 where nothing is
    predicted and nothing is positive.

    Returns
    -------
    numpy.ndarray
        float64, shape ``thresholds.shape``.
    """
    positives, negatives = np.sort(scores[truth]), np.sort(scores[~truth])
    true_pos = len(positives) - np.searchsorted(positives, thresholds, side="left")
    false_pos = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    denominator = true_pos + false_pos + len(positives)  # 2·TP + FP + FN
    return np.divide(2.0 * true_pos, denominator, out=np.zeros(np.shape(thresholds)), where=denominator > 0)


def best_f1_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold on ``scores`` with the highest F1 of ``truth`` (bool): among
    ``DEFAULT_THRESHOLD`` and the midpoints of adjacent scores, of those with the highest F1
    the one nearest ``DEFAULT_THRESHOLD`` (a few validation people often leave a wide gap
    between the classes, and its edge is a poor guess for new people);
    ``DEFAULT_THRESHOLD`` without positives."""
    if not truth.any():
        return DEFAULT_THRESHOLD
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[DEFAULT_THRESHOLD], (order[:-1] + order[1:]) / 2, [order[-1]]])
    f1 = f1_at_thresholds(scores, truth, candidates)
    best = candidates[f1 >= f1.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - DEFAULT_THRESHOLD))])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class ExerciseHeads:
    """One exercise's features and per-fault ridge heads (``coef`` row 0 and a constant
    ``prior`` where the fault had one class)."""

    features: RocketFeatures
    coef: np.ndarray  # (fault, feature)
    intercept: np.ndarray  # (fault,)
    constant: np.ndarray  # (fault,): p used instead of the head where not NaN

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, targets: np.ndarray, params: TrainParams) -> "ExerciseHeads":
        settings = params.fault_model
        features = RocketFeatures.fit(seqs, rows, settings.length, settings.features, params.seed)
        X = features(seqs, rows)
        coef = np.zeros((len(FAULTS), X.shape[1]))
        intercept, constant = np.zeros(len(FAULTS)), np.full(len(FAULTS), np.nan)
        for f in range(len(FAULTS)):
            known = ~np.isnan(targets[rows, f])
            y = targets[rows[known], f].astype(np.int64)
            if len(np.unique(y)) < 2:
                constant[f] = float(y.mean()) if len(y) else 0.0
                continue
            ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS, class_weight="balanced").fit(X[known], y)
            coef[f], intercept[f] = ridge.coef_.reshape(-1), float(np.ravel(ridge.intercept_)[0])
        return cls(features, coef, intercept, constant)

    def predict_proba(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        p = _sigmoid(2.0 * (self.features(seqs, rows) @ self.coef.T + self.intercept))
        return np.where(np.isnan(self.constant), p, self.constant)

    def state(self) -> dict:
        return {"features": self.features.state(), **{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                (("coef", self.coef), ("intercept", self.intercept), ("constant", self.constant))}}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "ExerciseHeads":
        return cls(RocketFeatures.from_state(state["features"]), state["coef"].numpy(), state["intercept"].numpy(),
                   state["constant"].numpy())  # fmt: skip


@dataclass
class FaultModel:
    """Per exercise ``ExerciseHeads``; ``thresholds`` per fault (tuned on validation people);
    ``prior`` the share of positives per fault, for an exercise no head knows."""

    faults: list[str]
    heads: dict
    thresholds: np.ndarray
    prior: np.ndarray

    def predict_proba(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        """float64, shape ``(len(rows), len(faults))``: ``p(fault)`` per sequence."""
        rows = np.asarray(rows)
        p = np.tile(self.prior, (len(rows), 1))
        for exercise in np.unique(seqs.exercise[rows]):
            these = seqs.exercise[rows] == exercise
            if exercise in self.heads:
                p[these] = self.heads[exercise].predict_proba(seqs, rows[these])
        return p

    def state(self) -> dict:
        return {"faults": json.dumps(self.faults), "heads": {e: h.state() for e, h in self.heads.items()},
                "thresholds": torch.from_numpy(self.thresholds), "prior": torch.from_numpy(self.prior)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "FaultModel":
        heads = {e: ExerciseHeads.from_state(h) for e, h in state["heads"].items()}
        return cls(json.loads(state["faults"]), heads, state["thresholds"].numpy(), state["prior"].numpy())


def _fit_heads(seqs: Sequences, rows: np.ndarray, targets: np.ndarray, params: TrainParams) -> dict:
    return {e: ExerciseHeads.fit(seqs, rows[seqs.exercise[rows] == e], targets, params) for e in np.unique(seqs.exercise[rows])}


def sample_mean(seqs: Sequences, rows: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """``values`` (shape ``(len(rows), k)``) averaged per sample; indexed by the sample key, sorted."""
    frame = pd.DataFrame(values, index=pd.MultiIndex.from_arrays([seqs.set_id[rows], seqs.sample_id[rows]], names=SAMPLE_KEY))
    return frame.groupby(level=SAMPLE_KEY, sort=True).mean()


def fit_fault_model(seqs: Sequences, rows: np.ndarray, targets: np.ndarray, params: TrainParams) -> FaultModel:
    """Fit the heads on ``rows`` and tune each fault's threshold on inner leave-people-out
    folds of those rows' people (module docstring)."""
    rows = np.asarray(rows)
    prior = np.nan_to_num(np.nanmean(np.vstack([targets[rows], np.full((1, len(FAULTS)), np.nan)]), axis=0))
    if len(np.unique(np.asarray(seqs.subject[rows], dtype=str))) < 2:  # nobody to validate on
        return FaultModel(list(FAULTS), _fit_heads(seqs, rows, targets, params), np.full(len(FAULTS), DEFAULT_THRESHOLD), prior)
    inner = assign_folds(seqs.subject[rows], seqs.exercise[rows], params.fault_model.inner_folds, params.seed)
    scores = np.full((len(rows), len(FAULTS)), np.nan)
    for number in np.unique(inner):
        fit_rows, check_rows = rows[inner != number], rows[inner == number]
        heads = FaultModel(list(FAULTS), _fit_heads(seqs, fit_rows, targets, params), np.zeros(0), prior)
        scores[inner == number] = heads.predict_proba(seqs, check_rows)
    per_sample = sample_mean(seqs, rows, scores)
    truth = sample_mean(seqs, rows, targets[rows])
    thresholds = np.array([
        best_f1_threshold(per_sample[f].to_numpy()[known], truth[f].to_numpy()[known] == 1)
        for f in range(len(FAULTS)) for known in [~np.isnan(truth[f].to_numpy())]
    ])  # fmt: skip
    return FaultModel(list(FAULTS), _fit_heads(seqs, rows, targets, params), thresholds, prior)


def check_fault_labels(targets: np.ndarray, subjects: np.ndarray) -> None:
    """Raise ``StageSkipped`` when no fault has positives and negatives among two people."""
    learnable = [f for f in range(len(FAULTS)) if (targets[:, f] == 1).any() and (targets[:, f] == 0).any()]
    if len(np.unique(np.asarray(subjects, dtype=str))) < 2 or not learnable:
        raise StageSkipped("no fault column has both faulty and fault-free samples of at least two people: "
                           "fill in the fault columns of incorrect samples (1 or 0) to train the fault heads")  # fmt: skip


def fault_figures(probabilities: pd.DataFrame, truth: pd.DataFrame, thresholds: np.ndarray) -> dict:
    """Per fault ``precision``, ``recall``, ``f1``, ``auc`` (None with one class), ``support``
    (positives) and ``n_known`` of per-sample ``probabilities`` against ``truth`` (NaN
    unknown: left out), and ``macro_f1`` over the faults with positives."""
    figures = {}
    for f, name in enumerate(FAULTS):
        known = ~np.isnan(truth[f].to_numpy())
        actual = truth[f].to_numpy()[known] == 1
        p = probabilities[f].to_numpy()[known]
        precision, recall, f1, _ = precision_recall_fscore_support(actual, p >= thresholds[f], average="binary", zero_division=0)
        auc = float(roc_auc_score(actual, p)) if len(np.unique(actual)) == 2 else None
        figures[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "auc": auc,
                         "support": int(actual.sum()), "n_known": int(known.sum())}  # fmt: skip
    with_positives = [v["f1"] for v in figures.values() if v["support"]]
    return {"per_fault": figures, "macro_f1": float(np.mean(with_positives)) if with_positives else None}


@dataclass(frozen=True)
class FaultResult:
    """The final model, ``metrics/faults.json`` and the out-of-fold ``p_<fault>`` per sample."""

    model: FaultModel
    metrics: dict
    predictions: pd.DataFrame


def evaluate_faults(seqs: Sequences, samples: pd.DataFrame, params: TrainParams) -> FaultResult:
    """Leave-people-out cross-validation of the fault heads (thresholds tuned inside each
    fold on its training people), then the final model on everyone.

    Parameters
    ----------
    seqs
        The labeled sequences (``build_sequences``).
    samples
        The ``SAMPLES`` catalog (the fault columns).
    params
        The ``train`` group: ``cv_folds``, ``seed``, ``fault_model``.

    Raises
    ------
    StageSkipped
        ``check_fault_labels``.
    """
    targets = fault_targets(seqs, samples)
    check_fault_labels(targets, seqs.subject)
    fold = label_folds(seqs.subject, seqs.exercise, seqs.y, params.cv_folds, params.seed)
    probabilities = np.zeros((len(fold), len(FAULTS)))
    thresholds = np.zeros((len(fold), len(FAULTS)))
    for number in np.unique(fold):
        train_rows, test_rows = np.flatnonzero(fold != number), np.flatnonzero(fold == number)
        model = fit_fault_model(seqs, train_rows, targets, params)
        probabilities[test_rows] = model.predict_proba(seqs, test_rows)
        thresholds[test_rows] = model.thresholds
    everyone = np.arange(len(fold))
    p = sample_mean(seqs, everyone, probabilities)
    threshold = sample_mean(seqs, everyone, thresholds)
    truth = sample_mean(seqs, everyone, targets)
    # Each sample against the thresholds of its own fold: figures over all out-of-fold samples.
    decided = pd.DataFrame((p.to_numpy() >= threshold.to_numpy()).astype(np.float64), index=p.index)
    metrics = fault_figures(decided, truth, np.full(len(FAULTS), 0.5))
    auc = fault_figures(p, truth, np.full(len(FAULTS), 0.5))  # AUC does not depend on thresholds
    for name in FAULTS:
        metrics["per_fault"][name]["auc"] = auc["per_fault"][name]["auc"]
    metrics.update({"n_samples": len(p), "folds": int(fold.max() + 1)})
    predictions = p.set_axis([f"p_{f}" for f in FAULTS], axis=1).reset_index()
    return FaultResult(fit_fault_model(seqs, everyone, targets, params), metrics, predictions)
