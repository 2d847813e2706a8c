"""Reader of Kinect v2 skeleton CSVs (docs/input-contract.md, section 2) into the canonical skeleton.

Two layouts are accepted and told apart by the first non-blank line: (a) a header naming
``frame``, ``time_s`` and ``<Joint>_x/_y/_z[/_state]`` columns, (b) a raw dump of
25 x (x, y, z, state) numbers per row in the SDK's ``JointType`` order. Both are parsed into
one ``(row, kinect_joint, field)`` array and mapped through ``SOURCES["kinect_v2"]``.

Fields are split on commas (the files hold numbers only; quoted commas are not supported).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from formset.quarantine import SampleError
from formset.schemas.series import KeypointSeries
from formset.schemas.skeleton import AXES, SOURCES, to_canonical
from formset.schemas.vocab import KINECT_UNITS

SOURCE = "kinect_v2"
KINECT_JOINTS: tuple[str, ...] = SOURCES[SOURCE].joints

#: Per-joint fields, in the raw layout's order: coordinates, then the SDK's TrackingState.
JOINT_FIELDS: tuple[str, ...] = (*AXES, "state")
STATE_FIELD = JOINT_FIELDS.index("state")
RAW_FIELD_COUNT = len(KINECT_JOINTS) * len(JOINT_FIELDS)

#: TrackingState values (0 = not tracked, which is missing).
TRACKED, INFERRED = 2.0, 1.0
#: Confidence given to an inferred joint: the SDK guessed it from its neighbours.
INFERRED_CONFIDENCE = 0.5

FRAME_COLUMN, TIME_COLUMN = "frame", "time_s"
#: Lower-cased header name -> (joint position, field position) in the raw layout.
JOINT_COLUMNS: dict[str, tuple[int, int]] = {
    f"{joint}_{field}".lower(): (j, f)
    for j, joint in enumerate(KINECT_JOINTS)
    for f, field in enumerate(JOINT_FIELDS)
}
KNOWN_COLUMNS = frozenset({FRAME_COLUMN, TIME_COLUMN, *JOINT_COLUMNS})
#: Padding columns appended by ``_gather``: a NaN coordinate and a "tracked" state, so that
#: absent joint columns read as missing and absent state columns as tracked.
ABSENT, ABSENT_STATE = -2, -1

#: Lower-cased cells that say "missing" rather than being words of a header.
MISSING_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: How much of an offending line to quote in a rejection.
QUOTE_CHARS = 60


def read_kinect_csv(path: Path, units: str = "m", fps: float = 30.0) -> KeypointSeries:
    """Read one Kinect v2 skeleton CSV, in either layout, as canonical keypoints.

    Parameters
    ----------
    path
        The CSV file.
    units
        Unit of the file's coordinates, a key of ``KINECT_UNITS`` (``m``, ``cm``, ``mm``).
    fps
        Frames per second, used for ``time_s`` when the file has no ``time_s`` column.

    Returns
    -------
    KeypointSeries
        View ``kinect``, source ``kinect_v2``, coordinates in metres (Kinect camera space,
        ``y`` up); confidence 1.0 tracked, 0.5 inferred; NaN for joints not tracked, empty
        or non-numeric cells, and joints whose columns are absent. ``frame`` from the
        ``frame`` column, else the row number from 0; ``time_s`` from the ``time_s``
        column, else ``frame / fps``.

    Raises
    ------
    SampleError
        ``missing_file`` / ``unreadable_file``, ``empty_file`` (no data rows),
        ``unknown_units``, ``bad_header`` (unknown, duplicated or incomplete joint columns),
        ``malformed_csv`` (a row with the wrong number of fields, with its line number),
        ``bad_frame_index`` / ``bad_time`` (missing or non-increasing values).
    """
    path = Path(path)
    if units not in KINECT_UNITS:
        raise SampleError(
            "unknown_units",
            f"Kinect units {units!r} are not known; use one of {', '.join(KINECT_UNITS)} "
            "(kinect_units in set.yaml).",
            units,
        )
    lines = _read_lines(path)
    content = lines.index[[line.strip() != "" for line in lines]]
    if content.empty:
        raise SampleError("empty_file", f"{path.name} is empty: it holds no skeleton rows.")

    first = content[0]
    header = _header_fields(lines[first], path, first)
    if header is None:
        rows = lines[content]
        n_fields = RAW_FIELD_COUNT
        field_index = np.arange(RAW_FIELD_COUNT).reshape(len(KINECT_JOINTS), len(JOINT_FIELDS))
    else:
        rows = lines[content[1:]]
        n_fields = len(header)
        field_index = _joint_field_index(header, path)
    if rows.empty:
        raise SampleError("empty_file", f"{path.name} has a header but no skeleton rows.")

    values = _parse_rows(rows, n_fields, path)
    joint_values = _gather(values, field_index)
    points, confidence = _tracked_points(joint_values, KINECT_UNITS[units])
    points, confidence = to_canonical(points, confidence, SOURCE)

    line_numbers = rows.index.to_numpy() + 1
    columns = {} if header is None else {name: i for i, name in enumerate(header)}
    frame = (
        _frame_index(values[:, columns[FRAME_COLUMN]], line_numbers, path)
        if FRAME_COLUMN in columns
        else np.arange(len(rows))
    )
    time_s = (
        _time_column(values[:, columns[TIME_COLUMN]], line_numbers, path)
        if TIME_COLUMN in columns
        else frame / fps
    )
    return KeypointSeries(
        points=points,
        confidence=confidence,
        frame=frame,
        time_s=time_s,
        view="kinect",
        source=SOURCE,
        units="m",
    )


def _read_lines(path: Path) -> pd.Series:
    """All lines of ``path`` (blank ones included), indexed by 0-based line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SampleError("missing_file", f"The Kinect CSV {path.name} does not exist.", str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SampleError(
            "unreadable_file", f"The Kinect CSV {path.name} cannot be read as UTF-8 text: {error}.", str(path)
        ) from None
    return pd.Series(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), dtype="str")


def _header_fields(line: str, path: Path, line_index: int) -> list[str] | None:
    """The lower-cased column names if ``line`` is a header, else None (a raw data row).

    A line is a header when it names at least one known column; a line of words none of
    which is known and none a number is a header this reader cannot use.
    """
    fields = [f.strip().strip('"').strip().lower() for f in line.split(",")]
    if fields[-1] == "":
        fields = fields[:-1]
    if KNOWN_COLUMNS.isdisjoint(fields):
        words = pd.Series([f for f in fields if f not in MISSING_CELLS], dtype="str")
        if not words.empty and pd.to_numeric(words, errors="coerce").isna().all():
            raise SampleError(
                "bad_header",
                f"{path.name}, line {line_index + 1}: none of the columns is a Kinect joint column; "
                f"expected {FRAME_COLUMN}, {TIME_COLUMN} and <Joint>_x/_y/_z/_state with Kinect v2 "
                f"joint names such as {KINECT_JOINTS[0]}_x, or 100 numbers per row without a header.",
                _quote(line),
            )
        return None
    return fields


def _joint_field_index(header: list[str], path: Path) -> np.ndarray:
    """Column of each (kinect_joint, field) in the header layout.

    Returns
    -------
    numpy.ndarray
        int, shape ``(kinect_joint, field)``; absent coordinates point at the padding column
        ``ABSENT`` and absent states at ``ABSENT_STATE`` (see ``_gather``).
    """
    unknown = [name for name in header if name not in KNOWN_COLUMNS]
    if unknown:
        raise SampleError(
            "bad_header",
            f"{path.name}: unknown column(s) {', '.join(unknown)}; expected {FRAME_COLUMN}, {TIME_COLUMN} "
            f"and <Joint>_x/_y/_z/_state with Kinect v2 joint names (e.g. {KINECT_JOINTS[0]}_x).",
            ", ".join(unknown),
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        named = ", ".join(duplicated)
        raise SampleError("bad_header", f"{path.name}: column(s) {named} appear more than once.", named)
    index = np.full((len(KINECT_JOINTS), len(JOINT_FIELDS)), ABSENT)
    index[:, STATE_FIELD] = ABSENT_STATE
    for column, name in enumerate(header):
        if name in JOINT_COLUMNS:
            index[JOINT_COLUMNS[name]] = column
    has_axis = index[:, :STATE_FIELD] != ABSENT
    incomplete = has_axis.any(axis=1) & ~has_axis.all(axis=1)
    if incomplete.any():
        names = [KINECT_JOINTS[j] for j in np.flatnonzero(incomplete)]
        raise SampleError(
            "bad_header",
            f"{path.name}: joint(s) {', '.join(names)} lack some of their _x/_y/_z columns; "
            "give all three or none.",
            ", ".join(names),
        )
    return index


def _parse_rows(rows: pd.Series, n_fields: int, path: Path) -> np.ndarray:
    """Split data rows into numbers.

    Parameters
    ----------
    rows
        The non-blank data lines, indexed by 0-based line number.
    n_fields
        Fields every row must have; one extra empty field (a trailing comma) is allowed.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(row, n_fields)``; NaN for empty, non-numeric or non-finite cells.
    """
    # Plain str methods: for a file's ~100 rows the pandas .str accessor costs more than the work.
    found = np.array([row.count(",") for row in rows], dtype=np.int64) + 1
    trailing_comma = np.array([row.rstrip().endswith(",") for row in rows], dtype=bool)
    well_formed = (found == n_fields) | ((found == n_fields + 1) & trailing_comma)
    if not well_formed.all():
        bad = np.flatnonzero(~well_formed)[0]
        line = rows.index[bad] + 1
        raise SampleError(
            "malformed_csv",
            f"{path.name}, line {line}: expected {n_fields} comma-separated fields, found {found[bad]} "
            "(a truncated or hand-edited row?). Fix or remove that line.",
            _quote(rows.iloc[bad]),
        )
    cells = pd.read_csv(
        io.StringIO("\n".join(rows)),
        header=None,
        names=range(found.max()),
        usecols=range(n_fields),
        skipinitialspace=True,
        quoting=csv.QUOTE_NONE,  # as split above: a quote is a character of a (non-number) cell
    )
    # The C parser reads clean numeric columns; a column with a word in it comes back as text.
    not_numbers = [column for column, dtype in cells.dtypes.items() if dtype.kind not in "iuf"]
    if not_numbers:
        cells[not_numbers] = cells[not_numbers].astype("str").apply(pd.to_numeric, errors="coerce")
    values = cells.to_numpy(dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def _gather(values: np.ndarray, field_index: np.ndarray) -> np.ndarray:
    """Arrange row values as ``(row, kinect_joint, field)`` through ``field_index``.

    ``field_index`` may point at ``ABSENT`` (NaN) and ``ABSENT_STATE`` (tracked).
    """
    n_rows = len(values)
    padded = np.column_stack([values, np.full(n_rows, np.nan), np.full(n_rows, TRACKED)])
    return padded[:, field_index]


def _tracked_points(joint_values: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in metres and confidence from the tracking state.

    Parameters
    ----------
    joint_values
        Shape ``(row, kinect_joint, field)`` with fields x, y, z, state.
    scale
        Metres per file unit.

    Returns
    -------
    tuple of numpy.ndarray
        ``(points, confidence)`` of shapes ``(row, kinect_joint, 3)`` and
        ``(row, kinect_joint)``; NaN wherever a coordinate is missing or the state is not
        tracked / inferred (0, empty or any other value).
    """
    points = joint_values[..., :STATE_FIELD] * scale
    state = joint_values[..., STATE_FIELD]
    confidence = np.select([state == TRACKED, state == INFERRED], [1.0, INFERRED_CONFIDENCE], np.nan)
    found = np.isfinite(points).all(axis=-1) & np.isfinite(confidence)
    points = np.where(found[..., np.newaxis], points, np.nan)
    return points, np.where(found, confidence, np.nan)


def _frame_index(column: np.ndarray, line_numbers: np.ndarray, path: Path) -> np.ndarray:
    """The ``frame`` column as int64, checked whole, non-negative and strictly increasing."""
    valid = np.isfinite(column) & (column >= 0) & (column == np.round(column))
    increasing = np.concatenate([[True], np.diff(column) > 0])
    rule = "frame must be a whole number, increasing from row to row"
    _reject_first("bad_frame_index", ~(valid & increasing), column, line_numbers, path, rule)
    return column.astype(np.int64)


def _time_column(column: np.ndarray, line_numbers: np.ndarray, path: Path) -> np.ndarray:
    """The ``time_s`` column, checked present and strictly increasing."""
    increasing = np.concatenate([[True], np.diff(column) > 0])
    rule = "time_s must be a number of seconds, increasing from row to row"
    _reject_first("bad_time", ~(np.isfinite(column) & increasing), column, line_numbers, path, rule)
    return column


def _reject_first(
    reason: str, bad: np.ndarray, column: np.ndarray, line_numbers: np.ndarray, path: Path, rule: str
) -> None:
    """Raise ``SampleError(reason)`` naming the first row flagged in ``bad``, if any."""
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise SampleError(reason, f"{path.name}, line {line_numbers[first]}: {rule}.", column[first])


def _quote(line: str) -> str:
    """``line`` shortened for a quarantine record."""
    return line if len(line) <= QUOTE_CHARS else line[:QUOTE_CHARS] + "..."
