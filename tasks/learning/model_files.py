"""Fitted models as files: tensors and plain values only, read with torch's safe loader.

A model's slot holds either the model (``save_model``) or why there is none
(``save_skipped``: the stage skipped, and the version is still published), so a reader
always learns which.
"""

from __future__ import annotations

import json
import os

import torch

from formset.quarantine import StageSkipped
from formset.storage import atomic_path
from formset.tasks.learning.families import TrainedModel


def save_model(model: TrainedModel, path: str | os.PathLike, meta: dict) -> None:
    """Save the fitted model(s) and ``meta`` (JSON-able) to ``path``, atomically.

    The file holds only tensors and plain values, so ``load_model`` reads it with
    ``torch.load(weights_only=True)``.
    """
    with atomic_path(path) as tmp:
        torch.save({"model": model.state(), "meta": json.dumps(meta, sort_keys=True)}, tmp)


def save_skipped(path: str | os.PathLike, reason: str, meta: dict) -> None:
    """Fill the model's slot with why there is no model (``load_model`` raises it), atomically."""
    with atomic_path(path) as tmp:
        torch.save({"skipped": reason, "meta": json.dumps(meta, sort_keys=True)}, tmp)


def load_model(path: str | os.PathLike) -> tuple[TrainedModel, dict]:
    """Load a model written by ``save_model`` (safe loading only).

    Returns
    -------
    tuple
        ``(model, meta)``.

    Raises
    ------
    StageSkipped
        The file was written by ``save_skipped``: training was skipped, and why.
    """
    payload = torch.load(path, weights_only=True)
    if "skipped" in payload:
        raise StageSkipped(f"{path} holds no model: training was skipped ({payload['skipped']})")
    return TrainedModel.from_state(payload["model"]), json.loads(payload["meta"])
