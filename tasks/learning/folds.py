"""Whole people dealt into cross-validation folds, and figures over folds.

Every model of formset is judged on people it has not seen: ``assign_folds`` keeps each
person's rows in one fold, stratified by a label (exercise and correctness) as far as the
people allow. Used by the train and exercise stages and the fault heads alike.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold


def label_folds(subjects: np.ndarray, exercises: np.ndarray, y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """``assign_folds`` stratified by exercise x correctness: the folds of the form models.

    Parameters
    ----------
    subjects, exercises
        shape ``(row,)``: the person and the exercise of each row.
    y
        int, shape ``(row,)``: 1 incorrect, 0 correct.
    n_folds, seed
        As ``assign_folds``.

    Returns
    -------
    numpy.ndarray
        int, shape ``(row,)``: each row's fold, from 0.
    """
    strata = np.char.add(np.asarray(exercises, dtype=str), np.where(np.asarray(y) == 1, "/incorrect", "/correct"))
    return assign_folds(subjects, strata, n_folds, seed)


def assign_folds(subjects: np.ndarray, strata: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Deal whole people into folds, stratified by ``strata`` as far as people allow.

    Parameters
    ----------
    subjects
        shape ``(row,)``: the person of each row.
    strata
        shape ``(row,)``: the stratum of each row (exercise and label); ignored when no
        stratum has as many rows as there are folds.
    n_folds
        Folds wanted; fewer when there are fewer people.
    seed
        Seed of the deal: the same inputs and seed give the same folds.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(row,)``: the fold of each row, 0 .. folds - 1, every fold non-empty,
        all rows of a person in one fold.

    Raises
    ------
    ValueError
        Fewer than two people, or ``n_folds`` below 2.
    """
    people = np.unique(np.asarray(subjects, dtype=str))
    if len(people) < 2 or n_folds < 2:
        raise ValueError(f"cross-validation needs two folds of people: {len(people)} people, {n_folds} folds asked")
    folds = min(n_folds, len(people))
    fold = np.full(len(subjects), -1, dtype=np.int64)
    codes = pd.factorize(np.asarray(strata, dtype=str))[0]
    if (np.bincount(codes) < folds).all():
        codes = np.zeros_like(codes)  # no stratum fills the folds: people only (scikit-learn refuses)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class": fewer members than folds
        for number, (_, held_out) in enumerate(splitter.split(np.zeros(len(codes)), codes, np.asarray(subjects, dtype=str))):
            fold[held_out] = number
    return pd.factorize(fold, sort=True)[0].astype(np.int64)  # renumbered: no empty fold


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1; 0 for one value) of the known values."""
    known = np.array([v for v in values if v is not None], dtype=np.float64)
    if not len(known):
        return None, None
    return float(known.mean()), float(known.std(ddof=1)) if len(known) > 1 else 0.0
