"""Reading and writing tables and files atomically.

Every write goes to a temporary name in the destination's directory and is renamed into
place, so a run killed at any moment leaves the previous version whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from formset.provenance import PARQUET_KEY


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Works for files and directories. On an exception the temporary is removed and
    ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / (path.name + suffix)
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            # Directories cannot be replaced in one rename: move the old one aside first.
            old = tmp / ".old"
            path.rename(old)
            target.rename(path)
        else:
            os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def to_arrow(data: pd.DataFrame | pa.Table, schema: pa.Schema) -> pa.Table:
    """Convert ``data`` to an Arrow table of exactly ``schema`` (columns in schema order).

    Raises
    ------
    KeyError
        A column of the schema is missing from ``data``.
    pyarrow.ArrowInvalid, pyarrow.ArrowTypeError
        A value cannot be represented in the schema's type, or a non-nullable field has nulls.
    """
    if isinstance(data, pd.DataFrame):
        missing = [n for n in schema.names if n not in data.columns]
        if missing:
            raise KeyError(f"table lacks columns {missing}")
        table = pa.Table.from_pandas(data[schema.names], schema=schema, preserve_index=False)
    else:
        table = data.select(schema.names).cast(schema)
    table = table.replace_schema_metadata(schema.metadata)
    table.validate(full=True)
    for field, column in zip(schema, table.columns):
        if not field.nullable and column.null_count:
            raise ValueError(f"column {field.name!r} is not nullable but has {column.null_count} nulls")
    return table


def write_table(
    data: pd.DataFrame | pa.Table,
    path: str | os.PathLike,
    schema: pa.Schema,
    provenance: dict | None = None,
) -> pa.Table:
    """Write ``data`` as one Parquet file through ``schema``, atomically.

    ``provenance`` (code version, params, input hashes) is stored in the file's key-value
    metadata under ``formset.provenance``.
    """
    table = to_arrow(data, schema)
    if provenance is not None:
        meta = dict(table.schema.metadata or {})
        meta[PARQUET_KEY] = json.dumps(provenance, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None) -> pd.DataFrame:
    """Read a Parquet file or a directory of Parquet files into pandas.

    With ``schema``, an absent path reads as an empty table of that schema.
    """
    path = Path(path)
    if not path.exists():
        if schema is None:
            raise FileNotFoundError(path)
        return schema.empty_table().to_pandas()
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        return (schema.empty_table() if schema is not None else pa.table({})).to_pandas()
    tables = [pq.read_table(f, schema=schema) if schema is not None else pq.read_table(f) for f in files]
    return pa.concat_tables(tables).to_pandas()


def write_json(obj: object, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
