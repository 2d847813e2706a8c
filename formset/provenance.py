"""Provenance: which code, parameters and inputs made a table.

Stored in each Parquet file's metadata (``formset.provenance``). Deliberately free of
timestamps: the same code, params and inputs give byte-identical tables, so re-running
with nothing changed changes nothing that DVC tracks.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from formset.params import plain

if TYPE_CHECKING:
    import pyarrow

#: Key of the provenance record in a Parquet file's key-value metadata.
PARQUET_KEY = b"formset.provenance"
#: Key of the records of every partition in the metadata of a table read from several files
#: (``formset.pull``): JSON of partition path -> its record.
PARTITIONS_KEY = b"formset.partitions"


@lru_cache(maxsize=1)
def code_version() -> str:
    """``formset <version>`` plus the git commit of the source tree (``+dirty`` if modified)."""
    try:
        pkg = version("formset")
    except PackageNotFoundError:
        pkg = "unknown"
    src = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=src, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "no-git"
    return f"formset {pkg} ({commit})"


def params_digest(params: object) -> str:
    """sha256 of the canonical JSON of ``params``."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def record(stage: str, params: object, inputs: dict, code_sha256: str | None = None) -> dict:
    """The provenance record of one stage output.

    ``key`` identifies what the output was made from: the stage, its params, the content of
    its code (``code_sha256``, see ``formset.incremental.code_digest``) and its inputs, but
    not the git version, so that a commit that leaves a stage's code alone does not redo it.
    """
    params = plain(params)
    made_from = {"stage": stage, "params_sha256": params_digest(params), "code_sha256": code_sha256, "inputs": inputs}
    return {**made_from, "code": code_version(), "params": params, "key": params_digest(made_from)}


def schema_record(schema: pyarrow.Schema) -> dict | None:
    """The provenance record in an Arrow schema's metadata; None if absent."""
    raw = (schema.metadata or {}).get(PARQUET_KEY)
    return json.loads(raw) if raw else None


def read_record(path: str | Path | BinaryIO) -> dict | None:
    """The provenance record stored in a Parquet file's metadata; None if absent or unreadable.

    ``path`` is a path or an open binary file (a file of ``dvc.api.DVCFileSystem``).
    """
    import pyarrow.parquet as pq

    try:
        return schema_record(pq.read_schema(path))
    except (OSError, ValueError):
        return None
