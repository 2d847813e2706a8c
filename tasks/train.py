"""Correct-vs-incorrect classifier over keypoint sequences (seed 003), with a subject-level test.

One sequence per labeled sample x view: per frame the normalized x, y of the ten
``CORE_JOINTS`` and their per-frame deltas (40 numbers, as seed 003) plus a one-hot of the
view, so one model learns from every view. The model is Conv1D x3 -> bidirectional LSTM over
the valid frames -> dropout -> dense -> 2 logits, trained with Adam and class-weighted
cross-entropy (incorrect executions can be rare). People are never split: the test set is
whole held-out subjects, and so is the early-stopping validation set inside the training
subjects. A sample's prediction averages the probabilities of its views.

``params`` is the ``train`` group of ``params.yaml``.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import precision_recall_fscore_support
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from formset.quarantine import StageSkipped
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.vocab import LABELS
from formset.storage import atomic_path

SAMPLE_KEY: list[str] = ["set_id", "sample_id"]
SEQUENCE_KEY: list[str] = [*SAMPLE_KEY, "view"]

#: Class indices of the logits; ``INCORRECT`` is the positive class of the metrics.
CORRECT, INCORRECT = 0, 1
CLASS_LABELS: tuple[str, ...] = ("correct", "incorrect")
N_CLASSES = len(CLASS_LABELS)

def input_columns(params: dict) -> tuple[list[str], list[str], list[str]]:
    """The ``FEATURES`` columns a model reads: ``(positions, deltas, angles)``.

    ``params["joints"]`` (default ``CORE_JOINTS``, the seed-003 input) picks the joints whose
    planar x, y and deltas are used; ``params["angles"]`` (default none) adds joint angles.
    Seed 003's ten joints leave out the head and wrists, so neck faults and hand placement
    are invisible to it; params.yaml adds them.
    """
    joints = params.get("joints") or CORE_JOINTS
    positions = [f"{joint}_{axis}" for joint in joints for axis in ("x", "y")]
    return positions, [f"d_{c}" for c in positions], list(params.get("angles") or [])

#: Sequences per forward pass when predicting (memory, not results, depends on it).
PREDICT_BATCH = 256

#: Probability of ``incorrect`` at or above which a sample is predicted incorrect.
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True)
class Sequences:
    """Model inputs, one row per labeled sample x view.

    Attributes
    ----------
    X
        float32, shape ``(sequence, time, feature)``: frames in order, zero after ``lengths``.
    lengths
        int64, shape ``(sequence,)``: valid frames per sequence, 1 .. time.
    y
        int64, shape ``(sequence,)``: 1 = incorrect, 0 = correct.
    subject, set_id, sample_id, view
        object arrays of shape ``(sequence,)``.
    feature_names
        Names of the ``feature`` axis.
    """

    X: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    set_id: np.ndarray
    sample_id: np.ndarray
    view: np.ndarray
    feature_names: tuple[str, ...]


def feature_names(params: dict) -> tuple[str, ...]:
    """Names of the per-frame features: positions, angles, deltas, then one ``view_<name>``
    per view."""
    positions, deltas, angles = input_columns(params)
    return (*positions, *angles, *deltas, *(f"view_{view}" for view in params["views"]))


def frame_positions(n_frames: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Which source frame fills each time step, for sequences of ``n_frames`` frames.

    A sequence of at most ``max_frames`` frames is kept whole; a longer one is subsampled to
    ``max_frames`` evenly spaced frames (first and last kept), so the whole execution stays in
    view and the deltas keep their per-source-frame meaning.

    Parameters
    ----------
    n_frames
        int, shape ``(sequence,)``, at least 1.
    max_frames
        Time steps of the output, at least 2.

    Returns
    -------
    tuple of numpy.ndarray
        ``(positions, lengths)``: int, shape ``(sequence, max_frames)``, the frame index within
        the sequence (0 past the length), and int64, shape ``(sequence,)``.
    """
    lengths = np.minimum(n_frames, max_frames).astype(np.int64)
    step = np.where(n_frames > max_frames, (n_frames - 1) / (max_frames - 1), 1.0)
    positions = np.rint(np.arange(max_frames)[np.newaxis, :] * step[:, np.newaxis]).astype(np.intp)
    valid = np.arange(max_frames)[np.newaxis, :] < lengths[:, np.newaxis]
    return np.where(valid, positions, 0), lengths


def build_sequences(features: pd.DataFrame, samples: pd.DataFrame, params: dict) -> Sequences:
    """Turn the frames of labeled samples into padded per-view sequences.

    A missing position is carried forward from the last frame that had it (backward at the
    start); a joint missing in the whole sequence is 0 (the mid-hip). A missing delta is 0
    (no movement).

    Parameters
    ----------
    features
        ``FEATURES`` rows (one per sample x view x frame); the key columns, the core joints'
        ``x``, ``y`` and their ``d_`` deltas are read.
    samples
        The ``SAMPLES`` catalog; samples whose label is not ``correct`` / ``incorrect`` are
        left out.
    params
        The ``train`` group: ``views`` (also the one-hot order), ``max_frames``.
    """
    views = list(params["views"])
    position_columns, delta_columns, angle_columns = input_columns(params)
    needed = [*SEQUENCE_KEY, "frame", *position_columns, *delta_columns, *angle_columns]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise ValueError(f"the features table lacks the columns {missing}")
    labeled = samples.loc[samples["label"].isin(LABELS), [*SAMPLE_KEY, "subject_id", "label"]]
    rows = (
        features.loc[features["view"].isin(views), needed]
        .merge(labeled, on=SAMPLE_KEY, how="inner", validate="many_to_one")
        .sort_values([*SEQUENCE_KEY, "frame"], ignore_index=True)
    )
    if rows.empty:
        raise StageSkipped(
            f"no labeled samples (label correct or incorrect) with features in the views {', '.join(views)}: "
            "nothing to train on; label some samples or add a labeled set"
        )
    sequence_of_row = rows.groupby(SEQUENCE_KEY, sort=False).ngroup().to_numpy()
    # Positions and angles are states: carry them over gaps. Deltas are changes: 0 when unknown.
    positions = rows[position_columns + angle_columns].groupby(sequence_of_row).ffill()
    positions = positions.groupby(sequence_of_row).bfill()
    view_one_hot = np.eye(len(views), dtype=np.float32)[pd.Categorical(rows["view"], categories=views).codes]
    frame_features = np.hstack(
        [
            positions.fillna(0.0).to_numpy(np.float32),
            rows[delta_columns].fillna(0.0).to_numpy(np.float32),
            view_one_hot,
        ]
    )
    starts = np.flatnonzero(np.diff(sequence_of_row, prepend=-1))
    n_frames = np.diff(np.append(starts, len(rows)))
    time_steps = max(2, min(int(params["max_frames"]), int(n_frames.max())))
    steps, lengths = frame_positions(n_frames, time_steps)
    valid = np.arange(time_steps)[np.newaxis, :] < lengths[:, np.newaxis]
    X = frame_features[starts[:, np.newaxis] + steps]  # (sequence, time, feature)
    X[~valid] = 0.0
    first = rows.iloc[starts]
    return Sequences(
        X=X,
        lengths=lengths,
        y=(first["label"] == "incorrect").to_numpy(np.int64),
        subject=first["subject_id"].to_numpy(object),
        set_id=first["set_id"].to_numpy(object),
        sample_id=first["sample_id"].to_numpy(object),
        view=first["view"].to_numpy(object),
        feature_names=feature_names(params),
    )


def split_by_subject(
    subjects: np.ndarray, test_fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole subjects: no person is in both parts.

    Subjects are stratified by their majority label (with ``labels``) and about
    ``test_fraction`` of each stratum is drawn, at least one and never all of a stratum of
    two or more, so both classes reach the test set whenever each has two subjects.

    Parameters
    ----------
    subjects
        shape ``(row,)``: the person of each row.
    test_fraction
        Share of subjects to hold out, 0-1.
    seed
        Seed of the draw; the same inputs and seed give the same split.
    labels
        int, shape ``(row,)``: 1 = incorrect; None to draw without strata.

    Returns
    -------
    tuple of numpy.ndarray
        ``(train_mask, test_mask)``, bool, shape ``(row,)``, complementary.

    Raises
    ------
    ValueError
        Fewer than two subjects: nobody could be held out.
    """
    people, person_of_row = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)
    if len(people) < 2:
        raise ValueError(f"a subject-level split needs at least two subjects, found {len(people)}")
    if labels is None:
        stratum = np.zeros(len(people), dtype=np.int64)
    else:
        incorrect_share = np.bincount(person_of_row, weights=labels) / np.bincount(person_of_row)
        stratum = (incorrect_share >= 0.5).astype(np.int64)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(people), dtype=bool)
    for members in (np.flatnonzero(stratum == s) for s in np.unique(stratum)):
        # At least one person of a stratum is held out, never its only or last one.
        n_test = min(max(int(np.rint(test_fraction * len(members))), 1), len(members) - 1)
        held_out[rng.permutation(members)[:n_test]] = True
    if not held_out.any():
        # One subject per stratum: hold out one person so there is a test set at all.
        held_out[rng.integers(len(people))] = True
    test_mask = held_out[person_of_row]
    return ~test_mask, test_mask


class FormClassifier(nn.Module):
    """Conv1D x3 -> bidirectional LSTM -> dropout -> dense -> 2 logits (seed 003).

    The LSTM's outputs are pooled over the valid frames (mean and max) rather than read
    from its final state: a fault is often a posture held for a few frames at the bottom
    of a rep, which the final state of a long sequence forgets (measured on the synthetic
    set: held-out accuracy 0.67 with the final state, see the README's figures).

    Parameters
    ----------
    feature_names
        Names of the per-frame input features (their count is the input width); kept so a
        saved model says what it expects.
    conv_filters, conv_kernels
        Output channels and kernel lengths (frames) of the three convolutions.
    lstm_units
        Hidden units per direction.
    dense_units
        Width of the dense layer before the logits.
    dropout
        Dropout probability before the dense layer.
    """

    def __init__(
        self,
        feature_names: tuple[str, ...],
        conv_filters: list[int],
        conv_kernels: list[int],
        lstm_units: int,
        dense_units: int,
        dropout: float,
    ):
        super().__init__()
        self.config = {
            "feature_names": list(feature_names),
            "conv_filters": list(conv_filters),
            "conv_kernels": list(conv_kernels),
            "lstm_units": int(lstm_units),
            "dense_units": int(dense_units),
            "dropout": float(dropout),
        }
        # Per-feature standardization, fitted on the training frames (positions are ~1 torso
        # length, deltas ~0.01: unscaled, the deltas would barely count).
        self.register_buffer("feature_mean", torch.zeros(len(feature_names)))
        self.register_buffer("feature_scale", torch.ones(len(feature_names)))
        self.convs = nn.ModuleList()
        channels = len(feature_names)
        for filters, kernel in zip(conv_filters, conv_kernels, strict=True):
            self.convs.append(nn.Conv1d(channels, filters, kernel, padding="same"))
            channels = filters
        self.lstm = nn.LSTM(channels, lstm_units, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(4 * lstm_units, dense_units),
            nn.ReLU(),
            nn.Linear(dense_units, N_CLASSES),
        )

    @classmethod
    def from_params(cls, feature_names: tuple[str, ...], params: dict) -> "FormClassifier":
        """Build the model from the ``train`` parameter group."""
        return cls(
            feature_names,
            params["conv_filters"],
            params["conv_kernels"],
            params["lstm_units"],
            params["dense_units"],
            params["dropout"],
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits of (correct, incorrect).

        Parameters
        ----------
        x
            float32, shape ``(batch, time, feature)``, zero-padded after ``lengths``.
        lengths
            int64, shape ``(batch,)``: valid frames per sequence.

        Returns
        -------
        torch.Tensor
            float32, shape ``(batch, 2)``.
        """
        valid = (torch.arange(x.shape[1]) < lengths[:, None]).unsqueeze(1)  # (batch, 1, time)
        # Conv1d wants (batch, channel, time).
        hidden = ((x - self.feature_mean) / self.feature_scale).transpose(1, 2) * valid
        for conv in self.convs:
            # Zero the padded frames after every layer (the bias makes them non-zero), so a
            # sequence's output does not depend on how much padding its batch has.
            hidden = torch.relu(conv(hidden)) * valid
        packed = pack_padded_sequence(hidden.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.shape[1])
        frames = valid.transpose(1, 2)  # (batch, time, 1)
        mean = (outputs * frames).sum(dim=1) / lengths[:, None].clamp(min=1)
        peak = outputs.masked_fill(~frames, float("-inf")).amax(dim=1)
        return self.head(torch.cat([mean, peak], dim=1))


def standardization(X: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature over the valid frames of ``X``.

    Parameters
    ----------
    X
        float, shape ``(sequence, time, feature)``.
    lengths
        int, shape ``(sequence,)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean, scale)``, float32, shape ``(feature,)``; ``scale`` is 1 for a constant feature.
    """
    valid = np.arange(X.shape[1])[np.newaxis, :] < lengths[:, np.newaxis]
    frames = X[valid]  # (frame, feature)
    spread = frames.std(axis=0)
    return frames.mean(axis=0).astype(np.float32), np.where(spread > 1e-6, spread, 1.0).astype(np.float32)


@contextmanager
def _torch_session(seed: int, threads: int) -> Iterator[None]:
    """Seed torch and cap its threads inside the block, restoring the caller's state after."""
    previous_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous_threads)


def class_weights(y: np.ndarray) -> torch.Tensor:
    """Inverse-frequency weights ``n / (classes * n_class)`` so each class weighs the same.

    Raises
    ------
    ValueError
        A class has no example: a classifier cannot learn it.
    """
    counts = np.bincount(y, minlength=N_CLASSES)
    if (counts == 0).any():
        absent = [CLASS_LABELS[c] for c in np.flatnonzero(counts == 0)]
        raise ValueError(f"the training subjects have no {' or '.join(absent)} executions")
    return torch.tensor(len(y) / (N_CLASSES * counts), dtype=torch.float32)


def _batch_logits(model: FormClassifier, X: np.ndarray, lengths: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """Logits of the sequences ``index``, cut to the longest of them."""
    longest = int(lengths[index].max())
    return model(torch.from_numpy(X[index, :longest]), torch.from_numpy(lengths[index]))


def predict_proba(model: FormClassifier, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Probability of ``incorrect`` per sequence, float64, shape ``(sequence,)``."""
    model.eval()
    with torch.inference_mode():
        batches = np.array_split(np.arange(len(X)), max(1, -(-len(X) // PREDICT_BATCH)))
        probabilities = [
            torch.softmax(_batch_logits(model, X, lengths, batch), dim=1)[:, INCORRECT].numpy()
            for batch in batches
            if len(batch)
        ]
    return np.concatenate(probabilities).astype(np.float64) if probabilities else np.empty(0)


def _mean_loss(model: FormClassifier, seqs: Sequences, index: np.ndarray, loss_fn: nn.Module) -> float:
    """Class-weighted loss over the sequences ``index``, without dropout or gradients."""
    model.eval()
    with torch.inference_mode():
        return float(loss_fn(_batch_logits(model, seqs.X, seqs.lengths, index), torch.from_numpy(seqs.y[index])))


def train_classifier(seqs: Sequences, train_mask: np.ndarray, params: dict) -> FormClassifier:
    """Fit a ``FormClassifier`` on the rows of ``train_mask``, deterministically.

    With ``validation_subject_fraction`` > 0 and enough training subjects, that share of the
    training subjects is held out for early stopping: training stops after ``patience``
    epochs without a lower validation loss and the best epoch's weights are kept.

    Parameters
    ----------
    seqs
        From ``build_sequences``.
    train_mask
        bool, shape ``(sequence,)``.
    params
        The ``train`` group: ``seed``, ``threads``, ``epochs``, ``batch_size``,
        ``learning_rate``, ``validation_subject_fraction``, ``patience`` and the architecture.

    Returns
    -------
    FormClassifier
        In eval mode.
    """
    train_index = np.flatnonzero(train_mask)
    fit_index, validation_index = train_index, np.empty(0, dtype=np.intp)
    if params["validation_subject_fraction"] > 0 and len(np.unique(seqs.subject[train_index])) >= 2:
        keep, hold = split_by_subject(
            seqs.subject[train_index], params["validation_subject_fraction"], params["seed"], seqs.y[train_index]
        )
        # Early stopping must not cost the fit a class: without one, train on everyone.
        if (np.bincount(seqs.y[train_index[keep]], minlength=N_CLASSES) > 0).all():
            fit_index, validation_index = train_index[keep], train_index[hold]
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(seqs.y[fit_index]))
    with _torch_session(params["seed"], params["threads"]):
        model = FormClassifier.from_params(seqs.feature_names, params)
        mean, scale = standardization(seqs.X[fit_index], seqs.lengths[fit_index])
        model.feature_mean.copy_(torch.from_numpy(mean))
        model.feature_scale.copy_(torch.from_numpy(scale))
        optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
        order = torch.Generator().manual_seed(params["seed"])
        best_loss, best_state, stale_epochs = np.inf, None, 0
        for _ in range(params["epochs"]):
            model.train()
            shuffled = fit_index[torch.randperm(len(fit_index), generator=order).numpy()]
            for start in range(0, len(shuffled), params["batch_size"]):
                batch = shuffled[start : start + params["batch_size"]]
                optimizer.zero_grad()
                loss = loss_fn(_batch_logits(model, seqs.X, seqs.lengths, batch), torch.from_numpy(seqs.y[batch]))
                loss.backward()
                optimizer.step()
            if len(validation_index):
                validation_loss = _mean_loss(model, seqs, validation_index, loss_fn)
                if validation_loss < best_loss:
                    best_loss, stale_epochs = validation_loss, 0
                    best_state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
                else:
                    stale_epochs += 1
                    if stale_epochs >= params["patience"]:
                        break
        if best_state is not None:
            model.load_state_dict(best_state)
    return model.eval()


def _per_sample(seqs: Sequences, rows: np.ndarray, p_incorrect: np.ndarray) -> pd.DataFrame:
    """Average the views' probabilities of each sample among the sequences ``rows``."""
    per_view = pd.DataFrame(
        {
            "set_id": seqs.set_id[rows],
            "sample_id": seqs.sample_id[rows],
            "subject_id": seqs.subject[rows],
            "y": seqs.y[rows],
            "p_incorrect": p_incorrect,
        }
    )
    per_sample = per_view.groupby(SAMPLE_KEY, sort=True, as_index=False).agg(
        subject_id=("subject_id", "first"), y=("y", "first"), p_incorrect=("p_incorrect", "mean")
    )
    labels = np.asarray(CLASS_LABELS, dtype=object)
    per_sample["actual"] = labels[per_sample["y"].to_numpy()]
    per_sample["predicted"] = labels[(per_sample["p_incorrect"] >= DECISION_THRESHOLD).to_numpy(np.intp)]
    return per_sample[[*SAMPLE_KEY, "subject_id", "actual", "p_incorrect", "predicted"]]


def predict_samples(model: FormClassifier, seqs: Sequences, mask: np.ndarray) -> pd.DataFrame:
    """Per-sample predictions over the rows of ``mask``: the views' probabilities averaged.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``set_id``, ``sample_id``, ``subject_id``, ``actual``,
        ``p_incorrect`` (0-1) and ``predicted`` (label strings).
    """
    rows = np.flatnonzero(mask)
    return _per_sample(seqs, rows, predict_proba(model, seqs.X[rows], seqs.lengths[rows]))


def evaluate(model: FormClassifier, seqs: Sequences, mask: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Metrics per sample on the rows of ``mask`` (held-out subjects), incorrect = positive.

    Returns
    -------
    tuple
        ``(metrics, confusion)``: metrics has ``accuracy``, ``precision``, ``recall``, ``f1``,
        ``n_test_samples``, ``n_test_subjects``, ``n_train_subjects`` (subjects of the rows
        outside ``mask``) and ``accuracy_<view>`` (per sequence) for each view in the test
        rows; confusion has one row per test sample with label strings ``actual`` and
        ``predicted`` (the layout of DVC's confusion plot).
    """
    rows = np.flatnonzero(mask)
    p_incorrect = predict_proba(model, seqs.X[rows], seqs.lengths[rows])
    predictions = _per_sample(seqs, rows, p_incorrect)
    actual = predictions["actual"] == "incorrect"
    predicted = predictions["predicted"] == "incorrect"
    precision, recall, f1, _ = precision_recall_fscore_support(actual, predicted, average="binary", zero_division=0)
    metrics = {
        "accuracy": float((actual == predicted).mean()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "n_test_samples": len(predictions),
        "n_test_subjects": int(predictions["subject_id"].nunique()),
        "n_train_subjects": len(np.unique(seqs.subject[~mask].astype(str))),
    }
    view_correct = (p_incorrect >= DECISION_THRESHOLD) == seqs.y[rows]
    for view in sorted(set(seqs.view[rows])):
        metrics[f"accuracy_{view}"] = float(view_correct[seqs.view[rows] == view].mean())
    return metrics, predictions[["actual", "predicted"]].reset_index(drop=True)


def save_model(model: FormClassifier, path: str | os.PathLike, meta: dict) -> None:
    """Save the weights, the architecture and ``meta`` (JSON-able) to ``path``, atomically.

    The file holds only tensors and plain values, so ``load_model`` can read it with
    ``torch.load(weights_only=True)``.
    """
    payload = {
        "state_dict": model.state_dict(),
        "config": json.dumps(model.config),
        "meta": json.dumps(meta, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def save_skipped(path: str | os.PathLike, reason: str, meta: dict) -> None:
    """Fill the model's slot with why there is no model (``load_model`` raises it), atomically."""
    with atomic_path(path) as tmp:
        torch.save({"skipped": reason, "meta": json.dumps(meta, sort_keys=True)}, tmp)


def load_model(path: str | os.PathLike) -> tuple[FormClassifier, dict]:
    """Load a model written by ``save_model`` (safe loading only).

    Returns
    -------
    tuple
        ``(model, meta)``; the model in eval mode.

    Raises
    ------
    StageSkipped
        The file was written by ``save_skipped``: training was skipped, and why.
    """
    payload = torch.load(path, weights_only=True)
    if "skipped" in payload:
        raise StageSkipped(f"{path} holds no model: training was skipped ({payload['skipped']})")
    config = json.loads(payload["config"])
    model = FormClassifier(
        tuple(config["feature_names"]),
        config["conv_filters"],
        config["conv_kernels"],
        config["lstm_units"],
        config["dense_units"],
        config["dropout"],
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval(), json.loads(payload["meta"])


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


def train_and_evaluate(
    features: pd.DataFrame, samples: pd.DataFrame, params: dict
) -> tuple[FormClassifier, dict, pd.DataFrame]:
    """Build sequences, hold out ``test_subject_fraction`` of the subjects, train, evaluate.

    Returns
    -------
    tuple
        ``(model, metrics, confusion)`` as from ``train_classifier`` and ``evaluate``.
    """
    seqs = build_sequences(features, samples, params)
    check_trainable(seqs.subject, seqs.y)
    train_mask, test_mask = split_by_subject(seqs.subject, params["test_subject_fraction"], params["seed"], seqs.y)
    check_trainable(seqs.subject[train_mask], seqs.y[train_mask], "the training people (the others are held out)", min_people=1)
    model = train_classifier(seqs, train_mask, params)
    metrics, confusion = evaluate(model, seqs, test_mask)
    return model, metrics, confusion
