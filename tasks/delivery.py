"""Delivery: what an annotator's labeled set looks like to the person adding it.

Pure functions on the tables ingest returns and on ``samples.csv`` as text cells
(``tasks.ingest.parse_samples_csv``): the check report, the label changes between two
versions of a set, the figures recorded per version in ``data/registry.json`` and the
overview ``formset sets`` prints. Reading, copying and committing live in
``formset.registry``.\n"""

from __future__ import annotations

import hashlib

import pandas as pd

from formset.quarantine import FIXES, SEE_DETAIL
from formset.schemas.vocab import FAULTS, LABELS

#: The columns of samples.csv that an annotator decides: a change to one is a relabel.
LABEL_COLUMNS: tuple[str, ...] = ("label", *FAULTS, "rep_count")
#: The pseudo-column of ``label_changes`` for a sample added or removed as a whole.
WHOLE_SAMPLE = "(sample)"
CHANGE_COLUMNS: tuple[str, ...] = ("sample_id", "column", "old", "new")
REPORT_COLUMNS: tuple[str, ...] = ("line", "sample_id", "column", "problem", "reason", "value")
GROUP_COLUMNS: tuple[str, ...] = ("rows", "column", "reason", "value", "problem", "fix")
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "set_id", "version", "samples", "correct", "incorrect", "unlabeled", "quarantined", "added",
)  # fmt: skip
NOT_BUILT = "not built"


def check_report(problems: pd.DataFrame) -> pd.DataFrame:
    """The row problems of a delivery, one per line of the report.

    Parameters
    ----------
    problems
        Problems as ``tasks.ingest.problem_table`` gives them: ingest's
        (``IngestResult.problems``; none for a whole-set rejection, whose one rejection's
        ``detail`` says what is wrong with the set) and those of the delivery's videos.

    Returns
    -------
    pandas.DataFrame
        Columns ``line`` (of samples.csv), ``sample_id``, ``column`` (``"(row)"`` for a
        problem of the whole row), ``problem`` (what is wrong and what is expected),
        ``reason`` (the problem's code) and ``value`` (the offending cell, or None), in line
        order (in the order given within a line).
    """
    problems = problems.sort_values("line", kind="stable")
    return pd.DataFrame(
        {
            "line": problems["line"],
            "sample_id": problems["sample_id"],
            "column": problems["column"].fillna("(row)"),
            "problem": problems["message"],
            "reason": problems["reason"],
            "value": problems["value"],
        },
        columns=list(REPORT_COLUMNS),
    ).reset_index(drop=True)


def problem_groups(report: pd.DataFrame) -> pd.DataFrame:
    """The problems of a check report by kind: one row per column and kind, said once.

    Ingest's messages name the offending value first (``'good' is not one of ...``); with it
    taken off, the rest of the message is the kind of problem, so rows that differ only in
    their value fall into one group.

    Parameters
    ----------
    report
        A ``check_report``.

    Returns
    -------
    pandas.DataFrame
        ``GROUP_COLUMNS``, most rows first (then in line order): ``rows`` (distinct lines of
        samples.csv), ``column``, ``reason``, ``value`` (the offending cell when every row
        shares it, else missing), ``problem`` (the column, the shared value or the distinct
        ones, and the kind, in words) and ``fix`` (``formset.quarantine.FIXES``).
    """
    split = [_kind_of(message, value) for message, value in zip(report["problem"], report["value"])]
    described = report.assign(kind=[kind for kind, _ in split], named=[named for _, named in split])
    groups = []
    for (column, reason, kind), group in described.groupby(["column", "reason", "kind"], sort=False):
        values = list(dict.fromkeys(group["named"].dropna()))
        subject = "" if column == "(row)" else f"{column} "
        if len(values) == 1:
            problem = f"{subject}{values[0]!r} {kind}"
        else:
            listed = ", ".join(map(repr, values[:3])) + (", ..." if len(values) > 3 else "")
            problem = f"{subject}{kind}" + (f" ({len(values)} values: {listed})" if values else "")
        groups.append(
            {
                "rows": group["line"].nunique(),
                "column": column,
                "reason": reason,
                "value": values[0] if len(values) == 1 else None,
                "problem": problem,
                "fix": FIXES.get(reason, SEE_DETAIL),
                "first_line": group["line"].min(),
            }
        )
    ordered = sorted(groups, key=lambda group: (-group["rows"], group["first_line"]))
    return pd.DataFrame(ordered, columns=list(GROUP_COLUMNS))


def new_exercises(report: pd.DataFrame) -> list[str]:
    """The exercise names of a check report that ``params.yaml: exercises`` does not list.

    Parameters
    ----------
    report
        A ``check_report``.

    Returns
    -------
    list of str
        Distinct names, in the order of their first line in samples.csv.
    """
    unknown = report[report["reason"] == "unknown_exercise"].sort_values("line", kind="stable")
    return list(dict.fromkeys(unknown["value"].dropna()))


def add_exercises_step(names: list[str], listed: list[str], set_dir: str) -> str:
    """The one step that adds new exercises to a project, for the annotator.

    Parameters
    ----------
    names
        The delivery's exercises that the project does not list (``new_exercises``).
    listed
        ``params.yaml: exercises`` as it is.
    set_dir
        The delivery's folder, as the annotator gave it.

    Returns
    -------
    str
        Several lines: the names, the ``exercises:`` line of params.yaml with them added,
        the add-set command to run again, and what a new exercise gets by default.
    """
    return (
        f"samples.csv names {len(names)} exercise{'' if len(names) == 1 else 's'} that params.yaml does not list: "
        f"{', '.join(names)}.\n"
        "If they are new exercises, add them in one step: in params.yaml, make the exercises list read\n"
        f"  exercises: [{', '.join([*listed, *names])}]\n"
        f"then run `formset add-set {set_dir}` again. If a name is misspelt, correct it in samples.csv instead.\n"
        "A new exercise needs nothing else: its rep signal is chosen from each recording (the joint coordinate "
        "with the largest range of motion; params.yaml reps.exercises can name one), DTW compares it on "
        "compare.joints, and the models learn it with the others."
    )


def label_changes(old_cells: pd.DataFrame, new_cells: pd.DataFrame) -> pd.DataFrame:
    """Which samples changed which labels between two versions of samples.csv.

    Parameters
    ----------
    old_cells, new_cells
        samples.csv as text cells (``SamplesTable.cells``): ``sample_id`` and every column
        of ``LABEL_COLUMNS``. Rows without a sample_id, and repeats of one, are ignored: they
        are not samples of the dataset.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_id``, ``column``, ``old``, ``new``, sorted by sample_id, then in
        ``LABEL_COLUMNS`` order: one row per changed label cell (``""`` is empty), and one
        row with ``column`` = ``WHOLE_SAMPLE`` per added (``absent`` → ``present``) or
        removed (``present`` → ``absent``) sample.
    """
    old, new = _labels_by_sample(old_cells), _labels_by_sample(new_cells)
    rows = []
    for sample_id in sorted(old.index.union(new.index)):
        if sample_id not in old.index:
            rows.append((sample_id, WHOLE_SAMPLE, "absent", "present"))
        elif sample_id not in new.index:
            rows.append((sample_id, WHOLE_SAMPLE, "present", "absent"))
        else:
            before, after = old.loc[sample_id], new.loc[sample_id]
            rows += [(sample_id, column, before[column], after[column]) for column in LABEL_COLUMNS if before[column] != after[column]]
    return pd.DataFrame.from_records(rows, columns=list(CHANGE_COLUMNS))


def label_balance(cells: pd.DataFrame) -> dict[str, int]:
    """Samples per label: ``correct``, ``incorrect`` and ``unlabeled`` (empty label).

    A label outside the vocabulary counts in none of them: its row is quarantined.
    """
    counts = {label: int((cells["label"] == label).sum()) for label in LABELS}
    return {**counts, "unlabeled": int((cells["label"] == "").sum())}


def labels_sha256(cells: pd.DataFrame) -> str:
    """sha256 over the label columns of every sample, in sample_id order: equal for two
    versions whose labels are the same, whatever else (files, row order) changed."""
    labels = _labels_by_sample(cells).sort_index()
    return hashlib.sha256(labels.to_csv(lineterminator="\n").encode()).hexdigest()


def version_entry(version: int, set_row: dict, cells: pd.DataFrame, source: str, added: str) -> dict:
    """The registry record of one version of a set.

    Parameters
    ----------
    version
        1 for a set's first delivery, then one more per changed delivery.
    set_row
        Ingest's ``set_row`` of the delivery (``set_hash``, ``n_rows``, ``n_accepted`` ...).
    cells
        The delivery's samples.csv as text cells.
    source
        Where the delivery was added from.
    added
        When, as ISO 8601 text.
    """
    balance = label_balance(cells)
    return {
        "version": version,
        "set_hash": set_row["set_hash"],
        "added": added,
        "source": source,
        "title": set_row["title"],
        "annotator": set_row["annotator"],
        "n_samples": int(set_row["n_rows"]),
        "n_accepted": int(set_row["n_accepted"]),
        "n_labeled": balance["correct"] + balance["incorrect"],
        "labels": balance,
        "labels_sha256": labels_sha256(cells),
    }


def sets_overview(
    registry: dict[str, list[dict]],
    unregistered: dict[str, pd.DataFrame],
    quarantined: dict[str, int | str],
) -> pd.DataFrame:
    """One row per set for ``formset sets``.

    Parameters
    ----------
    registry
        ``data/registry.json``: per set_id, its versions, oldest first.
    unregistered
        Sets in ``data/sets`` that were never added with ``formset add-set`` (copied by
        hand, the demo's sets), as samples.csv text cells.
    quarantined
        Per set built by the last run, its quarantined samples (or ``"whole set"``); a set
        absent from it shows ``NOT_BUILT``.

    Returns
    -------
    pandas.DataFrame
        ``OVERVIEW_COLUMNS``, sorted by set_id; ``version`` and ``added`` are ``"-"`` for an
        unregistered set.
    """
    latest = {set_id: versions[-1] for set_id, versions in registry.items()}
    rows = [
        {"set_id": set_id, "version": entry["version"], "samples": entry["n_samples"], **entry["labels"], "added": entry["added"]}
        for set_id, entry in latest.items()
    ]
    rows += [
        {"set_id": set_id, "version": "-", "samples": len(cells), **label_balance(cells), "added": "-"}
        for set_id, cells in unregistered.items()
    ]
    for row in rows:
        row["quarantined"] = quarantined.get(row["set_id"], NOT_BUILT)
    overview = pd.DataFrame(rows, columns=list(OVERVIEW_COLUMNS))
    return overview.sort_values("set_id").reset_index(drop=True)


def _labels_by_sample(cells: pd.DataFrame) -> pd.DataFrame:
    """The label columns indexed by sample_id, first row of a repeated id, no empty id."""
    named = cells[cells["sample_id"] != ""].drop_duplicates("sample_id")
    return named.set_index("sample_id")[list(LABEL_COLUMNS)]


def _kind_of(message: str, value: str | None) -> tuple[str, str | None]:
    """``(kind, value)`` of one problem: its message without the leading offending value,
    and that value; the whole message and None when the message does not start with it."""
    prefix = f"{value!r} "
    if isinstance(value, str) and value and message.startswith(prefix):
        return message[len(prefix):], value
    return message, None

