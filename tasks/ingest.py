"""Ingest: register one labeled set (docs/input-contract.md, section 1) in the catalog.

A set is a directory holding ``set.yaml``, ``samples.csv`` and the source files the rows
name. Ingest reads no keypoints: it checks the two text files and that every named path is
a usable file or folder inside the set, hashes the files, and returns one row for the
set, one per accepted sample and one per source file, plus a ``Rejection`` per bad sample.

- A broken ``set.yaml`` or ``samples.csv`` (missing, not UTF-8, not YAML / CSV, a required
  key or column missing) rejects the whole set: nothing of it is registered.
- A bad row quarantines that sample only; its rejection lists every problem of the row,
  with the CSV line number, so an annotator can fix them all in one pass.

Identity and change detection:

- ``content_key`` of a sample: sha256 over its sorted ``role<TAB>path<TAB>sha256`` lines, so
  it changes when a source file changes, not when a label does;
- ``set_hash``: sha256 over the hashes of ``set.yaml``, ``samples.csv`` and every registered
  source file, so any edit to the set changes it.

The output holds no timestamps and is sorted by ``sample_id``: ingesting an unchanged set
twice gives identical tables.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import posixpath
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

import pandas as pd
import pyarrow as pa
import yaml

from formset.catalog import DELIVERED_SETS
from formset.quarantine import Rejection, SampleError
from formset.schemas.tables import FILES, SAMPLES
from formset.schemas.vocab import FAULTS, GENDERS, KINECT_UNITS, LABELS, RANGES, SLUG, SOURCE_COLUMNS

STAGE = "ingest"
SET_FILE, SAMPLES_FILE = "set.yaml", "samples.csv"

REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "subject_id", "exercise")
#: Columns of the contract that ingest interprets; any other column is kept as metadata.
KNOWN_COLUMNS: tuple[str, ...] = (
    *REQUIRED_COLUMNS,
    *SOURCE_COLUMNS,
    "label",
    *FAULTS,
    "age",
    "gender",
    "height_cm",
    "weight_kg",
    "rep_count",
    "fps",
)
#: Free-text keys of set.yaml copied to the set row as they are.
SET_TEXT_KEYS: tuple[str, ...] = ("title", "annotator", "created", "license", "notes")

DEFAULT_FPS = 30.0
DEFAULT_KINECT_UNITS = "m"
FAULT_VALUES: dict[str, int] = {"1": 1, "0": 0}
OPENPOSE_SUFFIX = ".json"
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
PROBLEM_COLUMNS: tuple[str, ...] = ("line", "sample_id", "column", "reason", "message", "value")
SLUG_RULE = "use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"


@dataclass(frozen=True)
class NumberRule:
    """An optional numeric column of samples.csv and the values it accepts.

    Values lie in ``[low, high]`` (``(low, high]`` when ``low_inclusive`` is false); ``high``
    may be infinite. ``unit`` only serves the message shown to annotators.
    """

    column: str
    low: float
    high: float
    whole: bool
    unit: str = ""
    low_inclusive: bool = True

    def describe(self) -> str:
        """What a valid value is, in words: ``a whole number from 5 to 100 (years)``."""
        kind = "a whole number" if self.whole else "a number"
        if math.isinf(self.high):
            bound = f"{self.low:g} or more" if self.low_inclusive else f"above {self.low:g}"
        else:
            bound = f"from {self.low:g} to {self.high:g}"
        return f"{kind} {bound}" + (f" ({self.unit})" if self.unit else "")


NUMBER_RULES: tuple[NumberRule, ...] = (
    NumberRule("age", *RANGES["age"], whole=True, unit="years"),
    NumberRule("height_cm", *RANGES["height_cm"], whole=False, unit="centimetres"),
    NumberRule("weight_kg", *RANGES["weight_kg"], whole=False, unit="kilograms"),
    NumberRule("rep_count", 0, math.inf, whole=True),
    NumberRule("fps", 0, math.inf, whole=False, unit="frames per second", low_inclusive=False),
)


@dataclass(frozen=True)
class SetInfo:
    """The validated content of set.yaml; ``fps`` in frames per second."""

    set_id: str
    title: str | None
    annotator: str | None
    created: str | None
    license: str | None
    notes: str | None
    fps: float
    kinect_units: str


@dataclass(frozen=True)
class SamplesTable:
    """samples.csv as text cells.

    Attributes
    ----------
    cells
        One row per data row, indexed by the CSV line number the row starts on; every
        column of ``KNOWN_COLUMNS`` (``""`` where the file lacks it) plus the extra columns,
        all cells stripped text.
    field_counts
        Number of fields each row holds, same index; differs from ``n_columns`` on a
        malformed row.
    n_columns
        Number of columns of the header row.
    extra_columns
        Header names outside ``KNOWN_COLUMNS``, in file order.
    """

    cells: pd.DataFrame
    field_counts: pd.Series
    n_columns: int
    extra_columns: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row; ``column`` is None for row-wide problems."""

    line: int
    reason: str
    column: str | None
    message: str
    value: str | None = None


@dataclass(frozen=True)
class SourceFile:
    """One file a sample's source column names, found on disk inside the set."""

    role: str
    path: str
    location: Path


@dataclass
class IngestResult:
    """What ingesting one set registers.

    Attributes
    ----------
    set_row
        The ``SETS`` columns of the set, or None when the whole set was rejected.
    samples
        Accepted samples, exactly the ``SAMPLES`` columns, sorted by ``sample_id``.
    files
        One row per source file of an accepted sample (``FILES`` columns), sorted by
        ``sample_id``, ``role``, ``path``; an OpenPose folder gives one row per JSON file.
    rejections
        One per rejected sample in CSV line order, or a single one with ``sample_id`` None
        when the whole set was rejected.
    problems
        The rejections cell by cell (``problem_table``): one row per problem, so a report can
        point at each row and column; empty when the whole set was rejected.
    """

    set_row: dict | None
    samples: pd.DataFrame
    files: pd.DataFrame
    rejections: list[Rejection]
    problems: pd.DataFrame


def ingest_set(
    set_dir: str | Path, exercises: Sequence[str], known_hashes: Mapping[Path, tuple[str, int]] | None = None
) -> IngestResult:
    """Check, hash and register one labeled set.

    Parameters
    ----------
    set_dir
        The set directory; its name must equal set.yaml's ``set_id``.
    exercises
        The exercise names samples may use (``params.yaml: exercises``).
    known_hashes
        sha256 (hex) and size (bytes) of files already hashed, by absolute path under the
        resolved ``set_dir`` (``formset.registry.copy_hashed`` hashes a delivery as it
        copies it); other files are read and hashed here.

    Returns
    -------
    IngestResult
        Never raises for bad content; a broken set comes back as a single rejection.
    """
    set_dir = Path(set_dir)
    try:
        set_yaml = read_set_file(set_dir / SET_FILE, "missing_set_yaml", "bad_set_yaml")
        info = parse_set_yaml(set_yaml)
        if info.set_id != set_dir.name:
            raise SampleError(
                "set_id_mismatch",
                f"set.yaml says set_id '{info.set_id}' but the set folder is named '{set_dir.name}'; "
                f"sets are stored under {DELIVERED_SETS.path}/<set_id>: rename the folder or fix set_id",
                info.set_id,
            )
        samples_csv = read_set_file(set_dir / SAMPLES_FILE, "missing_samples_csv", "bad_samples_csv")
        table = parse_samples_csv(samples_csv)
    except SampleError as error:
        rejection = error.rejection(set_dir.name, None, STAGE)
        return IngestResult(None, _empty(SAMPLES), _empty(FILES), [rejection], problem_table(pd.Series(dtype=str), []))

    root = set_dir.resolve()
    problems = cell_problems(table, exercises)
    sources: dict[int, list[tuple[str, str, list[SourceFile]]]] = {}
    for line, row in table.cells[list(SOURCE_COLUMNS)].iterrows():
        sources[line], path_problems = _locate_row_sources(root, line, row)
        problems += path_problems

    rejected = {p.line for p in problems}
    files, hash_problems = _hash_sources(
        info.set_id,
        table.cells["sample_id"],
        {line: found for line, found in sources.items() if line not in rejected},
        known_hashes or {},
    )
    problems += hash_problems
    rejected |= {p.line for p in hash_problems}
    files = files[~files["sample_id"].isin(table.cells.loc[list(rejected), "sample_id"])]

    accepted = table.cells.drop(index=list(rejected))
    folders = pd.DataFrame.from_dict(
        {line: {column: relative for column, relative, _ in found} for line, found in sources.items()}, orient="index"
    ).reindex(index=accepted.index, columns=list(SOURCE_COLUMNS))
    samples = samples_frame(info, accepted, folders, content_keys(files), table.extra_columns)
    files = files.sort_values(["sample_id", "role", "path"]).reset_index(drop=True)
    set_row = {
        "set_id": info.set_id,
        **{key: getattr(info, key) for key in SET_TEXT_KEYS},
        "fps": info.fps,
        "kinect_units": info.kinect_units,
        "set_hash": set_hash(set_yaml, samples_csv, files),
        "n_rows": len(table.cells),
        "n_accepted": len(samples),
    }
    sample_ids = table.cells["sample_id"]
    return IngestResult(
        set_row, samples, files, rejections(info.set_id, sample_ids, problems), problem_table(sample_ids, problems)
    )


def read_set_file(path: Path, missing_reason: str, bad_reason: str) -> bytes:
    """The bytes of set.yaml or samples.csv; a SampleError with the given reasons if unreadable."""
    if not path.exists():
        raise SampleError(missing_reason, f"the set folder has no {path.name}", path.name)
    if not path.is_file():
        raise SampleError(bad_reason, f"{path.name} is a folder, not a file", path.name)
    try:
        return path.read_bytes()
    except OSError as error:
        raise SampleError(bad_reason, f"{path.name} could not be read: {error.strerror}", path.name) from error


def parse_set_yaml(raw: bytes) -> SetInfo:
    """Validate set.yaml's bytes.

    Raises
    ------
    SampleError
        ``bad_set_yaml``: not UTF-8, not YAML, not a mapping, ``set_id`` missing or not a
        slug, ``fps`` not a number above 0, ``kinect_units`` not one of ``KINECT_UNITS``.
    """
    try:
        document = yaml.safe_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise SampleError("bad_set_yaml", f"set.yaml is not UTF-8 text (byte {error.start})") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "unreadable"
        raise SampleError("bad_set_yaml", f"set.yaml is not valid YAML{where}: {problem}") from error
    if not isinstance(document, dict):
        raise SampleError("bad_set_yaml", "set.yaml must hold 'key: value' lines (set_id: ..., fps: ...)")

    set_id = document.get("set_id")
    if set_id is None:
        raise SampleError("bad_set_yaml", "set.yaml has no set_id")
    if not isinstance(set_id, str) or not SLUG.fullmatch(set_id):
        raise SampleError(
            "bad_set_yaml",
            f"set.yaml's set_id {set_id!r} is not valid: {SLUG_RULE} (quote it if it is only digits)",
            set_id,
        )
    fps = document.get("fps")
    if fps is None:
        fps = DEFAULT_FPS
    elif isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise SampleError("bad_set_yaml", f"set.yaml's fps {fps!r} is not a number above 0 (frames per second)", fps)
    units = document.get("kinect_units")
    if units is None:
        units = DEFAULT_KINECT_UNITS
    elif units not in KINECT_UNITS:
        raise SampleError(
            "bad_set_yaml", f"set.yaml's kinect_units {units!r} is not one of {', '.join(KINECT_UNITS)}", units
        )
    texts = {key: _as_text(document.get(key)) for key in SET_TEXT_KEYS}
    return SetInfo(set_id, **texts, fps=float(fps), kinect_units=units)


def parse_samples_csv(raw: bytes) -> SamplesTable:
    """Split samples.csv's bytes into text cells, keeping each row's CSV line number.

    Blank lines and rows whose cells are all empty are skipped, a byte-order mark is
    ignored, and empty fields past the last named column are dropped when the header row
    has as many (trailing commas of a spreadsheet export); a row with more fields than that
    is malformed.

    Raises
    ------
    SampleError
        ``bad_samples_csv`` (not UTF-8, not CSV, no header row, an unnamed or repeated
        column) or ``missing_columns`` (a required column absent).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SampleError(
            "bad_samples_csv", f"samples.csv is not UTF-8 text (line {line}): save it as 'CSV UTF-8'"
        ) from error

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    lines: list[int] = []
    records: list[list[str]] = []
    last_line = 0
    try:
        for fields in reader:
            # A quoted cell may span lines: a record starts right after the previous one ends.
            start, last_line = last_line + 1, reader.line_num
            fields = [field.strip() for field in fields]
            if any(fields):
                lines.append(start)
                records.append(fields)
    except csv.Error as error:
        raise SampleError(
            "bad_samples_csv", f"samples.csv is not valid CSV at line {reader.line_num}: {error}"
        ) from error
    if not records:
        raise SampleError("bad_samples_csv", "samples.csv is empty: it needs a header row naming its columns")

    # A spreadsheet export may end every line, the header included, with empty fields.
    export_width = len(records[0])
    header, rows = _drop_trailing_empty(records[0], 0, export_width), records[1:]
    unnamed = [str(position + 1) for position, name in enumerate(header) if not name]
    if unnamed:
        raise SampleError("bad_samples_csv", f"samples.csv's header row has no name for column(s) {', '.join(unnamed)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SampleError("bad_samples_csv", f"samples.csv's header row repeats column(s) {', '.join(repeated)}")
    absent = [name for name in REQUIRED_COLUMNS if name not in header]
    if absent:
        raise SampleError(
            "missing_columns",
            f"samples.csv lacks the required column(s) {', '.join(absent)}; its header row has: {', '.join(header)}",
            ", ".join(absent),
        )

    n_columns = len(header)
    rows = [_drop_trailing_empty(row, n_columns, export_width) for row in rows]
    index = pd.Index(lines[1:], name="line")
    field_counts = pd.Series([len(row) for row in rows], index=index, dtype="int64")
    # Pad short rows so each still shows its cells; the row itself is flagged as malformed.
    padded = [(row + [""] * n_columns)[:n_columns] for row in rows]
    cells = pd.DataFrame(padded, index=index, columns=header, dtype=str)
    for name in KNOWN_COLUMNS:
        if name not in cells:
            cells[name] = pd.Series("", index=index, dtype=str)
    extra = tuple(name for name in header if name not in KNOWN_COLUMNS)
    return SamplesTable(cells, field_counts, n_columns, extra)


def cell_problems(table: SamplesTable, exercises: Sequence[str]) -> list[Problem]:
    """Every problem of the cells of samples.csv, in check order (files are not looked at).

    The order decides a row's reason code (its first problem): row shape, sample_id,
    duplicates, subject_id, exercise, label, faults, fault on a correct row, numbers,
    gender, no source.
    """
    cells = table.cells
    problems = [
        Problem(line, "bad_row", None,
                f"has {count} fields but the header has {table.n_columns} columns: "
                "a value containing a comma must be in double quotes")
        for line, count in table.field_counts[table.field_counts != table.n_columns].items()
    ]  # fmt: skip

    ids = cells["sample_id"]
    problems += [
        Problem(line, "bad_sample_id", "sample_id", f"{value!r} is not valid: {SLUG_RULE}" if value else "is empty",
                value)
        for line, value in ids[~_matches(ids, SLUG)].items()
    ]
    repeated = ids[(ids != "") & ids.duplicated(keep=False)]
    rows_of = {value: ", ".join(map(str, group.index)) for value, group in repeated.groupby(repeated)}
    problems += [
        Problem(line, "duplicate_sample_id", "sample_id",
                f"{value!r} names more than one row (rows {rows_of[value]}); each sample_id must be unique in the set",
                value)
        for line, value in repeated.items()
    ]  # fmt: skip
    problems += [
        Problem(line, "missing_subject_id", "subject_id", "is empty (every row needs the person's subject_id)")
        for line in cells.index[cells["subject_id"] == ""]
    ]
    problems += _choice_problems(cells["exercise"], tuple(exercises), "unknown_exercise", allow_empty=False)
    problems += _choice_problems(cells["label"], LABELS, "bad_label")
    for fault in FAULTS:
        problems += _choice_problems(cells[fault], tuple(FAULT_VALUES), "bad_fault")

    faulted = cells[list(FAULTS)] == "1"
    contradictions = (cells["label"] == "correct") & faulted.any(axis=1)
    problems += [
        Problem(line, "fault_on_correct", "label",
                f"is 'correct' but {', '.join(faulted.columns[faulted.loc[line].to_numpy()])} = 1: "
                "a correct execution has no faults, fix the label or the fault",
                "correct")
        for line in cells.index[contradictions]
    ]  # fmt: skip
    for rule in NUMBER_RULES:
        problems += _number_problems(cells[rule.column], rule)
    problems += _choice_problems(cells["gender"], GENDERS, "bad_value")

    no_source = (cells[list(SOURCE_COLUMNS)] == "").all(axis=1)
    problems += [
        Problem(line, "no_source", None, f"names no source: fill in at least one of {', '.join(SOURCE_COLUMNS)}")
        for line in cells.index[no_source]
    ]
    return problems


def locate_source(root: Path, column: str, named: str) -> tuple[str, list[SourceFile]]:
    """Check the path one source column names and list its files.

    Parameters
    ----------
    root
        The set directory, resolved (absolute, no symlinks).
    column
        A key of ``SOURCE_COLUMNS``: a video or Kinect CSV names a file, an OpenPose
        column a folder of JSON frames.
    named
        The path as written in samples.csv.

    Returns
    -------
    tuple
        ``(relative, files)``: the path normalized relative to the set (POSIX), and the
        files it stands for (one, or every ``.json`` file of an OpenPose folder, sorted).

    Raises
    ------
    SampleError
        ``path_escape`` (absolute, ``..`` out of the set, or a link out of it),
        ``missing_file``, ``bad_source`` (a folder where a file is due, a file where a folder
        is due, an OpenPose folder without JSON files).
    """
    if PurePosixPath(named).is_absolute():
        raise SampleError("path_escape", f"{named!r} is an absolute path: name files relative to the set folder", named)
    relative = posixpath.normpath(named)
    if relative == ".." or relative.startswith("../"):
        raise SampleError("path_escape", f"{named!r} leads out of the set folder ('..'): keep files inside it", named)
    location = root / relative
    if not _inside(location, root):
        raise SampleError(
            "path_escape", f"{named!r} is a link to a place outside the set folder: copy the file into the set", named
        )
    if not location.exists():
        raise SampleError("missing_file", f"{named!r} does not exist in the set folder", named)

    if SOURCE_COLUMNS[column][1] != "openpose":
        if not location.is_file():
            raise SampleError("bad_source", f"{named!r} is a folder, but {column} must name a file", named)
        return relative, [SourceFile(column, relative, location)]

    if not location.is_dir():
        raise SampleError(
            "bad_source", f"{named!r} is a file, but {column} must name a folder of OpenPose .json files", named
        )
    with os.scandir(location) as listing:
        entries = [e for e in listing if os.path.splitext(e.name)[1].lower() == OPENPOSE_SUFFIX and e.is_file()]
    # The folder lies inside the set, so a file in it can only lead out as a link: only links
    # are resolved (resolving costs a stat per path component, per file).
    outside = sorted(e.name for e in entries if e.is_symlink() and not _inside(Path(e.path), root))
    if outside:
        raise SampleError(
            "path_escape", f"{named!r} holds links to places outside the set folder: {', '.join(outside)}", named
        )
    if not entries:
        raise SampleError("bad_source", f"{named!r} holds no OpenPose .json files", named)
    prefix = "" if relative == "." else f"{relative}/"
    return relative, [SourceFile(column, prefix + name, location / name) for name in sorted(e.name for e in entries)]


def sha256_file(path: Path) -> tuple[str, int]:
    """sha256 (hex) and size in bytes of a file, read in chunks rather than whole."""
    with path.open("rb") as stream:
        digest = hashlib.file_digest(stream, "sha256")
        return digest.hexdigest(), stream.tell()


def content_keys(files: pd.DataFrame) -> pd.Series:
    """Per ``sample_id``, sha256 over its sorted ``role<TAB>path<TAB>sha256`` lines.

    Parameters
    ----------
    files
        Rows with the ``FILES`` columns ``sample_id``, ``role``, ``path``, ``sha256``.

    Returns
    -------
    pandas.Series
        Hex digests indexed by ``sample_id``.
    """
    lines = files["role"] + "\t" + files["path"] + "\t" + files["sha256"] + "\n"
    return lines.groupby(files["sample_id"]).agg(lambda group: _sha256_text("".join(sorted(group))))


def set_hash(set_yaml: bytes, samples_csv: bytes, files: pd.DataFrame) -> str:
    """sha256 over the hashes of set.yaml, samples.csv and every distinct registered file."""
    sources = sorted(set(files["path"] + "\t" + files["sha256"] + "\n"))
    head = [
        f"{SET_FILE}\t{hashlib.sha256(set_yaml).hexdigest()}\n",
        f"{SAMPLES_FILE}\t{hashlib.sha256(samples_csv).hexdigest()}\n",
    ]
    return _sha256_text("".join(head + sources))


def samples_frame(
    info: SetInfo,
    cells: pd.DataFrame,
    sources: pd.DataFrame,
    keys: pd.Series,
    extra_columns: Sequence[str],
) -> pd.DataFrame:
    """The ``SAMPLES`` rows of accepted, already validated cells.

    Parameters
    ----------
    info
        The set's set.yaml.
    cells
        Accepted rows of ``SamplesTable.cells``.
    sources
        Normalized relative path per source column, same index (NaN where not named).
    keys
        Content keys indexed by ``sample_id``.
    extra_columns
        Columns kept as a JSON object (sorted keys) in ``metadata``.

    Returns
    -------
    pandas.DataFrame
        Exactly the ``SAMPLES`` columns, sorted by ``sample_id``; fps in frames per second.
    """
    records = cells[list(extra_columns)].to_dict("records")
    metadata = pd.Series(
        [json.dumps(record, sort_keys=True, ensure_ascii=False) for record in records] if extra_columns else None,
        index=cells.index,
        dtype=str,
    )
    frame = pd.DataFrame(
        {
            "set_id": pd.Series(info.set_id, index=cells.index, dtype=str),
            "sample_id": cells["sample_id"],
            "subject_id": cells["subject_id"],
            "exercise": cells["exercise"],
            "label": _blank_to_null(cells["label"]),
            **{fault: cells[fault].map(FAULT_VALUES).astype("Int8") for fault in FAULTS},
            "age": _numbers(cells["age"]).astype("Int16"),
            "gender": _blank_to_null(cells["gender"]),
            "height_cm": _numbers(cells["height_cm"]).astype("float32"),
            "weight_kg": _numbers(cells["weight_kg"]).astype("float32"),
            "rep_count": _numbers(cells["rep_count"]).astype("Int32"),
            "fps": _numbers(cells["fps"]).fillna(info.fps).astype("float64"),
            "kinect_units": pd.Series(info.kinect_units, index=cells.index, dtype=str),
            **{column: sources[column].astype(str) for column in SOURCE_COLUMNS},
            "content_key": cells["sample_id"].map(keys).astype(str),
            "metadata": metadata,
        },
        columns=SAMPLES.names,
    )
    return frame.sort_values("sample_id").reset_index(drop=True)


def rejections(set_id: str, sample_ids: pd.Series, problems: list[Problem]) -> list[Rejection]:
    """One rejection per row with problems, in line order: its first problem's reason and
    value, and a detail listing all of them (``row 7 (sample_id 'sq_03'), column 'label': ...``)."""
    by_line: dict[int, list[Problem]] = {}
    for problem in problems:
        by_line.setdefault(problem.line, []).append(problem)
    out = []
    for line in sorted(by_line):
        found = by_line[line]
        sample_id = sample_ids[line]
        parts = [f"column {p.column!r}: {p.message}" if p.column else p.message for p in found]
        detail = f"row {line} (sample_id {sample_id!r}), " + "; ".join(parts)
        out.append(Rejection(set_id, sample_id, STAGE, found[0].reason, detail, found[0].value))
    return out


def problem_table(sample_ids: pd.Series, problems: list[Problem]) -> pd.DataFrame:
    """Problems as a table in line order (check order within a line).

    Parameters
    ----------
    sample_ids
        The ``sample_id`` cell of each row, indexed by CSV line number.
    problems
        What ``cell_problems`` and the path and hash checks found.

    Returns
    -------
    pandas.DataFrame
        Columns ``line``, ``sample_id``, ``column`` (None for a row-wide problem), ``reason``,
        ``message`` (what is wrong and what is expected) and ``value``.
    """
    records = [
        (p.line, sample_ids[p.line], p.column, p.reason, p.message, p.value)
        for p in sorted(problems, key=lambda p: p.line)  # sorted() is stable: check order stays
    ]
    return pd.DataFrame.from_records(records, columns=PROBLEM_COLUMNS).astype({"line": "int64"})


def _locate_row_sources(
    root: Path, line: int, row: pd.Series
) -> tuple[list[tuple[str, str, list[SourceFile]]], list[Problem]]:
    """``(column, relative path, files)`` of each source a row names, and its path problems."""
    found, problems = [], []
    for column, named in row[row != ""].items():
        try:
            relative, files = locate_source(root, column, named)
        except SampleError as error:
            problems.append(Problem(line, error.reason, column, error.detail, error.value))
        except (OSError, RuntimeError, ValueError) as error:
            # Unreadable folders, symlink loops, NUL bytes in a name: the path is unusable.
            problems.append(Problem(line, "bad_source", column, f"{named!r} could not be read: {error}", named))
        else:
            found.append((column, relative, files))
    return found, problems


def _hash_sources(
    set_id: str,
    sample_ids: pd.Series,
    sources: dict[int, list[tuple[str, str, list[SourceFile]]]],
    known_hashes: Mapping[Path, tuple[str, int]],
) -> tuple[pd.DataFrame, list[Problem]]:
    """``FILES`` rows of the given rows' sources (each file hashed once, unless its hash is
    known), and read failures."""
    hashes = dict(known_hashes)
    records, problems = [], []
    for line, found in sources.items():
        sample_id = sample_ids[line]
        for column, _, files in found:
            for source in files:
                try:
                    if source.location not in hashes:
                        hashes[source.location] = sha256_file(source.location)
                except OSError as error:
                    problems.append(
                        Problem(line, "unreadable_file", column, f"{source.path!r} could not be read: {error.strerror}",
                                source.path)
                    )  # fmt: skip
                    continue
                sha, size = hashes[source.location]
                records.append((set_id, sample_id, source.role, source.path, sha, size))
    files = pd.DataFrame.from_records(records, columns=FILES.names)
    return files.astype({"sha256": str, "role": str, "path": str, "size_bytes": "int64"}), problems


def _choice_problems(
    cells: pd.Series, allowed: tuple[str, ...], reason: str, allow_empty: bool = True
) -> list[Problem]:
    """Cells outside ``allowed`` (or empty, unless ``allow_empty``)."""
    valid = cells.isin(allowed) | ((cells == "") & allow_empty)
    choices = ", ".join(allowed) + (", or empty" if allow_empty else "")
    return [
        Problem(line, reason, cells.name, f"is empty (expected one of {choices})" if not value
                else f"{value!r} is not one of {choices}", value)
        for line, value in cells[~valid].items()
    ]  # fmt: skip


def _number_problems(cells: pd.Series, rule: NumberRule) -> list[Problem]:
    """Non-empty cells that are not a finite number within ``rule``'s bounds."""
    numbers = _numbers(cells)
    valid = numbers.between(rule.low, rule.high, inclusive="both" if rule.low_inclusive else "right")
    valid &= numbers.abs() < math.inf
    if rule.whole:
        valid &= _matches(cells, WHOLE_NUMBER)
    wrong = cells[(cells != "") & ~valid]
    return [
        Problem(line, "bad_value", rule.column, f"{value!r} is not {rule.describe()}", value)
        for line, value in wrong.items()
    ]


def _matches(cells: pd.Series, pattern: re.Pattern) -> pd.Series:
    """Whether each cell matches ``pattern`` whole (Python's regex semantics, not Arrow's)."""
    return cells.map(lambda value: pattern.fullmatch(value) is not None).astype(bool)


def _numbers(cells: pd.Series) -> pd.Series:
    """Cells as float64, NaN where empty or not a number."""
    return pd.to_numeric(cells.where(cells != ""), errors="coerce").astype("float64")


def _blank_to_null(cells: pd.Series) -> pd.Series:
    """Empty cells as missing values (null in Parquet)."""
    return cells.where(cells != "")


def _drop_trailing_empty(fields: list[str], keep: int, width: int) -> list[str]:
    """``fields`` without its empty fields past the first ``keep``, if it has at most
    ``width`` fields (the header's own width): trailing commas of a spreadsheet export."""
    if len(fields) > width:
        return fields
    end = len(fields)
    while end > keep and not fields[end - 1]:
        end -= 1
    return fields[:end]


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symlink followed, lies within the resolved ``root``."""
    return path.resolve().is_relative_to(root)


def _as_text(value: object) -> str | None:
    """A free-text set.yaml value as text; YAML reads ``2024-05-01`` as a date, kept ISO."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _empty(schema: pa.Schema) -> pd.DataFrame:
    """A table with no rows and the columns of ``schema``."""
    return schema.empty_table().to_pandas()
