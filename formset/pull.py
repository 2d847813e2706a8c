"""Pulling a published version of a table or model, by tag, without running anything.

A version is read through DVC's file system (``dvc.api.DVCFileSystem``) at a git revision
of a repository: this project, another path, or a git URL. Git-tracked files (``dvc.yaml``,
metrics) come from git; DVC-tracked outputs come from the repository's cache or its DVC
remote. Table names come from that revision's ``dvc.yaml``, so an old tag reads with the
layout it was published with.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from formset import catalog, gitops
from formset.config import find_root
from formset.provenance import PARQUET_KEY, PARTITIONS_KEY, read_record, schema_record
from formset.storage import atomic_path
from formset.versioning import stage_outputs

if TYPE_CHECKING:
    from dvc.api import DVCFileSystem

#: The ``rev`` that reads a local repository's working tree instead of a git revision.
WORKSPACE = "workspace"

#: Outputs that hold several tables, one folder or file each (the catalog's ``parts``); the
#: output's own name reads the first.
TABLES_INSIDE: dict[str, tuple[str, ...]] = catalog.folders_of_several()

#: Top folders left out of names: ``data/features`` is ``features``, ``models/classifier.pt``
#: is ``classifier``; ``metrics/train.json`` stays ``metrics/train``.
UNNAMED_FOLDERS = ("data", "models")


#: The name under which a pull configures the DVC remote it reads from.
PULL_REMOTE = "formset-pull"


class PullError(RuntimeError):
    """A version, table or file that cannot be pulled; the message says why and what to do."""


class UnknownTable(PullError):
    pass


class UnknownRevision(PullError):
    pass


class DataMissing(PullError):
    pass


@dataclass(frozen=True)
class Source:
    """Where a pull reads from.

    Attributes
    ----------
    repo
        A local path or a git URL.
    rev
        A git revision; None reads the working tree of a local repository.
    remote_url
        The DVC remote the data comes from; None: the repository's default remote.
    """

    repo: str
    rev: str | None
    remote_url: str | None

    @property
    def label(self) -> str:
        return self.rev or WORKSPACE


def output_name(path: str) -> str:
    """The name an output path is pulled by: ``data/features`` -> ``features``,
    ``models/classifier.pt`` -> ``classifier``, ``metrics/train.json`` -> ``metrics/train``."""
    parts = PurePosixPath(path).with_suffix("").parts
    return "/".join(parts[1:] if len(parts) > 1 and parts[0] in UNNAMED_FOLDERS else parts)


def table_paths(spec: dict) -> dict[str, str]:
    """Every name that can be pulled, and its path, from a parsed ``dvc.yaml``.

    Parameters
    ----------
    spec
        ``dvc.yaml`` of the revision read, as parsed by ``yaml.safe_load``.

    Returns
    -------
    dict
        Name -> path relative to the repository root, sorted by name: each output
        (``features``, ``classifier``, ``metrics/train`` ...), each table inside an output
        of several (``catalog/samples`` ...; ``catalog`` alone is the first), and each
        folder holding several outputs (``quarantine``: every stage's rejections, ``metrics``).
    """
    outputs = list(stage_outputs(spec))
    paths = {output_name(path): path for path in outputs}
    for output, parts in TABLES_INSIDE.items():
        if output in outputs:
            name = output_name(output)
            paths[name] = f"{output}/{parts[0]}"
            paths.update({f"{name}/{PurePosixPath(part).stem}": f"{output}/{part}" for part in parts})
    shared_folders = Counter(str(PurePosixPath(path).parent) for path in outputs)
    for folder, n_outputs in shared_folders.items():
        if n_outputs > 1 and folder not in UNNAMED_FOLDERS:
            paths.setdefault(output_name(folder), folder)
    return dict(sorted(paths.items()))


def project_repo(repo: str | None) -> str:
    """``repo``, or the current project's root (``$FORMSET_ROOT``, else around the cwd)."""
    if repo:
        return repo
    try:
        return str(find_root())
    except FileNotFoundError as err:
        raise PullError(f"{err}: pass the repository (--repo PATH_OR_GIT_URL)") from err


def local_path(repo: str) -> Path | None:
    """The folder of a repository given as a path or ``file://`` URL; None for other URLs."""
    if repo.startswith("file://"):
        return Path(urlparse(repo).path)
    return Path(repo) if os.path.isdir(repo) else None


def default_remote_url(path: Path) -> str | None:
    """The absolute URL of the default DVC remote of the repository at ``path``; None if none.

    DVC reads a git URL through a temporary clone, where a relative remote (the project's
    ``url = ../.dvc-storage``) would point inside the clone, at nothing; DVC's config
    loading resolves it against the config file of the repository itself.
    """
    from dvc.repo import Repo

    with Repo(str(path), uninitialized=True) as repo:
        name = repo.config["core"].get("remote")
        return repo.config["remote"][name]["url"] if name else None


def latest_published(repo: str | None = None) -> str:
    """The newest published version tag (``data-YYYY-MM-DD[.N]``) of ``repo``.

    Raises
    ------
    UnknownRevision
        The repository has no published version yet.
    """
    repo = project_repo(repo)
    tags = gitops.published_tags(repo)
    if not tags:
        raise UnknownRevision(
            f"{repo} has no published version ({gitops.TAG_PREFIX}-* tag) yet: "
            f"pass --rev {WORKSPACE} for its working tree, or a git revision"
        )
    return list(tags)[-1]


def resolve(rev: str | None = None, repo: str | None = None, remote_url: str | None = None) -> Source:
    """Where a pull reads: the repository (default: this project), the revision (default:
    the latest published tag; ``"workspace"``: the working tree) and the DVC remote (default:
    a local repository's own default remote, made absolute)."""
    repo = project_repo(repo)
    rev = rev or latest_published(repo)
    local = local_path(repo)
    if remote_url is None and local is not None:
        remote_url = default_remote_url(local)
    return Source(repo, None if rev == WORKSPACE else rev, remote_url)


def version_fs(source: Source) -> DVCFileSystem:
    """DVC's read-only file system of one version of the repository."""
    from dvc.api import DVCFileSystem

    # A remote of its own, made the default: the revision's .dvc/config may name none.
    options = {"config": {"core": {"remote": PULL_REMOTE}, "remote": {PULL_REMOTE: {"url": source.remote_url}}}} if source.remote_url else {}
    return DVCFileSystem(source.repo, rev=source.rev, **options)


def tables_at(fs: DVCFileSystem, source: Source) -> dict[str, str]:
    """``table_paths`` of the version ``fs`` reads.

    Raises
    ------
    UnknownRevision
        The repository has no such revision; the message lists the published ones.
    PullError
        Git cannot reach the repository.
    """
    from dvc.scm import RevError, SCMError

    try:
        spec = yaml.safe_load(fs.read_text("dvc.yaml"))
    except RevError as err:
        published = ", ".join(gitops.published_tags(source.repo)) or "none yet"
        raise UnknownRevision(f"{source.repo} has no revision {source.rev!r}. Published versions: {published}") from err
    except SCMError as err:
        raise PullError(f"cannot read the git repository {source.repo}: {err}") from err
    return table_paths(spec)


def locate(name: str, source: Source) -> tuple[DVCFileSystem, str]:
    """The file system of ``source`` and the path of ``name`` in it.

    Raises
    ------
    UnknownTable
        ``name`` is not an output at that revision; the message lists the known names.
    """
    fs = version_fs(source)
    paths = tables_at(fs, source)
    if name not in paths:
        raise UnknownTable(f"no table or model {name!r} at {source.label}. Known names: {', '.join(paths)}")
    return fs, paths[name]


@contextmanager
def data_of(name: str, path: str, source: Source) -> Iterator[None]:
    """Turns DVC's errors for data found neither in the cache nor in the remote into
    ``DataMissing``, with what to do about it."""
    from dvc_data.index import DataIndexError

    try:
        yield
    except (FileNotFoundError, DataIndexError) as err:
        remote = source.remote_url or "the repository's default DVC remote"
        raise DataMissing(
            f"{name} ({path}) at {source.label} of {source.repo} is not in {remote} ({err}). "
            "Was that version pushed (dvc push)? If its data is elsewhere, pass --remote-url."
        ) from err


def files_of(fs: DVCFileSystem, path: str) -> list[str]:
    """The files of an output (the output itself when it is a file), without git's
    dotfiles (DVC's ``.gitignore`` beside its outputs)."""
    files = [f for f in fs.find(path) if not PurePosixPath(f).name.startswith(".")]
    if not files:
        raise PullError(f"this version has nothing at {path}")
    return files


def is_table(files: list[str]) -> bool:
    """True when an output's files are one table: a Parquet file, or partitions of one."""
    return all(f.endswith(".parquet") for f in files)


def read_partition(fs: DVCFileSystem, path: str, columns: list[str] | None) -> pa.Table:
    """One Parquet file of a version, with its metadata (provenance included)."""
    with fs.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        names = parquet.schema_arrow.names
        missing = [c for c in columns or [] if c not in names]
        if missing:
            raise PullError(f"{path} has no column {', '.join(missing)}; its columns: {', '.join(names)}")
        return parquet.read(columns=columns)


def concat_partitions(partitions: dict[str, pa.Table]) -> pa.Table:
    """One table of every partition, in order.

    The schema metadata is the first partition's, with its single provenance record
    replaced by ``formset.partitions``: every partition's record, by path.
    """
    records = {path: schema_record(part.schema) for path, part in partitions.items()}
    first = next(iter(partitions.values()))
    metadata = {k: v for k, v in (first.schema.metadata or {}).items() if k != PARQUET_KEY}
    metadata[PARTITIONS_KEY] = json.dumps(records, sort_keys=True).encode()
    # Partitions differ in their provenance only: concatenate without metadata, then set it.
    table = pa.concat_tables([part.replace_schema_metadata(None) for part in partitions.values()])
    return table.replace_schema_metadata(metadata)


def partition_records(table: pa.Table) -> dict[str, dict | None]:
    """The provenance record of every partition of a table from ``read_arrow``, by path."""
    return json.loads((table.schema.metadata or {}).get(PARTITIONS_KEY, b"{}"))


def read_partitions(fs: DVCFileSystem, files: list[str], columns: list[str] | None) -> pa.Table:
    """The Parquet ``files`` of one table as one table (``concat_partitions``)."""
    return concat_partitions({f: read_partition(fs, f, columns) for f in files})


def read_arrow(
    name: str,
    rev: str | None = None,
    repo: str | None = None,
    remote_url: str | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """A table of a published version, as Arrow.

    Parameters
    ----------
    name
        A name of ``table_paths`` (``features``, ``catalog``, ``reps/recordings``, ``quarantine`` ...).
    rev
        A published tag (``data-2026-11-01``), any git revision, or ``"workspace"``;
        default: the latest published tag.
    repo
        A path or git URL; default: the current project.
    remote_url
        The DVC remote holding the data; default: the repository's own default remote.
    columns
        The columns to read; default: all.

    Returns
    -------
    pyarrow.Table
        A partitioned table's partitions concatenated; ``partition_records`` gives the
        provenance record of each.

    Raises
    ------
    UnknownTable, UnknownRevision, DataMissing, PullError
    """
    source = resolve(rev, repo, remote_url)
    fs, path = locate(name, source)
    with data_of(name, path, source):
        files = files_of(fs, path)
        if not is_table(files):
            raise PullError(f"{name} ({path}) is not a Parquet table: pull_file (formset pull) copies it")
        return read_partitions(fs, files, columns)


def read_table(
    name: str,
    rev: str | None = None,
    repo: str | None = None,
    remote_url: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """``read_arrow`` as pandas; ``DataFrame.attrs["provenance"]`` holds the partitions' records."""
    table = read_arrow(name, rev, repo, remote_url, columns)
    frame = table.to_pandas()
    frame.attrs["provenance"] = partition_records(table)
    return frame


def pull_file(
    name: str,
    out: str | os.PathLike,
    rev: str | None = None,
    repo: str | None = None,
    remote_url: str | None = None,
    columns: list[str] | None = None,
) -> pa.Table | None:
    """Write a table of a published version to ``out`` as one Parquet file (a partitioned
    table concatenated, ``formset.partitions`` in its metadata); any other output (a model,
    a JSON file, a folder) is copied as it is. Atomic: ``out`` is whole or untouched.

    Parameters are those of ``read_arrow``.

    Returns
    -------
    pyarrow.Table or None
        The table written; None for an output that is not a table.
    """
    source = resolve(rev, repo, remote_url)
    fs, path = locate(name, source)
    with data_of(name, path, source), atomic_path(out) as tmp:
        files = files_of(fs, path)
        if is_table(files):
            table = read_partitions(fs, files, columns)
            pq.write_table(table, tmp, compression="zstd")
            return table
        for f in files:
            target = tmp if f == path else tmp / PurePosixPath(f).relative_to(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f, str(target))
        return None


def provenance(
    name: str, rev: str | None = None, repo: str | None = None, remote_url: str | None = None
) -> dict[str, dict | None]:
    """The provenance record of every partition of a table of a published version, by path
    (None for a file without one). Reads the files' footers only."""
    source = resolve(rev, repo, remote_url)
    fs, path = locate(name, source)
    with data_of(name, path, source):
        records = {}
        for f in files_of(fs, path):
            with fs.open(f) as handle:
                records[f] = read_record(handle)
        return records


def published_versions(repo: str | None = None) -> list[dict]:
    """Every published version of ``repo`` (default: this project), oldest first.

    Returns
    -------
    list of dict
        ``tag``, ``date`` (ISO, from the tag), ``commit`` and ``metrics``: each metrics file
        of ``dvc.yaml`` at that tag (git-tracked), by path.
    """
    repo = project_repo(repo)
    versions = []
    for tag, commit in gitops.published_tags(repo).items():
        fs = version_fs(Source(repo, tag, None))
        metric_files = stage_outputs(yaml.safe_load(fs.read_text("dvc.yaml")), kinds=("metrics",))
        # Git-tracked metrics only (cache: false): listing versions needs no DVC remote.
        git_tracked = [path for path, options in metric_files.items() if options.get("cache") is False]
        metrics = {path: json.loads(fs.read_text(path)) for path in git_tracked if fs.exists(path)}
        day, _ = gitops.dated_tag_order(tag)
        versions.append({"tag": tag, "date": day.isoformat(), "commit": commit, "metrics": metrics})
    return versions
