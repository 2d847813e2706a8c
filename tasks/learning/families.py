"""Model families of the form classifier, chosen by ``params.yaml: train.model``, and how
they see the exercise (``train.exercise_mode``).

Every family learns ``p(incorrect)`` of one sequence (one sample x view, ``tasks.train.
Sequences``) and is saved as tensors and plain values only, so a model file loads with
torch's safe loader:

- ``conv_lstm``: Conv1D x3 -> bidirectional LSTM -> dense (``tasks.learning.conv_lstm.FormClassifier``),
  the architecture of the Kinect-based exercise assessment work the project follows
  (Liao, Vakanski, Xian: "A Deep Learning Framework for Assessing Physical Rehabilitation
  Exercises", IEEE TNSRE 28(2), 2020, on UI-PRMD).
- ``kinematic``: per execution and per input channel (normalized joint positions, joint
  angles) its minimum, maximum, range, mean, standard deviation and the time of its minimum
  and maximum (share of the execution), plus the duration in seconds, standardized, into a
  class-balanced logistic regression. Each UI-PRMD sample is one repetition, so these are
  per-repetition summaries there; on a recording of several reps they summarise the whole
  recording.
- ``minirocket``: each execution resampled to ``minirocket.length`` steps, per channel
  standardized, MiniRocket features (``tasks.learning.minirocket``) and the ``kinematic`` summaries,
  standardized (the two blocks scaled to weigh the same), into a class-balanced L2 logistic
  regression (inverse penalty ``minirocket.C``; on UI-PRMD it scores above the ridge
  classifier of the MiniRocket paper: 0.849 against 0.845 on the positions as they are,
  0.874 against 0.859 in the unmirrored body frame, README, Models). MiniRocket's kernels sum to zero, so
  they see a series' shape and not its level: a knee held further out for the whole
  execution is invisible to them (measured on the synthetic test set of
  ``tests/test_train.py``: accuracy 0.70 without the summaries), and the summaries carry the
  levels.

Inputs (``train.body_frame``, ``kinematic`` and ``minirocket``): false reads the normalized
positions and angles as they are; true reads ``tasks.learning.body``'s channels of each execution
alone (``rocket_inputs``, ``execution_summaries``), mirrored so the side that moved is the
right (``mirror_sides``; a model saved before it reads its body frame unmirrored): MiniRocket
convolves the body-frame joint angles, the summaries read the displacements from the
execution's rest posture, the angles and the segment directions.

Person (``train.person_normalization``, ``kinematic`` and ``minirocket``): ``none`` judges each
execution alone; ``center`` subtracts from its features the mean of the same person's
executions of the exercise, ``rank`` replaces each feature by its rank among them
(``by_person``). Both read the other executions present (labels unused), so they only help
when a person's executions hold both correct and incorrect ones (README, Models).

Exercise: ``input`` trains one model for every exercise with the exercise as an input (a
one-hot per frame for ``conv_lstm``, appended to the features for the others);
``per_exercise`` trains one model per exercise on that exercise's samples, and an exercise
whose training samples lack a class is predicted by a shared model with the exercise input.
An exercise no training sample has gets the training samples' share of incorrect ones.

Views (``train.view_fusion``): ``average`` fits the family on every view's sequence and a
sample's ``p(incorrect)`` is the mean over its views (``tasks.train.per_sample``); ``fused``
fits it on one sequence per sample holding all its views, aligned on the recordings' times
(``tasks.learning.sequences.fuse_views``; a missing view is zeros and a presence channel), and every
view of a sample gets the sample's ``p(incorrect)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import get_args

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from formset.params import ExerciseMode, ModelFamily, PersonNormalization, TrainParams, ViewFusion
from formset.tasks.learning.body import body_series, series_summaries
from formset.tasks.learning.conv_lstm import FormClassifier, predict_proba, train_classifier
from formset.tasks.learning.minirocket import MiniRocketParameters, fit_minirocket, transform_minirocket
from formset.tasks.learning.sequences import Sequences, fuse_views

MODEL_FAMILIES: tuple[str, ...] = get_args(ModelFamily)
EXERCISE_MODES: tuple[str, ...] = get_args(ExerciseMode)
VIEW_FUSIONS: tuple[str, ...] = get_args(ViewFusion)
PERSON_NORMALIZATIONS: tuple[str, ...] = get_args(PersonNormalization)
#: Key of the model that serves every exercise (``input``) or those without their own.
SHARED = "*"
#: Statistics per channel of the ``kinematic`` family, in feature order.
SUMMARY_STATISTICS: tuple[str, ...] = ("min", "max", "range", "mean", "std", "t_min", "t_max")
#: Steps each execution is resampled to for the body-frame summaries (``execution_summaries``).
BODY_STEPS = 100
#: Ridge penalties ``RidgeClassifierCV`` chooses among (exercise recognition, fault heads).
RIDGE_ALPHAS = np.logspace(-3, 3, 10)


def _exercise_one_hot(exercises: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """float32, shape ``(sequence, len(vocabulary))``; an exercise outside it is all 0."""
    index = {name: i for i, name in enumerate(vocabulary)}
    one_hot = np.zeros((len(exercises), len(vocabulary)), dtype=np.float32)
    known = [(row, index[e]) for row, e in enumerate(exercises) if e in index]
    if known:
        rows, columns = zip(*known)
        one_hot[list(rows), list(columns)] = 1.0
    return one_hot


def _with_exercise_channels(seqs: Sequences, vocabulary: list[str]) -> Sequences:
    """``seqs`` with one ``exercise_<name>`` channel per exercise, 1 on the valid frames of
    sequences of that exercise (``conv_lstm``'s exercise input)."""
    valid = np.arange(seqs.X.shape[1])[np.newaxis, :] < seqs.lengths[:, np.newaxis]
    channels = _exercise_one_hot(seqs.exercise, vocabulary)[:, np.newaxis, :] * valid[:, :, np.newaxis]
    return replace(
        seqs,
        X=np.concatenate([seqs.X, channels.astype(np.float32)], axis=2),
        feature_names=(*seqs.feature_names, *(f"exercise_{name}" for name in vocabulary)),
    )


def _state_tensors(**arrays) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in arrays.items()}


def _person_groups(subjects: np.ndarray, exercises: np.ndarray) -> np.ndarray:
    """int, shape ``(row,)``: one group number per person x exercise."""
    keys = np.char.add(np.char.add(np.asarray(subjects, dtype=str), "\x1f"), np.asarray(exercises, dtype=str))
    return np.unique(keys, return_inverse=True)[1].reshape(-1)


def center_by_person(X: np.ndarray, subjects: np.ndarray, exercises: np.ndarray) -> np.ndarray:
    """``X`` less, on each row, the mean of the rows of the same person and exercise.

    Parameters
    ----------
    X
        float, shape ``(row, feature)``.
    subjects, exercises
        shape ``(row,)``: the person and the exercise of each row.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``X``: what sets each execution apart from that person's other
        executions of the exercise (0 for a person's only execution).
    """
    group = _person_groups(subjects, exercises)
    sums = np.zeros((group.max(initial=-1) + 1, X.shape[1]))
    np.add.at(sums, group, X)
    return X - (sums / np.bincount(group)[:, np.newaxis])[group]


def rank_by_person(X: np.ndarray, subjects: np.ndarray, exercises: np.ndarray) -> np.ndarray:
    """Each feature's rank among the rows of the same person and exercise, from -0.5
    (lowest) to 0.5 (highest), ties sharing their mean rank; parameters as
    ``center_by_person``. float64, shape of ``X``, unitless: where each execution stands
    among that person's executions of the exercise, whatever the person's own scale (0 for
    a person's only execution)."""
    group = _person_groups(subjects, exercises)
    out = np.zeros(X.shape)
    # A loop over person x exercise groups (tens), each ranked array-wise.
    for members in (group == g for g in np.unique(group)):
        n = int(members.sum())
        if n > 1:
            out[members] = (rankdata(X[members], axis=0) - 1.0) / (n - 1) - 0.5
    return out


def by_person(X: np.ndarray, subjects: np.ndarray, exercises: np.ndarray, how: str) -> np.ndarray:
    """``X`` as ``train.person_normalization`` says: ``none`` as it is, ``center``
    (``center_by_person``) or ``rank`` (``rank_by_person``)."""
    if how == "center":
        return center_by_person(X, subjects, exercises)
    if how == "rank":
        return rank_by_person(X, subjects, exercises)
    return X


def _person_normalization(state: dict) -> str:
    """The person normalization of a saved model (before ``rank``, a ``person_centered`` flag)."""
    return str(state.get("person_normalization", "center" if state.get("person_centered") else "none"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------ conv_lstm
@dataclass
class ConvLstm:
    """A fitted ``FormClassifier``; ``vocabulary`` the exercise channels it reads (none in
    ``per_exercise`` mode)."""

    network: FormClassifier
    vocabulary: list[str]

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, params: TrainParams, vocabulary: list[str]) -> "ConvLstm":
        inputs = _with_exercise_channels(seqs, vocabulary)
        mask = np.zeros(len(seqs.y), dtype=bool)
        mask[rows] = True
        return cls(train_classifier(inputs, mask, params), vocabulary)

    def predict(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        inputs = _with_exercise_channels(seqs, self.vocabulary)
        return predict_proba(self.network, inputs.X[rows], inputs.lengths[rows])

    def to(self, device: str) -> "ConvLstm":
        return replace(self, network=self.network.to(device))

    def state(self) -> dict:
        return {"state_dict": self.network.state_dict(), "config": json.dumps(self.network.config),
                "vocabulary": json.dumps(self.vocabulary)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "ConvLstm":
        config = json.loads(state["config"])
        network = FormClassifier(
            tuple(config["feature_names"]), config["conv_filters"], config["conv_kernels"],
            config["lstm_units"], config["dense_units"], config["dropout"],
        )  # fmt: skip
        network.load_state_dict(state["state_dict"])
        return cls(network.eval(), json.loads(state["vocabulary"]))


# ------------------------------------------------------------------ kinematic
def summary_channels(seqs: Sequences) -> list[int]:
    """The channels the ``kinematic`` family summarises: positions and angles (not deltas,
    not the view one-hot)."""
    return [i for i, name in enumerate(seqs.feature_names) if not name.startswith(("d_", "view_"))]


def kinematic_summaries(seqs: Sequences, rows: np.ndarray) -> np.ndarray:
    """Per execution and channel the ``SUMMARY_STATISTICS``, then the duration.

    Parameters
    ----------
    seqs
        Sequences; their valid frames (``lengths``) are summarised.
    rows
        int, the sequences to summarise.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(rows), len(summary_channels) * 7 + 1)``: channel-major, units
        of the channel (torso lengths, degrees), times as a share of the execution (0-1),
        the duration in seconds last.
    """
    channels = summary_channels(seqs)
    X = seqs.X[rows][:, :, channels].astype(np.float64)  # (sequence, time, channel)
    lengths = seqs.lengths[rows]
    valid = (np.arange(X.shape[1])[np.newaxis, :] < lengths[:, np.newaxis])[:, :, np.newaxis]
    low = np.where(valid, X, np.inf).min(axis=1)
    high = np.where(valid, X, -np.inf).max(axis=1)
    mean = (X * valid).sum(axis=1) / lengths[:, np.newaxis]
    std = np.sqrt((((X - mean[:, np.newaxis]) * valid) ** 2).sum(axis=1) / lengths[:, np.newaxis])
    span = np.maximum(lengths - 1, 1)[:, np.newaxis]
    t_min = np.where(valid, X, np.inf).argmin(axis=1) / span
    t_max = np.where(valid, X, -np.inf).argmax(axis=1) / span
    stats = np.stack([low, high, high - low, mean, std, t_min, t_max], axis=2)  # (sequence, channel, statistic)
    return np.hstack([stats.reshape(len(rows), -1), seqs.duration_s[rows, np.newaxis]])


def execution_summaries(seqs: Sequences, rows: np.ndarray, body_frame: bool, mirror_sides: bool) -> np.ndarray:
    """The per-execution summaries a model reads: ``kinematic_summaries`` of the channels as
    they are, or with ``body_frame`` the same statistics of the ``tasks.learning.body`` summary
    channels (displacements from the execution's rest posture in its body frame, angles,
    segment directions; ``mirror_sides``: the moving side on the right) resampled to
    ``BODY_STEPS`` steps, then the duration."""
    if not body_frame:
        return kinematic_summaries(seqs, rows)
    _, summary = body_series(seqs.X[rows], seqs.lengths[rows], seqs.feature_names, BODY_STEPS, mirror_sides=mirror_sides)
    return series_summaries(summary, seqs.duration_s[rows])


@dataclass
class Kinematic:
    """Standardized kinematic summaries (and exercise one-hot) into a logistic regression."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    vocabulary: list[str]
    person_normalization: str = "none"
    body_frame: bool = False
    mirror_sides: bool = False

    def _inputs(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        summaries = execution_summaries(seqs, rows, self.body_frame, self.mirror_sides)
        summaries = by_person(summaries, seqs.subject[rows], seqs.exercise[rows], self.person_normalization)
        return np.hstack([summaries, _exercise_one_hot(seqs.exercise[rows], self.vocabulary)])

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, params: TrainParams, vocabulary: list[str]) -> "Kinematic":
        person, body = params.person_normalization, params.body_frame
        model = cls(np.zeros(0), np.ones(0), np.zeros(0), 0.0, vocabulary, person, body, body)
        X = model._inputs(seqs, rows)
        mean, spread = X.mean(axis=0), X.std(axis=0)
        scale = np.where(spread > 1e-9, spread, 1.0)
        regression = LogisticRegression(C=params.kinematic.C, class_weight="balanced", max_iter=5000)
        regression.fit((X - mean) / scale, seqs.y[rows])
        return cls(mean, scale, regression.coef_[0], float(regression.intercept_[0]), vocabulary, person, body, body)

    def predict(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        return _sigmoid(((self._inputs(seqs, rows) - self.mean) / self.scale) @ self.coef + self.intercept)

    def state(self) -> dict:
        return {**_state_tensors(mean=self.mean, scale=self.scale, coef=self.coef), "intercept": self.intercept,
                "vocabulary": json.dumps(self.vocabulary), "person_normalization": self.person_normalization,
                "body_frame": self.body_frame, "mirror_sides": self.mirror_sides}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "Kinematic":
        # A model saved before body-frame inputs read the positions as they are, and one saved
        # before mirrored sides read its body frame unmirrored.
        return cls(state["mean"].numpy(), state["scale"].numpy(), state["coef"].numpy(), float(state["intercept"]),
                   json.loads(state["vocabulary"]), _person_normalization(state),
                   bool(state.get("body_frame", False)), bool(state.get("mirror_sides", False)))  # fmt: skip


# ------------------------------------------------------------------ minirocket
def resampled_series(seqs: Sequences, rows: np.ndarray, length: int) -> np.ndarray:
    """Each execution's valid frames linearly resampled to ``length`` steps.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(len(rows), channel, length)``: the ``summary_channels``.
    """
    channels = summary_channels(seqs)
    out = np.empty((len(rows), len(channels), length))
    for i, row in enumerate(rows):
        n = int(seqs.lengths[row])
        source = seqs.X[row, :n][:, channels].astype(np.float64)  # (time, channel)
        at = np.linspace(0, n - 1, length)
        below = np.floor(at).astype(np.intp)
        above = np.minimum(below + 1, n - 1)
        weight = (at - below)[:, np.newaxis]
        out[i] = ((1 - weight) * source[below] + weight * source[above]).T
    return out


def rocket_inputs(
    seqs: Sequences, rows: np.ndarray, length: int, body_frame: bool, mirror_sides: bool, directions: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(series, summaries)`` of the sequences ``rows``: what MiniRocket convolves, float64
    ``(len(rows), channel, length)``, and the per-execution summaries. As they are:
    ``resampled_series`` and ``kinematic_summaries``; with ``body_frame``, the ``tasks.learning.body``
    channels of each execution alone (segment directions, when ``directions``, and angles;
    summaries of the displacements from rest, angles and segment directions, and the
    duration), with ``mirror_sides`` the moving side on the right."""
    rows = np.asarray(rows)
    if not body_frame:
        return resampled_series(seqs, rows, length), kinematic_summaries(seqs, rows)
    series, summary = body_series(seqs.X[rows], seqs.lengths[rows], seqs.feature_names, length, directions, mirror_sides)
    return series, series_summaries(summary, seqs.duration_s[rows])


@dataclass
class RocketFeatures:
    """Each execution resampled, standardized per channel, MiniRocket features and the
    kinematic summaries, standardized (the two blocks weighing the same): the inputs of the
    exercise and fault models."""

    length: int
    channel_mean: np.ndarray
    channel_scale: np.ndarray
    transform: MiniRocketParameters
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    body_frame: bool = False
    mirror_sides: bool = False

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, length: int, n_features: int, seed: int,
            body_frame: bool = False) -> "RocketFeatures":  # fmt: skip
        """``body_frame``: the ``tasks.learning.body`` channels of each execution, the moving
        side on the right (``tasks.learning.families.rocket_inputs``)."""
        series, summaries = rocket_inputs(seqs, rows, length, body_frame, body_frame)
        channel_mean, spread = series.mean(axis=(0, 2)), series.std(axis=(0, 2))
        channel_scale = np.where(spread > 1e-9, spread, 1.0)
        series = (series - channel_mean[:, np.newaxis]) / channel_scale[:, np.newaxis]
        transform = fit_minirocket(series, n_features, seed)
        X = np.hstack([transform_minirocket(series, transform), summaries])
        feature_mean, spread = X.mean(axis=0), X.std(axis=0)
        feature_scale = np.where(spread > 1e-9, spread, 1.0)
        # The few summaries weigh as much as the many MiniRocket features (tasks.learning.families, minirocket).
        n_rocket = transform.n_features
        feature_scale[n_rocket:] /= np.sqrt(n_rocket / (X.shape[1] - n_rocket))
        return cls(length, channel_mean, channel_scale, transform, feature_mean, feature_scale, body_frame, body_frame)

    def __call__(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        """float64, shape ``(len(rows), feature)``, standardized."""
        series, summaries = rocket_inputs(seqs, np.asarray(rows), self.length, self.body_frame, self.mirror_sides)
        series = (series - self.channel_mean[:, np.newaxis]) / self.channel_scale[:, np.newaxis]
        X = np.hstack([transform_minirocket(series, self.transform), summaries])
        return (X - self.feature_mean) / self.feature_scale

    def state(self) -> dict:
        t = self.transform
        arrays = {
            "channel_mean": self.channel_mean, "channel_scale": self.channel_scale, "dilations": t.dilations,
            "features_per_dilation": t.features_per_dilation, "channel_counts": t.channel_counts,
            "channel_indices": t.channel_indices, "biases": t.biases, "feature_mean": self.feature_mean,
            "feature_scale": self.feature_scale,
        }  # fmt: skip
        return {**{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, "length": self.length,
                "body_frame": self.body_frame, "mirror_sides": self.mirror_sides}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "RocketFeatures":
        a = {name: value.numpy() for name, value in state.items() if isinstance(value, torch.Tensor)}
        transform = MiniRocketParameters(a["dilations"], a["features_per_dilation"], a["channel_counts"],
                                         a["channel_indices"], a["biases"])  # fmt: skip
        # A model saved before body-frame inputs read the positions as they are (before mirrored sides, unmirrored).
        return cls(int(state["length"]), a["channel_mean"], a["channel_scale"], transform, a["feature_mean"], a["feature_scale"],
                   bool(state.get("body_frame", False)), bool(state.get("mirror_sides", False)))  # fmt: skip


@dataclass
class MiniRocket:
    """Per-channel standardization, MiniRocket, standardization, logistic regression."""

    length: int
    channel_mean: np.ndarray
    channel_scale: np.ndarray
    transform: MiniRocketParameters
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef: np.ndarray
    intercept: float
    vocabulary: list[str]
    person_normalization: str = "none"
    body_frame: bool = False
    mirror_sides: bool = False
    #: p(incorrect) is the logistic function of this times the decision value: 2 in models
    #: saved before the logistic regression (a ridge classifier's +-1 targets).
    decision_scale: float = 1.0

    def _features(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        series, summaries = rocket_inputs(seqs, rows, self.length, self.body_frame, self.mirror_sides, directions=False)
        series = (series - self.channel_mean[:, np.newaxis]) / self.channel_scale[:, np.newaxis]
        return np.hstack([transform_minirocket(series, self.transform), summaries])

    @classmethod
    def fit(cls, seqs: Sequences, rows: np.ndarray, params: TrainParams, vocabulary: list[str]) -> "MiniRocket":
        settings = params.minirocket
        body = params.body_frame
        # Body frame: MiniRocket convolves the angles only (the segment directions lowered the
        # UI-PRMD figures; README, Models), the summaries read them all.
        series, summaries = rocket_inputs(seqs, rows, settings.length, body, body, directions=False)
        channel_mean, spread = series.mean(axis=(0, 2)), series.std(axis=(0, 2))
        channel_scale = np.where(spread > 1e-9, spread, 1.0)
        series = (series - channel_mean[:, np.newaxis]) / channel_scale[:, np.newaxis]
        transform = fit_minirocket(series, settings.features, params.seed)
        person = params.person_normalization
        X = np.hstack([by_person(np.hstack([transform_minirocket(series, transform), summaries]), seqs.subject[rows],
                                 seqs.exercise[rows], person), _exercise_one_hot(seqs.exercise[rows], vocabulary)])  # fmt: skip
        feature_mean, spread = X.mean(axis=0), X.std(axis=0)
        feature_scale = np.where(spread > 1e-9, spread, 1.0)
        # Both blocks weigh the same in the L2 penalty: the few summaries are scaled up
        # against the many MiniRocket features (by the root of their numbers' ratio).
        feature_scale[transform.n_features :] /= np.sqrt(transform.n_features / (X.shape[1] - transform.n_features))
        regression = LogisticRegression(C=settings.C, class_weight="balanced", max_iter=5000)
        regression.fit((X - feature_mean) / feature_scale, seqs.y[rows])
        return cls(settings.length, channel_mean, channel_scale, transform, feature_mean, feature_scale,
                   regression.coef_.reshape(-1), float(regression.intercept_[0]), vocabulary, person, body, body)  # fmt: skip

    def predict(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        features = self._features(seqs, rows)
        X = np.hstack([by_person(features, seqs.subject[rows], seqs.exercise[rows], self.person_normalization),
                       _exercise_one_hot(seqs.exercise[rows], self.vocabulary)])  # fmt: skip
        return _sigmoid(self.decision_scale * (((X - self.feature_mean) / self.feature_scale) @ self.coef + self.intercept))

    def state(self) -> dict:
        t = self.transform
        return {
            **_state_tensors(
                channel_mean=self.channel_mean, channel_scale=self.channel_scale, dilations=t.dilations,
                features_per_dilation=t.features_per_dilation, channel_counts=t.channel_counts,
                channel_indices=t.channel_indices, biases=t.biases, feature_mean=self.feature_mean,
                feature_scale=self.feature_scale, coef=self.coef,
            ),
            "length": self.length, "intercept": self.intercept, "vocabulary": json.dumps(self.vocabulary),
            "person_normalization": self.person_normalization, "body_frame": self.body_frame,
            "mirror_sides": self.mirror_sides, "decision_scale": self.decision_scale,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "MiniRocket":
        array = {name: value.numpy() for name, value in state.items() if isinstance(value, torch.Tensor)}
        transform = MiniRocketParameters(
            array["dilations"], array["features_per_dilation"], array["channel_counts"], array["channel_indices"],
            array["biases"],
        )  # fmt: skip
        return cls(int(state["length"]), array["channel_mean"], array["channel_scale"], transform, array["feature_mean"],
                   array["feature_scale"], array["coef"], float(state["intercept"]), json.loads(state["vocabulary"]),
                   _person_normalization(state), bool(state.get("body_frame", False)),
                   bool(state.get("mirror_sides", False)), float(state.get("decision_scale", 2.0)))  # fmt: skip


FAMILIES = {"conv_lstm": ConvLstm, "kinematic": Kinematic, "minirocket": MiniRocket}


# ------------------------------------------------------------------ exercise modes
@dataclass
class TrainedModel:
    """The fitted model(s) of one family: per exercise, or one ``SHARED`` for all.

    Attributes
    ----------
    family
        A key of ``FAMILIES``.
    exercise_mode
        One of ``EXERCISE_MODES``.
    models
        Exercise (or ``SHARED``) -> fitted family model.
    prior
        Share of incorrect training sequences: ``p(incorrect)`` of an exercise no model knows.
    view_fusion
        One of ``VIEW_FUSIONS``: ``fused`` models read one fused sequence per sample.
    """

    family: str
    exercise_mode: str
    models: dict
    prior: float
    view_fusion: str = "average"

    def predict(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        """``p(incorrect)`` of the sequences ``rows``, float64, shape ``(len(rows),)``; with
        ``fused`` views, each sequence's is its sample's."""
        rows = np.asarray(rows)
        if self.view_fusion == "fused":
            fused, sample_of_row = fuse_views(seqs, rows)
            return self._predict(fused, np.arange(len(fused.y)))[sample_of_row]
        return self._predict(seqs, rows)

    def _predict(self, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
        p = np.empty(len(rows))
        for exercise in np.unique(seqs.exercise[rows]):
            these = seqs.exercise[rows] == exercise
            model = self.models.get(exercise, self.models.get(SHARED))
            p[these] = model.predict(seqs, rows[these]) if model is not None else self.prior
        return p

    def to(self, device: str) -> "TrainedModel":
        """This model with its torch networks (``conv_lstm``) on ``device``; the other
        families compute in numpy, on the CPU."""
        models = {key: model.to(device) if hasattr(model, "to") else model for key, model in self.models.items()}
        return replace(self, models=models)

    def state(self) -> dict:
        return {"family": self.family, "exercise_mode": self.exercise_mode, "prior": self.prior,
                "view_fusion": self.view_fusion, "models": {key: model.state() for key, model in self.models.items()}}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> "TrainedModel":
        family = FAMILIES[state["family"]]
        models = {key: family.from_state(model) for key, model in state["models"].items()}
        # A model saved before views could be fused averaged them.
        return cls(state["family"], state["exercise_mode"], models, float(state["prior"]), state.get("view_fusion", "average"))


def fit_model(seqs: Sequences, rows: np.ndarray, params: TrainParams) -> TrainedModel:
    """Fit ``params.model`` on the sequences ``rows`` as ``params.exercise_mode`` says.

    Parameters
    ----------
    seqs
        From ``tasks.train.build_sequences``.
    rows
        int, the training sequences; both classes among them.
    params
        The ``train`` group.

    Raises
    ------
    ValueError
        An unknown model family or exercise mode.
    """
    family, mode, fusion = params.model, params.exercise_mode, params.view_fusion
    if family not in FAMILIES:
        raise ValueError(f"train.model is {family!r}: use one of {', '.join(MODEL_FAMILIES)}")
    if mode not in EXERCISE_MODES:
        raise ValueError(f"train.exercise_mode is {mode!r}: use one of {', '.join(EXERCISE_MODES)}")
    if fusion not in VIEW_FUSIONS:
        raise ValueError(f"train.view_fusion is {fusion!r}: use one of {', '.join(VIEW_FUSIONS)}")
    rows = np.asarray(rows)
    if fusion == "fused":
        seqs, _ = fuse_views(seqs, rows)
        rows = np.arange(len(seqs.y))
    vocabulary = sorted(set(seqs.exercise[rows]))
    models = {}
    if mode == "per_exercise":
        for exercise in vocabulary:
            own = rows[seqs.exercise[rows] == exercise]
            if len(np.unique(seqs.y[own])) == 2:
                models[exercise] = FAMILIES[family].fit(seqs, own, params, [])
    if len(models) < len(vocabulary):
        models[SHARED] = FAMILIES[family].fit(seqs, rows, params, vocabulary)
    return TrainedModel(family, mode, models, float(seqs.y[rows].mean()), fusion)
