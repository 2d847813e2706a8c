"""MiniRocket, multivariate, in numpy (Dempster, Schmidt, Webb: "MiniRocket: A Very Fast
(Almost) Deterministic Transform for Time Series Classification", KDD 2021).

The transform convolves every series with the 84 kernels of length 9 whose weights are -1
except three 2s (all ways of placing three 2s among nine), at dilations spread exponentially
up to the series' length, each on a random subset of the channels, and keeps for each
kernel x dilation a few biases; a feature is the proportion of positive values (PPV) of the
convolution output minus a bias. Biases are quantiles of the output on random training
series, at low-discrepancy quantile levels; half the kernel x dilation pairs pad the series
(output as long as the input), the others keep only the positions where the kernel fits.
A linear classifier on the features does the rest (``tasks.learning.families``).

Series here are equally long (``tasks.learning.families`` resamples each execution to a fixed length):
``X`` has shape ``(series, channel, time)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.sparse import csr_matrix

KERNEL_LENGTH = 9
#: The positions of the three weights 2 of each of the 84 kernels, shape ``(84, 3)``.
KERNEL_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.intp)
MAX_DILATIONS_PER_KERNEL = 32
#: Series per block of the transform (memory: 9 x block x channel x time float32).
TRANSFORM_BLOCK = 128


@dataclass(frozen=True)
class MiniRocketParameters:
    """What a fitted transform holds.

    Attributes
    ----------
    dilations
        int, shape ``(dilation,)``.
    features_per_dilation
        int, shape ``(dilation,)``: biases per kernel at each dilation.
    channel_counts
        int, shape ``(dilation * 84,)``: channels each kernel x dilation sums over.
    channel_indices
        int, shape ``(sum(channel_counts),)``: those channels, concatenated.
    biases
        float, shape ``(feature,)``: in order dilation, kernel, bias (increasing).
    """

    dilations: np.ndarray
    features_per_dilation: np.ndarray
    channel_counts: np.ndarray
    channel_indices: np.ndarray
    biases: np.ndarray

    @property
    def n_features(self) -> int:
        return len(self.biases)


def dilation_schedule(length: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Dilations and biases per kernel at each, as MiniRocket spreads them.

    Parameters
    ----------
    length
        Time steps of the series, at least ``KERNEL_LENGTH``.
    n_features
        Requested features; the transform makes ``84 * (n_features // 84)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(dilations, features_per_dilation)``, int, the same shape; the dilations are
        distinct, from 1 to about ``(length - 1) / 8``.
    """
    per_kernel = max(1, n_features // len(KERNEL_INDICES))
    n_dilations = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    max_exponent = np.log2(max(1.0, (length - 1) / (KERNEL_LENGTH - 1)))
    dilations, counts = np.unique(
        np.floor(np.logspace(0, max_exponent, n_dilations, base=2)).astype(np.int64), return_counts=True
    )
    per_dilation = (counts * (per_kernel / n_dilations)).astype(np.int64)
    remainder = per_kernel - per_dilation.sum()
    per_dilation[: int(remainder)] += 1
    return dilations, per_dilation


def _shifted(X: np.ndarray, dilation: int) -> np.ndarray:
    """The nine dilated neighbours of every step, zero past the ends.

    Returns
    -------
    numpy.ndarray
        Shape ``(9 * channel, series * time)``, position-major: row ``p * channel + c``,
        column ``s * time + t`` is channel ``c`` of series ``s`` at step
        ``t + (p - 4) * dilation``.
    """
    n_series, n_channels, n_steps = X.shape
    by_channel = X.transpose(1, 0, 2)  # (channel, series, time)
    out = np.zeros((KERNEL_LENGTH, n_channels, n_series, n_steps), dtype=X.dtype)
    for position in range(KERNEL_LENGTH):
        shift = (position - KERNEL_LENGTH // 2) * dilation
        if 0 <= shift < n_steps:
            out[position, ..., : n_steps - shift] = by_channel[..., shift:]
        elif 0 < -shift < n_steps:
            out[position, ..., -shift:] = by_channel[..., : n_steps + shift]
    return out.reshape(KERNEL_LENGTH * n_channels, n_series * n_steps)


def _kernel_weights(channel_sets: list[np.ndarray], n_channels: int) -> csr_matrix:
    """The 84 kernels of one dilation as one sparse matrix over ``_shifted``'s rows.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, shape ``(84, 9 * channel)``: -1 at every position and 2 at the kernel's three,
        on the kernel's channels only (0 elsewhere: a kernel reads a few channels).
    """
    weights = np.zeros((len(KERNEL_INDICES), KERNEL_LENGTH, n_channels), dtype=np.float32)
    for kernel, channels in enumerate(channel_sets):
        weights[kernel][:, channels] = -1.0
        weights[kernel][np.ix_(KERNEL_INDICES[kernel], channels)] = 2.0
    return csr_matrix(weights.reshape(len(KERNEL_INDICES), -1))


def _outputs(X: np.ndarray, dilation: int, weights: csr_matrix) -> np.ndarray:
    """Every kernel's output, shape ``(series, 84, time)`` (padded: as long as the input)."""
    n_series, _, n_steps = X.shape
    return (weights @ _shifted(X, dilation)).reshape(weights.shape[0], n_series, n_steps).transpose(1, 0, 2)


def _channel_sets(fitted: "MiniRocketParameters") -> list[list[np.ndarray]]:
    """Per dilation, the channels of each of its 84 kernels."""
    offset = np.concatenate([[0], np.cumsum(fitted.channel_counts)])
    pairs = [fitted.channel_indices[offset[i] : offset[i + 1]] for i in range(len(fitted.channel_counts))]
    return [pairs[d * len(KERNEL_INDICES) : (d + 1) * len(KERNEL_INDICES)] for d in range(len(fitted.dilations))]


def _is_padded(dilation_index: int) -> np.ndarray:
    """Which kernels keep the padded ends at a dilation (half of them, alternating), bool (84,)."""
    return (dilation_index % 2 + np.arange(len(KERNEL_INDICES))) % 2 == 0


def proportion_above(outputs: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """The share of each kernel's outputs above each of its biases (PPV).

    Sorting each output once and locating the biases in it costs ``time * log(time)`` per
    output instead of ``time * biases``: all rows are laid end to end on one axis, each row
    shifted past the previous one, so a single ``searchsorted`` finds every bias in its row.

    Parameters
    ----------
    outputs
        float, shape ``(series, kernel, time)``.
    biases
        float, shape ``(kernel, bias)``; sorted along ``bias`` it is fastest.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(series, kernel, bias)``, 0-1.
    """
    n_series, n_kernels, n_steps = outputs.shape
    rows = n_series * n_kernels
    values = np.sort(outputs.astype(np.float64), axis=2).reshape(rows, n_steps)
    low = min(float(values[:, 0].min()), float(biases.min()))
    span = max(float(values[:, -1].max()), float(biases.max())) - low + 1.0
    offset = np.arange(rows, dtype=np.float64)[:, np.newaxis] * span  # row r lies in [r * span, r * span + span - 1]
    queries = np.broadcast_to(biases.astype(np.float64) - low, (n_series, *biases.shape)).reshape(rows, -1) + offset
    at_most = np.searchsorted((values - low + offset).ravel(), queries.ravel(), side="right").reshape(queries.shape)
    at_most -= np.arange(rows)[:, np.newaxis] * n_steps
    return ((n_steps - at_most) / n_steps).astype(np.float32).reshape(n_series, n_kernels, -1)


def fit_minirocket(X: np.ndarray, n_features: int, seed: int) -> MiniRocketParameters:
    """Draw the channels and fit the biases of MiniRocket on training series.

    Parameters
    ----------
    X
        float, shape ``(series, channel, time)``; time at least ``KERNEL_LENGTH``.
    n_features
        Requested features (10,000 in the paper).
    seed
        Seed of the channel subsets and of the series the biases come from.

    Returns
    -------
    MiniRocketParameters
    """
    X = np.asarray(X, dtype=np.float32)
    n_series, n_channels, length = X.shape
    rng = np.random.default_rng(seed)
    dilations, per_dilation = dilation_schedule(length, n_features)
    n_pairs = len(dilations) * len(KERNEL_INDICES)
    max_channels = min(n_channels, KERNEL_LENGTH)
    counts = np.floor(2 ** rng.uniform(0, np.log2(max_channels + 1), n_pairs)).astype(np.int64).clip(1, max_channels)
    indices = np.concatenate([rng.choice(n_channels, count, replace=False) for count in counts])
    # Quantile levels of a low-discrepancy sequence (fractional parts of multiples of the golden ratio).
    levels = (np.arange(1, per_dilation.sum() * len(KERNEL_INDICES) + 1) * ((np.sqrt(5) + 1) / 2)) % 1
    unbiased = MiniRocketParameters(dilations, per_dilation, counts, indices, np.zeros(0))
    biases, level = [], 0
    for d, (channel_sets, n_biases) in enumerate(zip(_channel_sets(unbiased), per_dilation)):
        examples = rng.integers(n_series, size=len(KERNEL_INDICES))
        outputs = _outputs(X[examples], int(dilations[d]), _kernel_weights(channel_sets, n_channels))
        for kernel in range(len(KERNEL_INDICES)):
            # Kernel k's biases come from its output on its own random series, examples[k]; sorted,
            # so that transforming looks them up in order.
            biases.append(np.sort(np.quantile(outputs[kernel, kernel], levels[level : level + n_biases])))
            level += n_biases
    return MiniRocketParameters(dilations, per_dilation, counts, indices, np.concatenate(biases).astype(np.float32))


def transform_minirocket(X: np.ndarray, fitted: MiniRocketParameters) -> np.ndarray:
    """MiniRocket features of series.

    Parameters
    ----------
    X
        float, shape ``(series, channel, time)``, the channels and length it was fitted on.
    fitted
        From ``fit_minirocket``.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(series, feature)``: proportions of positive values, 0-1; in order
        dilation, kernel, bias.
    """
    X = np.asarray(X, dtype=np.float32)
    n_channels = X.shape[1]
    weights = [_kernel_weights(channel_sets, n_channels) for channel_sets in _channel_sets(fitted)]
    features = np.empty((len(X), fitted.n_features), dtype=np.float32)
    for start in range(0, len(X), TRANSFORM_BLOCK):
        block = slice(start, start + TRANSFORM_BLOCK)
        column = 0
        for d, (dilation, n_biases) in enumerate(zip(fitted.dilations, fitted.features_per_dilation)):
            n_columns = len(KERNEL_INDICES) * int(n_biases)
            biases = fitted.biases[column : column + n_columns].reshape(len(KERNEL_INDICES), int(n_biases))
            outputs = _outputs(X[block], int(dilation), weights[d])  # (series, kernel, time)
            padding = (KERNEL_LENGTH - 1) * int(dilation) // 2
            ppv = proportion_above(outputs, biases)
            if 0 < padding and 2 * padding < X.shape[2]:
                unpadded = ~_is_padded(d)
                ppv[:, unpadded] = proportion_above(outputs[:, unpadded, padding:-padding], biases[unpadded])
            features[block, column : column + n_columns] = ppv.reshape(len(ppv), -1)
            column += n_columns
    return features
