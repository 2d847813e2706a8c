"""The per-build data quality report: a dataset card, and great-expectations Data Docs.

``dataset_card`` condenses the tables of one build into the counts a person checks before
training on it (``card_markdown`` renders them for people); ``build_data_docs`` renders GX's
own HTML site of the suites and validation results a GX context holds (``tasks/validate.py``
runs the suites). The validate flow writes both under ``data/quality/`` on every build,
before it stops on a critical failure, so the report also says why a build was refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from formset.schemas.expectations import SAMPLE_KEYS
from formset.schemas.skeleton import JOINTS
from formset.schemas.tables import joint_columns
from formset.schemas.vocab import FAULTS, VIEWS

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

#: Name of the Data Docs site in the GX context.
DOCS_SITE = "formset"

#: How the card names samples without a label (the contract allows an empty label).
UNLABELED = "(unlabeled)"

#: Decimals kept of the missing-keypoint rates (shares 0-1).
RATE_DECIMALS = 4

#: A sample's faults as a whole: at least one fault column is 1; none is 1 and at least one
#: is 0; all six are empty (not annotated: neither faulty nor fault-free).
WITH_FAULT, WITHOUT_FAULT, FAULTS_EMPTY = "with_fault", "without_fault", "faults_empty"
FAULT_STATUSES: tuple[str, ...] = (WITH_FAULT, WITHOUT_FAULT, FAULTS_EMPTY)


def dataset_card(
    samples: pd.DataFrame,
    keypoints: pd.DataFrame,
    features: pd.DataFrame,
    quarantine: pd.DataFrame,
    warnings: pd.DataFrame,
    validation: Mapping[str, object],
    data_docs: str,
    suite_pages: Mapping[str, str] | None = None,
) -> dict:
    """What one build holds, in counts: the machine-readable dataset card.

    Parameters
    ----------
    samples
        The catalog ``SAMPLES`` table: every sample accepted at ingest, one row each.
    keypoints
        The ``KEYPOINTS`` table, one row per sample x view x frame.
    features
        The ``FEATURES`` table, one row per sample x view x frame; a sample with rows here
        is in the published dataset ("with features").
    quarantine
        ``QUARANTINE`` records of the stages before validate (one per rejected sample, or
        per rejected set with an empty ``sample_id``).
    warnings
        ``QUARANTINE`` records of the validate stage: one per sample-view that failed a
        non-critical expectation; these samples stay in the dataset.
    validation
        ``ValidationReport.summary()``: the verdict and expectation counts.
    data_docs
        Where the Data Docs index is, relative to the card's folder.
    suite_pages
        Suite -> its validation result page in the Data Docs, relative to the card's folder
        (``validation_pages``).

    Returns
    -------
    dict
        JSON-ready, keys:

        - ``samples``: ``total`` and ``with_features`` counts, and ``by_set``,
          ``by_exercise``, ``by_label`` (empty label as ``UNLABELED``), ``by_fault`` (samples
          flagged 1 for each fault; a sample may have several): value ->
          ``{"samples": n, "with_features": n}``; and ``by_fault_status`` (``FAULT_STATUSES``),
          the same counts of the samples with at least one fault flagged 1, of those with
          none flagged 1 and at least one 0, and of those whose fault columns are all empty
          (counted as neither);
        - ``subjects``: distinct ``subject_id`` in ``total`` and ``by_set``;
        - ``views``: view (``VIEWS`` order) -> ``sample_views`` (samples with keypoints in it),
          ``keypoint_frames`` and ``feature_frames`` (rows);
        - ``missing_keypoint_rate``: view -> joint -> share (0-1) of its keypoint frames in
          which the joint's x or y is NaN;
        - ``quarantine``: ``samples`` (distinct) and ``by_reason``, a list of
          ``{"stage", "reason", "samples"}``;
        - ``validation``: ``validation`` plus ``data_docs``, ``suite_pages`` and
          ``warnings_by_reason``, a list of ``{"reason", "sample_views", "samples"}``.
    """
    in_dataset = _with_features(samples, features)
    labels = samples["label"].fillna(UNLABELED)
    flagged = samples[list(FAULTS)].eq(1)
    fault_status = np.select(
        [flagged.any(axis=1).to_numpy(dtype=bool), samples[list(FAULTS)].notna().any(axis=1).to_numpy(dtype=bool)],
        [WITH_FAULT, WITHOUT_FAULT],
        FAULTS_EMPTY,
    )
    by_fault_status = _counts_by(pd.Series(fault_status), in_dataset)
    return {
        "samples": {
            "total": len(samples),
            "with_features": int(in_dataset.sum()),
            "by_set": _counts_by(samples["set_id"], in_dataset),
            "by_exercise": _counts_by(samples["exercise"], in_dataset),
            "by_label": _counts_by(labels, in_dataset),
            "by_fault": {
                fault: {"samples": int(flagged[fault].sum()), "with_features": int((flagged[fault] & in_dataset).sum())}
                for fault in FAULTS
            },
            "by_fault_status": {
                status: by_fault_status.get(status, {"samples": 0, "with_features": 0}) for status in FAULT_STATUSES
            },
        },
        "subjects": {
            "total": int(samples["subject_id"].nunique()),
            "by_set": {str(k): int(v) for k, v in samples.groupby("set_id")["subject_id"].nunique().items()},
        },
        "views": _views(keypoints, features),
        "missing_keypoint_rate": missing_keypoint_rate(keypoints),
        "quarantine": {
            "samples": len(quarantine[list(SAMPLE_KEYS)].drop_duplicates()),
            "by_reason": _records_by(quarantine, ["stage", "reason"]),
        },
        "validation": {
            **validation,
            "warnings_by_reason": _records_by(warnings, ["reason"], count_views=True),
            "data_docs": data_docs,
            "suite_pages": dict(suite_pages or {}),
        },
    }


def missing_keypoint_rate(keypoints: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Share of frames in which each joint is missing, per view.

    Parameters
    ----------
    keypoints
        The ``KEYPOINTS`` table, one row per sample x view x frame.

    Returns
    -------
    dict
        view (``VIEWS`` order) -> joint (``JOINTS`` order) -> share (0-1, ``RATE_DECIMALS`` decimals) of the
        view's rows in which the joint's x or y is NaN. Joints a source does not provide
        are missing in every frame of its view (1.0). Views without rows are absent.
    """
    x = keypoints[joint_columns(JOINTS, ("x",))].isna().to_numpy()
    y = keypoints[joint_columns(JOINTS, ("y",))].isna().to_numpy()
    missing = pd.DataFrame(x | y, columns=list(JOINTS), index=keypoints.index)
    rates = missing.groupby(keypoints["view"]).mean().round(RATE_DECIMALS)
    rates = rates.loc[_in_view_order(rates.index)]
    return {str(view): {j: float(r) for j, r in row.items()} for view, row in rates.iterrows()}


def card_markdown(card: Mapping) -> str:
    """The dataset card for people: Markdown with one section per part of ``dataset_card``.

    Parameters
    ----------
    card
        A dict from ``dataset_card``.

    Returns
    -------
    str
        Markdown ending in a newline; the Data Docs link is relative to the card's folder.
    """
    samples, subjects, views = card["samples"], card["subjects"], card["views"]
    validation, quarantine = card["validation"], card["quarantine"]
    passed = validation["passed_critical"]
    verdict = "passed" if passed else "FAILED: nothing may be published"
    status = samples["by_fault_status"]
    lines = [
        "# Dataset card",
        "",
        f"{samples['total']} samples ingested from {len(samples['by_set'])} sets, "
        f"{samples['with_features']} with features; {subjects['total']} subjects; "
        f"{quarantine['samples']} quarantined. Validation {verdict}.",
        "",
        "## Samples",
        "",
        "`with features`: the samples in the published dataset (the rest were quarantined "
        "after ingest).",
        "",
        *_table(
            ["set", "samples", "with features", "subjects"],
            [[s, c["samples"], c["with_features"], subjects["by_set"].get(s, 0)] for s, c in samples["by_set"].items()],
        ),
        "",
        *_table(["exercise", "samples", "with features"], _count_rows(samples["by_exercise"])),
        "",
        *_table(["label", "samples", "with features"], _count_rows(samples["by_label"])),
        "",
        "Faults: samples flagged 1 (a sample may have several faults).",
        "",
        *_table(["fault", "samples", "with features"], _count_rows(samples["by_fault"])),
        "",
        f"- samples with at least one fault: {status[WITH_FAULT]['samples']} "
        f"({status[WITH_FAULT]['with_features']} with features)",
        f"- samples with no fault (none is 1, at least one is 0): {status[WITHOUT_FAULT]['samples']} "
        f"({status[WITHOUT_FAULT]['with_features']} with features)",
        f"- samples whose fault columns are all empty, counted as neither: {status[FAULTS_EMPTY]['samples']} "
        f"({status[FAULTS_EMPTY]['with_features']} with features)",
        "",
        "## Views and frames",
        "",
        *_table(
            ["view", "samples", "keypoint frames", "feature frames"],
            [[v, c["sample_views"], c["keypoint_frames"], c["feature_frames"]] for v, c in views.items()],
        ),
        "",
        "## Missing keypoints",
        "",
        "Share of keypoint frames in which a joint is missing, per view. A joint its source "
        "does not provide is missing in every frame of that view (100 %).",
        "",
        *_missing_rate_table(card["missing_keypoint_rate"]),
        "",
        "## Quarantine",
        "",
    ]
    if quarantine["by_reason"]:
        lines += [
            f"{quarantine['samples']} samples set aside (`formset quarantine` says what to fix in each):",
            "",
            *_table(
                ["stage", "reason", "samples"],
                [[r["stage"], r["reason"], r["samples"]] for r in quarantine["by_reason"]],
            ),
        ]
    else:
        lines.append("No sample was quarantined.")
    lines += [
        "",
        "## Validation",
        "",
        f"{'Passed' if passed else 'FAILED'}: {validation['n_expectations']} expectations, "
        f"{validation['n_failed_critical']} critical failures, {validation['n_failed_warning']} warnings. "
        f"Every expectation and its result: [Data Docs]({validation['data_docs']}).",
    ]
    if validation["suite_pages"]:
        # The index page draws its table with scripts from public CDNs; these pages need none.
        lines += [
            "",
            "Each suite's result, with the offending values (readable offline):",
            "",
            *_table(["suite", "result page"], [[suite, f"[{page}]({page})"] for suite, page in validation["suite_pages"].items()]),
        ]
    if validation["warnings_by_reason"]:
        lines += [
            "",
            "Samples flagged by a warning (they stay in the dataset):",
            "",
            *_table(
                ["reason", "sample-views", "samples"],
                [[r["reason"], r["sample_views"], r["samples"]] for r in validation["warnings_by_reason"]],
            ),
        ]
    return "\n".join(lines) + "\n"


def build_data_docs(context: AbstractDataContext, directory: Path) -> Path:
    """Render GX Data Docs of every suite and validation result ``context`` holds.

    Parameters
    ----------
    context
        The GX context the suites ran in (``tasks.validate.validate_tables``).
    directory
        Where the static site goes; created. GX's other state stays in memory.

    Returns
    -------
    pathlib.Path
        The site's ``index.html``.
    """
    site = {
        "class_name": "SiteBuilder",
        # The how-to buttons link to GX's website, which the people reading these cannot use.
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if DOCS_SITE in context.list_data_docs_sites():
        context.update_data_docs_site(DOCS_SITE, site)
    else:
        context.add_data_docs_site(DOCS_SITE, site)
    # Only this site: an ephemeral context also configures a default one in a temporary folder.
    context.build_data_docs(site_names=[DOCS_SITE])
    return directory / "index.html"


def validation_pages(docs_dir: Path, relative_to: Path) -> dict[str, str]:
    """Each suite's validation result page in a Data Docs site built by ``build_data_docs``.

    Parameters
    ----------
    docs_dir
        The site's folder (``validations/<suite>/<run>/<time>/<page>.html`` below it).
    relative_to
        The folder the paths are given from (the card's).

    Returns
    -------
    dict
        Suite -> POSIX path of its newest result page, by suite name.
    """
    pages = {}
    for suite_dir in sorted((docs_dir / "validations").glob("*/")):
        if found := sorted(suite_dir.rglob("*.html")):
            pages[suite_dir.name] = found[-1].relative_to(relative_to).as_posix()
    return pages


def _with_features(samples: pd.DataFrame, features: pd.DataFrame) -> np.ndarray:
    """Boolean per catalog sample: whether the features table has rows of it."""
    keys = list(SAMPLE_KEYS)
    featured = pd.MultiIndex.from_frame(features[keys].drop_duplicates())
    return pd.MultiIndex.from_frame(samples[keys]).isin(featured)


def _counts_by(values: pd.Series, in_dataset: np.ndarray) -> dict[str, dict[str, int]]:
    counts = pd.DataFrame({"value": values.to_numpy(), "in_dataset": in_dataset}).groupby("value", sort=True)
    table = counts["in_dataset"].agg(samples="size", with_features="sum").astype(int)
    return {str(value): row for value, row in table.to_dict("index").items()}


def _views(keypoints: pd.DataFrame, features: pd.DataFrame) -> dict[str, dict[str, int]]:
    per_view = pd.DataFrame(
        {
            "sample_views": keypoints[[*SAMPLE_KEYS, "view"]].drop_duplicates().groupby("view").size(),
            "keypoint_frames": keypoints.groupby("view").size(),
            "feature_frames": features.groupby("view").size(),
        }
    )
    per_view = per_view.loc[_in_view_order(per_view.index)].fillna(0).astype(int)
    return {str(view): row for view, row in per_view.to_dict("index").items()}


def _in_view_order(views: pd.Index) -> list:
    """``views`` in ``VIEWS`` order; any other name (a table failing validation) after them."""
    return [v for v in VIEWS if v in views] + sorted(set(views) - set(VIEWS))


def _records_by(records: pd.DataFrame, by: list[str], count_views: bool = False) -> list[dict]:
    """Quarantine records counted per ``by``: distinct samples, and all rows as ``sample_views``."""
    counts = {"samples": records.drop_duplicates([*by, *SAMPLE_KEYS]).groupby(by, sort=True).size()}
    if count_views:
        counts = {"sample_views": records.groupby(by, sort=True).size(), **counts}
    return pd.DataFrame(counts).reset_index().to_dict("records")


def _count_rows(counts: Mapping[str, Mapping[str, int]]) -> list[list]:
    return [[value, c["samples"], c["with_features"]] for value, c in counts.items()]


def _missing_rate_table(rates: Mapping[str, Mapping[str, float]]) -> list[str]:
    views = list(rates)
    return _table(["joint", *views], [[j, *(f"{100 * rates[v][j]:.1f} %" for v in views)] for j in JOINTS])


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: the first column names the row (left-aligned), the others are figures."""
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---", *["---:"] * (len(header) - 1)]) + " |",
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]
