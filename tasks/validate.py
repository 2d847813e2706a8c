"""The validate stage: run the expectation suites of ``schemas/expectations.py`` with GX.

Great Expectations takes seconds to import, so it is imported only inside the functions that
run validation. Each suite runs as a GX validation definition, so the GX context keeps the
suite and its result in memory for Data Docs (``tasks/quality.py: build_data_docs``). Nothing
here writes files: the flow writes the report (``ValidationReport.to_dict``), lists the
per-sample warnings (``sample_warnings``) and writes the quality report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from formset.params import ValidateParams
from formset.quarantine import Rejection
from formset.schemas.expectations import (
    CORE_COORDINATE_COLUMNS,
    CORE_MISSING_RATE,
    FRAME_STEP,
    MAX_ABS_CORE_COORDINATE,
    N_FRAMES,
    SAMPLE_KEYS,
    SAMPLE_VIEW_COLUMNS,
    SAMPLE_VIEW_KEYS,
    Check,
    Suite,
    all_suites,
)
from formset.schemas.skeleton import CORE_JOINTS
from formset.schemas.tables import joint_columns

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context import AbstractDataContext

STAGE = "validate"

#: GX run name of every validation of one build (Data Docs group results by run).
RUN_NAME = "formset-validate"

#: Offending rows GX returns per failed expectation of a per-frame table (all are counted);
#: per-sample and per-sample-view tables list every offending row.
FRAME_ROWS_NAMED = 20

#: Distinct unexpected values kept per expectation in the report.
FEW_VALUES = 5

#: Offending sample-views named per failed expectation in the summary lines.
FEW_SAMPLES = 3


@dataclass
class ExpectationOutcome:
    """The result of one check.

    Attributes
    ----------
    suite, expectation, column, description, critical, reason
        From the ``Check`` (``expectation`` is the GX type in snake case).
    success
        Whether the expectation held; False also when GX could not evaluate it (``error``).
    unexpected_count
        Rows that broke it (for a column-set check: missing plus unexpected columns).
    unexpected_values
        Up to ``FEW_VALUES`` distinct offending values.
    offending
        One entry per offending sample-view (per sample for the samples table): its key
        columns, the first offending row's ``frame`` where the table has frames, and that
        row's ``value``. Complete for per-sample tables; from the first ``FRAME_ROWS_NAMED``
        offending rows for per-frame tables.
    error
        GX's message when the expectation could not be evaluated (e.g. a missing column).
    quarantined
        Samples set aside because this critical failure was confined to them (0: it passed,
        is a warning, or blocks publishing).
    """

    suite: str
    expectation: str
    column: str | None
    description: str
    critical: bool
    reason: str
    success: bool
    unexpected_count: int
    unexpected_values: list
    offending: list[dict]
    error: str | None = None
    quarantined: int = 0

    @property
    def blocking(self) -> bool:
        """A critical failure not confined to a few samples: nothing may be published."""
        return self.critical and not self.success and not self.quarantined


@dataclass
class ValidationReport:
    """Every check of every suite.

    Attributes
    ----------
    passed_critical
        True when no critical failure blocks publishing: every one held, or was confined to
        a few samples that are quarantined (``rejections``).
    suites
        Suite name -> outcomes in the suite's order.
    rejections
        The samples quarantined by critical failures confined to them, one record per sample
        and failed check.
    """

    passed_critical: bool
    suites: dict[str, list[ExpectationOutcome]]
    rejections: list[Rejection] = field(default_factory=list)

    def outcomes(self) -> list[ExpectationOutcome]:
        """All outcomes, suite by suite."""
        return [o for outcomes in self.suites.values() for o in outcomes]

    def failures(self, critical: bool) -> list[ExpectationOutcome]:
        """Failed outcomes that block publishing (``critical=True``) or are warnings."""
        return [o for o in self.outcomes() if o.blocking] if critical else [
            o for o in self.outcomes() if not o.success and not o.critical
        ]

    def confined(self) -> list[ExpectationOutcome]:
        """Critical failures confined to a few samples, which were quarantined."""
        return [o for o in self.outcomes() if o.quarantined]

    def summary(self) -> dict:
        """The counts alone (the flow writes them as DVC metrics, ``data/validation/summary.json``)."""
        return {
            "passed_critical": self.passed_critical,
            "n_expectations": len(self.outcomes()),
            "n_failed_critical": len(self.failures(critical=True)),
            "n_failed_warning": len(self.failures(critical=False)),
            "n_failed_quarantined": len(self.confined()),
            "n_samples_quarantined": len({(r.set_id, r.sample_id) for r in self.rejections}),
        }

    def to_dict(self) -> dict:
        """JSON-serializable form (the flow writes it as ``data/validation/report.json``)."""
        return {
            **self.summary(),
            "suites": {name: [asdict(o) for o in outcomes] for name, outcomes in self.suites.items()},
            "quarantined": [asdict(r) for r in self.rejections],
        }

    def summary_lines(self) -> list[str]:
        """A headline, then one line per failed expectation, critical first."""
        counts = self.summary()
        verdict = "tables may be published" if self.passed_critical else "tables must NOT be published"
        lines = [
            f"validation: {counts['n_expectations']} expectations, {counts['n_failed_critical']} critical failures, "
            f"{counts['n_failed_warning']} warnings, {counts['n_samples_quarantined']} samples quarantined: {verdict}"
        ]
        lines += [f"FAIL {_describe_failure(o)}" for o in self.failures(critical=True)]
        lines += [
            f"QUARANTINED {o.quarantined} sample(s): {_describe_failure(o)}" for o in self.confined()
        ]
        lines += [f"WARN {_describe_failure(o)}" for o in self.failures(critical=False)]
        return lines


def frame_steps(keypoints: pd.DataFrame) -> pd.DataFrame:
    """A copy of the keypoints table with ``FRAME_STEP`` added.

    Parameters
    ----------
    keypoints
        Rows of the ``KEYPOINTS`` table (one per sample x view x frame), in stored order.

    Returns
    -------
    pandas.DataFrame
        ``keypoints`` plus ``FRAME_STEP``: frame minus the previous row's frame of the same
        (set_id, sample_id, view), NaN on each group's first row (GX then skips it).
    """
    groups = keypoints.groupby(list(SAMPLE_VIEW_KEYS), sort=False, dropna=False)
    return keypoints.assign(**{FRAME_STEP: groups["frame"].diff()})


def sample_view_summary(features: pd.DataFrame) -> pd.DataFrame:
    """One row per sample-view of the features table: completeness and coordinate extent.

    Parameters
    ----------
    features
        Rows of the ``FEATURES`` table (one per sample x view x frame).

    Returns
    -------
    pandas.DataFrame
        Columns ``SAMPLE_VIEW_COLUMNS``: the frame count, the share (0-1) of frames with any
        core joint missing, and the largest absolute normalized core-joint coordinate
        (torso lengths; NaN when every core joint is missing in every frame).
    """
    keys = list(SAMPLE_VIEW_KEYS)
    # x and y only: z is missing by design in the 2-D views.
    core_xy = joint_columns(CORE_JOINTS, ("x", "y"))
    per_frame = features[keys].assign(
        misses_core=features[core_xy].isna().any(axis="columns"),
        max_abs_core=features[list(CORE_COORDINATE_COLUMNS)].abs().max(axis="columns"),
    )
    summary = per_frame.groupby(keys, sort=False, dropna=False).agg(
        **{
            N_FRAMES: ("misses_core", "size"),
            CORE_MISSING_RATE: ("misses_core", "mean"),
            MAX_ABS_CORE_COORDINATE: ("max_abs_core", "max"),
        }
    )
    return summary.reset_index()[list(SAMPLE_VIEW_COLUMNS)]


def ephemeral_context() -> AbstractDataContext:
    """An in-memory GX context with progress bars off; build once, pass to ``validate_tables``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_tables(
    samples: pd.DataFrame,
    keypoints: pd.DataFrame,
    features: pd.DataFrame,
    params: ValidateParams,
    exercises: Sequence[str],
    context: AbstractDataContext | None = None,
) -> ValidationReport:
    """Run every suite on the catalog samples, keypoints and features tables.

    Parameters
    ----------
    samples, keypoints, features
        The ``SAMPLES``, ``KEYPOINTS`` and ``FEATURES`` tables as pandas (not modified).
    params
        The ``validate`` group of ``params.yaml``.
    exercises
        The exercise names of ``params.yaml: exercises``.
    context
        A GX context from ``ephemeral_context``; a new one when None. It keeps every suite and
        its validation result (for ``tasks.quality.build_data_docs``).

    Returns
    -------
    ValidationReport
    """
    from great_expectations.core.run_identifier import RunIdentifier

    context = context if context is not None else ephemeral_context()
    run_id = RunIdentifier(run_name=RUN_NAME)
    samples_suite, keypoints_suite, features_suite, sample_views_suite = all_suites(params.max_missing_rate, params.max_abs_normalized, exercises)
    tables = (
        (samples_suite, samples),
        (keypoints_suite, frame_steps(keypoints)),
        (features_suite, features),
        (sample_views_suite, sample_view_summary(features)),
    )
    suites = {suite.name: _run_suite(context, suite, table, run_id) for suite, table in tables}
    rejections = quarantine_confined_failures(
        [(suite, table, suites[suite.name]) for suite, table in tables],
        samples[list(SAMPLE_KEYS)].drop_duplicates().shape[0],
        params.max_quarantined_share,
    )
    passed = not any(o.blocking for outcomes in suites.values() for o in outcomes)
    return ValidationReport(passed_critical=passed, suites=suites, rejections=rejections)


def quarantine_confined_failures(
    checked: Sequence[tuple[Suite, pd.DataFrame, list[ExpectationOutcome]]], n_samples: int, max_share: float
) -> list[Rejection]:
    """Set aside the samples of critical failures confined to them; mark those outcomes.

    A failed critical check quarantines its offending samples (its outcome's ``quarantined``
    is set) unless it is systemic (schema, keys), could not be evaluated, or its offending
    rows cannot all be named (formset's count must match GX's). If the quarantined samples
    together are more than ``max_share`` of the dataset, nothing is quarantined: the
    failures block publishing, as the problem is the dataset, not a few samples.

    Parameters
    ----------
    checked
        ``(suite, the table it ran on, its outcomes)`` for every suite.
    n_samples
        Samples in the dataset (distinct ``set_id, sample_id`` of the catalog).
    max_share
        Largest share (0-1) of the dataset that may be quarantined by validation.

    Returns
    -------
    list of Rejection
        One per quarantined sample and failed check, stage ``validate``.
    """
    confined: list[tuple[ExpectationOutcome, list[Rejection]]] = []
    for suite, table, outcomes in checked:
        for check, outcome in zip(suite.checks, outcomes):
            if outcome.success or not check.critical or check.systemic or outcome.error:
                continue
            rows = table.loc[offending_rows(check, table)]
            if len(rows) != outcome.unexpected_count:
                continue  # GX counted rows formset cannot name: not attributable to samples
            confined.append((outcome, _sample_rejections(check, rows)))
    samples = {(r.set_id, r.sample_id) for _, rejections in confined for r in rejections}
    if not samples or len(samples) > max_share * n_samples:
        return []
    for outcome, rejections in confined:
        outcome.quarantined = len(rejections)
    return [r for _, rejections in confined for r in rejections]


def offending_rows(check: Check, table: pd.DataFrame) -> np.ndarray:
    """Which rows of ``table`` break ``check``, as GX judges column values.

    Parameters
    ----------
    check
        A check on one column: ``expect_column_values_to_not_be_null``, ``..._to_be_in_set``
        or ``..._to_be_between`` (nulls pass the last two, as in GX).
    table
        The table the check ran on.

    Returns
    -------
    numpy.ndarray
        bool, shape ``(row,)``; all False for a check of another kind.
    """
    column = check.kwargs.get("column")
    if column not in table.columns:
        return np.zeros(len(table), dtype=bool)
    values = table[column]
    if check.expectation == "expect_column_values_to_not_be_null":
        return values.isna().to_numpy()
    present = values.notna().to_numpy()
    if check.expectation == "expect_column_values_to_be_in_set":
        return present & ~values.isin(check.kwargs["value_set"]).to_numpy()
    if check.expectation == "expect_column_values_to_be_between":
        low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        below = numbers < low if low is not None else np.zeros(len(table), dtype=bool)
        above = numbers > high if high is not None else np.zeros(len(table), dtype=bool)
        return present & (below | above)
    return np.zeros(len(table), dtype=bool)


def _sample_rejections(check: Check, rows: pd.DataFrame) -> list[Rejection]:
    """One quarantine record per sample among the offending ``rows`` (its first row named)."""
    first = rows.drop_duplicates(list(SAMPLE_KEYS))
    n_rows = rows.groupby(list(SAMPLE_KEYS), sort=False).size()
    rejections = []
    for row in first.to_dict("records"):
        entry = {k: _plain(row[k]) for k in ("set_id", "sample_id", "view", "frame") if k in row}
        value = _plain(row[check.kwargs["column"]])
        count = int(n_rows[(row["set_id"], row["sample_id"])])
        found = "empty" if value is None else _format_value(value)
        rejections.append(
            Rejection(
                set_id=entry["set_id"],
                sample_id=entry["sample_id"],
                stage=STAGE,
                reason=check.reason,
                detail=f"Expected {check.description}; found {found} at {_where(entry)}"
                + (f" and {count - 1} more row(s)" if count > 1 else "")
                + ". The sample is left out of the dataset until it is fixed and delivered again.",
                value=None if value is None else _format_value(value),
            )
        )
    return rejections


def sample_warnings(report: ValidationReport) -> list[Rejection]:
    """The failed non-critical checks as one quarantine record per offending sample-view.

    The samples stay in the dataset; the records tell annotators what to look at.
    """
    return [
        Rejection(
            set_id=entry["set_id"],
            sample_id=entry["sample_id"],
            stage=STAGE,
            reason=outcome.reason,
            detail=_warning_detail(outcome, entry),
            value=None if entry.get("value") is None else _format_value(entry["value"]),
        )
        for outcome in report.failures(critical=False)
        for entry in outcome.offending
    ]


def _run_suite(
    context: AbstractDataContext, suite: Suite, table: pd.DataFrame, run_id: RunIdentifier
) -> list[ExpectationOutcome]:
    import great_expectations as gx

    data_source = context.data_sources.add_or_update_pandas(f"formset_{suite.name}")
    batch_definition = data_source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("whole_table")
    # GX returns results in its own order: each expectation carries its check's position.
    expectations = [
        getattr(gx.expectations, _class_name(check.expectation))(
            **check.kwargs,
            severity="critical" if check.critical else "warning",
            meta={"check": position},
        )
        for position, check in enumerate(suite.checks)
    ]
    # A validation definition, unlike ``batch.validate``, stores the suite and its result in
    # the context: Data Docs render from there.
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(
            name=suite.name,
            data=batch_definition,
            suite=context.suites.add_or_update(gx.ExpectationSuite(name=suite.name, expectations=expectations)),
        )
    )
    result = definition.run(
        batch_parameters={"dataframe": table}, result_format=_result_format(suite, table), run_id=run_id
    )
    by_position = {r.expectation_config.meta["check"]: r for r in result.results}
    return [_outcome(suite, check, by_position[p]) for p, check in enumerate(suite.checks)]


def _class_name(expectation: str) -> str:
    """``expect_column_values_to_be_between`` -> ``ExpectColumnValuesToBeBetween``."""
    return "".join(word.capitalize() for word in expectation.split("_"))


def _result_format(suite: Suite, table: pd.DataFrame) -> dict:
    keys = [k for k in suite.keys if k in table.columns]
    if suite.grain == "frame":
        # Per-frame tables are large: count every offending row, name only the first ones.
        return {
            "result_format": "SUMMARY",
            "partial_unexpected_count": FRAME_ROWS_NAMED,
            "unexpected_index_column_names": keys,
        }
    return {"result_format": "COMPLETE", "unexpected_index_column_names": keys}


def _outcome(suite: Suite, check: Check, result: ExpectationValidationResult) -> ExpectationOutcome:
    details = result.result or {}
    mismatched = details.get("details", {}).get("mismatched")
    if mismatched is not None:
        values = [
            f"{kind} column {c}" for kind in ("missing", "unexpected") for c in mismatched.get(kind) or ()
        ]
        count, rows = len(values), []
    else:
        values = details.get("unexpected_list", details.get("partial_unexpected_list", []))
        count = details.get("unexpected_count", 0)
        rows = details.get("unexpected_index_list", details.get("partial_unexpected_index_list", []))
    return ExpectationOutcome(
        suite=suite.name,
        expectation=check.expectation,
        column=check.column,
        description=check.description,
        critical=check.critical,
        reason=check.reason,
        success=bool(result.success),
        unexpected_count=int(count),
        unexpected_values=_first_distinct(values, FEW_VALUES),
        offending=_offending(suite, check, rows),
        error=_exception_message(result.exception_info or {}),
    )


def _offending(suite: Suite, check: Check, rows: list[dict]) -> list[dict]:
    """First offending row per sample-view: its key columns and the checked value."""
    group_keys = [k for k in SAMPLE_VIEW_KEYS if k in suite.keys]
    value_column = check.kwargs.get("column")
    first_by_group: dict[tuple, dict] = {}
    for row in rows:
        group = tuple(_plain(row.get(k)) for k in group_keys)
        if group not in first_by_group:
            entry = {k: _plain(row.get(k)) for k in suite.keys if k in row}
            if value_column is not None and value_column not in suite.keys:
                entry["value"] = _plain(row.get(value_column))
            first_by_group[group] = entry
    return list(first_by_group.values())


def _first_distinct(values: list, limit: int) -> list:
    distinct: list = []
    for value in map(_plain, values):
        if value not in distinct:
            distinct.append(value)
        if len(distinct) == limit:
            break
    return distinct


def _exception_message(info: dict) -> str | None:
    """GX's exception message(s); ``info`` is flat or keyed by the failing metric."""
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = sorted({str(e.get("exception_message")) for e in entries if e.get("raised_exception")})
    return "; ".join(messages) or None


def _plain(value: object) -> object:
    """JSON-ready: numpy scalars to Python, NaN and NA to None, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _format_value(value: object) -> str:
    if isinstance(value, dict):  # a compound key, e.g. {set_id, sample_id}
        return "/".join(map(str, value.values()))
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _where(entry: dict) -> str:
    where = f"{entry.get('set_id')}/{entry.get('sample_id')}"
    if "view" in entry:
        where += f" ({entry['view']} view"
        where += f", frame {entry['frame']})" if "frame" in entry else ")"
    return where


def _describe_failure(outcome: ExpectationOutcome) -> str:
    head = f"{outcome.suite}: expected {outcome.description}"
    if outcome.error:
        return f"{head}; could not be checked: {outcome.error}"
    text = f"{head}; {outcome.unexpected_count} unexpected"
    if outcome.unexpected_values:
        text += ", e.g. " + ", ".join(map(_format_value, outcome.unexpected_values))
    if outcome.offending:
        named = outcome.offending[:FEW_SAMPLES]
        more = len(outcome.offending) - len(named)
        text += "; in " + ", ".join(map(_where, named)) + (f" and {more} more" if more else "")
    return text


def _warning_detail(outcome: ExpectationOutcome, entry: dict) -> str:
    found = _format_value(entry["value"]) if entry.get("value") is not None else "a value outside it"
    view = f" in the {entry['view']} view" if "view" in entry else ""
    return f"Expected {outcome.description}; found {found}{view}."
