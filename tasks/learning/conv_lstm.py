"""The Conv1D + BiLSTM classifier (Park 2020; ``train.model: conv_lstm``).

Conv1D x3 -> bidirectional LSTM over the valid frames -> dropout -> dense -> 2 logits,
trained with Adam and class-weighted cross-entropy (incorrect executions can be rare). The
early-stopping validation set is whole subjects held out of the training subjects.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from formset.params import TrainParams
from formset.tasks.learning.sequences import CLASS_LABELS, INCORRECT, N_CLASSES, Sequences, split_by_subject

#: Sequences per forward pass when predicting (memory, not results, depends on it).
PREDICT_BATCH = 256


class FormClassifier(nn.Module):
    """Conv1D x3 -> bidirectional LSTM -> dropout -> dense -> 2 logits (Park 2020).

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
    def from_params(cls, feature_names: tuple[str, ...], params: TrainParams) -> "FormClassifier":
        """Build the model from the ``train`` parameter group."""
        return cls(
            feature_names,
            params.conv_filters,
            params.conv_kernels,
            params.lstm_units,
            params.dense_units,
            params.dropout,
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
        valid = (torch.arange(x.shape[1], device=x.device) < lengths[:, None]).unsqueeze(1)  # (batch, 1, time)
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
    """Logits of the sequences ``index``, cut to the longest of them, on the model's device."""
    longest = int(lengths[index].max())
    device = next(model.parameters()).device
    return model(torch.from_numpy(X[index, :longest]).to(device), torch.from_numpy(lengths[index]).to(device))


def predict_proba(model: FormClassifier, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Probability of ``incorrect`` per sequence, float64, shape ``(sequence,)``."""
    model.eval()
    with torch.inference_mode():
        batches = np.array_split(np.arange(len(X)), max(1, -(-len(X) // PREDICT_BATCH)))
        probabilities = [
            torch.softmax(_batch_logits(model, X, lengths, batch), dim=1)[:, INCORRECT].cpu().numpy()
            for batch in batches
            if len(batch)
        ]
    return np.concatenate(probabilities).astype(np.float64) if probabilities else np.empty(0)


def _mean_loss(model: FormClassifier, seqs: Sequences, index: np.ndarray, loss_fn: nn.Module) -> float:
    """Class-weighted loss over the sequences ``index``, without dropout or gradients."""
    model.eval()
    with torch.inference_mode():
        return float(loss_fn(_batch_logits(model, seqs.X, seqs.lengths, index), torch.from_numpy(seqs.y[index])))


def train_classifier(seqs: Sequences, train_mask: np.ndarray, params: TrainParams) -> FormClassifier:
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
    if params.validation_subject_fraction > 0 and len(np.unique(seqs.subject[train_index])) >= 2:
        keep, hold = split_by_subject(
            seqs.subject[train_index], params.validation_subject_fraction, params.seed, seqs.y[train_index]
        )
        # Early stopping must not cost the fit a class: without one, train on everyone.
        if (np.bincount(seqs.y[train_index[keep]], minlength=N_CLASSES) > 0).all():
            fit_index, validation_index = train_index[keep], train_index[hold]
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(seqs.y[fit_index]))
    with _torch_session(params.seed, params.threads):
        model = FormClassifier.from_params(seqs.feature_names, params)
        mean, scale = standardization(seqs.X[fit_index], seqs.lengths[fit_index])
        model.feature_mean.copy_(torch.from_numpy(mean))
        model.feature_scale.copy_(torch.from_numpy(scale))
        optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
        order = torch.Generator().manual_seed(params.seed)
        best_loss, best_state, stale_epochs = np.inf, None, 0
        for _ in range(params.epochs):
            model.train()
            shuffled = fit_index[torch.randperm(len(fit_index), generator=order).numpy()]
            for start in range(0, len(shuffled), params.batch_size):
                batch = shuffled[start : start + params.batch_size]
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
                    if stale_epochs >= params.patience:
                        break
        if best_state is not None:
            model.load_state_dict(best_state)
    return model.eval()

