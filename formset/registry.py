"""Adding an annotator's delivery to ``data/sets`` and keeping ``data/registry.json``.

``add_delivery`` checks a delivery with ingest's own checks on a copy staged inside
``data/sets``, so what is checked is exactly what is added, probes every video to its end
(``tasks.readers.video.probe_to_end``: an empty, undecodable or truncated video is a row problem,
as the keypoints stage would quarantine it), and swaps the copy in whole; then it
records the sets as a DVC input version, appends the version to the registry and commits
both, so every earlier version's files stay retrievable with git + DVC. The caller holds
the project lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from formset import catalog, gitops
from formset.config import Project
from formset.params import plain
from formset.quarantine import SampleError
from formset.schemas.vocab import SOURCE_COLUMNS
from formset.storage import atomic_path, write_json
from formset.summary import quarantine_listing
from formset.tasks.delivery import check_report, label_changes, labels_sha256, sets_overview, version_entry
from formset.tasks.ingest import (
    SAMPLES_FILE,
    SET_FILE,
    Problem,
    ingest_set,
    parse_samples_csv,
    parse_set_yaml,
    problem_table,
    read_set_file,
)  # fmt: skip
from formset.tasks.keypoints import is_video_column
from formset.tasks.readers.video import min_decoded_fraction, probe_to_end
from formset.versioning import cache_objects_dir, track_inputs

#: Name pattern of the temporary folders ``atomic_path`` and the staging copy leave in
#: ``data/sets`` when killed: ``.<set_id>.<random>.tmp``.
STAGING_GLOB = ".*.tmp"
#: Bytes read and written at a time when copying a delivery (a video is streamed; a JSON
#: frame of a few KiB is one read), and the permissions of copied files before the umask.
COPY_CHUNK_BYTES = 1 << 20
NEW_FILE_MODE = 0o666
#: Permissions of a file stored as a DVC cache object (DVC's own: nobody edits an object).
STORED_MODE = 0o444
#: Folders copied at once (DVC copies into its cache with 4 threads per CPU).
COPY_THREADS = 8


@dataclass
class Delivery:
    """What ``add_delivery`` did with one delivery.

    Attributes
    ----------
    status
        ``refused`` (nothing copied), ``unchanged`` (same content as the last version) or
        ``added``.
    set_id
        The set, when set.yaml names one.
    set_problem
        Why the whole delivery was refused, when it was.
    report
        Row problems (``tasks.delivery.check_report``); rows that the pipeline will
        quarantine when the set was added with them.
    version
        The version added, or the one the delivery equals.
    changes
        Label changes from the previous version (``tasks.delivery.label_changes``), when
        there was one.
    commit
        The git commit recording the version, if one was made.
    """

    status: str
    set_id: str | None = None
    set_problem: str | None = None
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    version: int | None = None
    changes: pd.DataFrame | None = None
    commit: str | None = None


def add_delivery(project: Project, source: Path, allow_quarantine: bool = False, commit: bool = True) -> Delivery:
    """Check a delivery and, if it passes, add it as the next version of its set.

    Parameters
    ----------
    project
        The project; its lock must be held.
    source
        The delivered set folder; its name may differ from set.yaml's ``set_id``, which
        names the set in ``data/sets``.
    allow_quarantine
        Add a delivery whose only problems are bad rows (the pipeline quarantines them);
        otherwise such a delivery is refused.
    commit
        Commit ``data/sets.dvc`` and the registry when the project is a git repository.
    """
    source = source.resolve()
    try:
        set_id = parse_set_yaml(read_set_file(source / SET_FILE, "missing_set_yaml", "bad_set_yaml")).set_id
    except SampleError as error:
        return Delivery("refused", set_problem=error.detail)

    project.path(catalog.DELIVERED_SETS).mkdir(parents=True, exist_ok=True)
    recover_staging(project.path(catalog.DELIVERED_SETS))
    params = project.params()
    destination = project.path(catalog.DELIVERED_SETS) / set_id
    # Staged inside data/sets: the rename into place stays on one file system.
    with tempfile.TemporaryDirectory(prefix=f".{set_id}.", suffix=".tmp", dir=project.path(catalog.DELIVERED_SETS)) as staging:
        staged = Path(staging) / set_id  # named as it will be stored, as ingest checks
        result = ingest_set(staged, params.exercises, copy_hashed(source, staged, cache_objects_dir(project)))
        if result.set_row is None:
            return Delivery("refused", set_id, set_problem=result.rejections[0].detail)
        new_cells = samples_cells(staged)
        videos = video_problems(staged, new_cells, result.problems, min_decoded_fraction(plain(params.keypoints)))
        report = check_report(pd.concat([result.problems, problem_table(new_cells["sample_id"], videos)]))
        if len(report) and not allow_quarantine:
            return Delivery("refused", set_id, report=report)

        registry = read_registry(project)
        versions = registry.get(set_id, [])
        if versions and versions[-1]["set_hash"] == result.set_row["set_hash"] and destination.is_dir():
            return Delivery("unchanged", set_id, report=report, version=versions[-1]["version"])
        old_cells = replaced_cells(project, set_id, versions)
        with atomic_path(destination) as target:
            staged.rename(target)

    track_inputs(project)
    version = len(versions) + 1
    added = datetime.now(timezone.utc).isoformat(timespec="seconds")
    registry[set_id] = [*versions, version_entry(version, result.set_row, new_cells, str(source), added)]
    write_json(registry, project.path(catalog.SET_REGISTRY))
    commit_hash = None
    if commit and gitops.is_repo(project):
        records = [project.path(catalog.DELIVERED_SETS).with_suffix(".dvc"), project.path(catalog.SET_REGISTRY), project.path(catalog.DELIVERED_SETS).parent / ".gitignore"]
        commit_hash = gitops.commit(project, [p.relative_to(project.root) for p in records], f"add-set {set_id} v{version}")
    changes = label_changes(old_cells, new_cells) if old_cells is not None else None
    return Delivery("added", set_id, report=report, version=version, changes=changes, commit=commit_hash)


def copy_hashed(source: Path, target: Path, objects: Path | None = None) -> dict[Path, tuple[str, int]]:
    """Copy a delivery folder, hashing each file as it is copied.

    A set's files are their bytes: times, permissions and extended attributes are not copied
    (``shutil.copytree`` spends more system calls on them than on the bytes of a small JSON
    frame), and each file is read once, for both the copy and its hash. Links are copied as
    links, so ingest still sees one that leads out of the set; anything that is neither a
    file, a folder nor a link (a pipe, a socket) is left out.

    With ``objects``, each copy also becomes DVC's cache object of its content, by a hard
    link (``store_object``): ``dvc add`` then finds every object already stored instead of
    copying each file into its cache again, which for a set of many small files (OpenPose
    writes one JSON per frame) costs more than everything else add-set does.

    Parameters
    ----------
    source
        The delivered folder.
    target
        Where the copy goes; must not exist.
    objects
        DVC's folder of file objects by md5 (``versioning.cache_objects_dir``), or None.

    Returns
    -------
    dict
        Per copied file, by its path under the resolved ``target``: its sha256 (hex, as
        ``tasks.ingest.sha256_file``) and size in bytes, for ``ingest_set(known_hashes=...)``.
    """
    batches: list[list[tuple[str, Path]]] = []  # per folder: (file in the delivery, its copy)
    folders = [(Path(source), Path(target).resolve(strict=False))]
    while folders:
        origin, copy = folders.pop()
        copy.mkdir()
        batch = []
        with os.scandir(origin) as entries:
            for entry in entries:
                destination = copy / entry.name
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), destination)
                elif entry.is_dir():
                    folders.append((Path(entry.path), destination))
                elif entry.is_file():
                    batch.append((entry.path, destination))
        batches.append(batch)
    # Creating a file waits on the file system far longer than it uses the CPU: folders are
    # copied side by side.
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        copied = pool.map(_copy_files_hashed, batches, [objects] * len(batches))
        return {path: digest for batch in copied for path, digest in batch}


def _copy_files_hashed(files: list[tuple[str, Path]], objects: Path | None) -> list[tuple[Path, tuple[str, int]]]:
    """``_copy_file_hashed`` of each ``(source, target)`` pair: ``(target, (sha256, size))``."""
    return [(target, _copy_file_hashed(source, target, objects)) for source, target in files]


def _copy_file_hashed(source: str, target: Path, objects: Path | None) -> tuple[str, int]:
    """Copy one file with plain reads and writes (and store it in ``objects``, if given);
    its sha256 (hex) and size in bytes."""
    digest, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    reader = os.open(source, os.O_RDONLY)
    try:
        writer = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        try:
            while chunk := os.read(reader, COPY_CHUNK_BYTES):
                digest.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:  # write() may take part of a chunk
                    view = view[os.write(writer, view) :]
        finally:
            os.close(writer)
    finally:
        os.close(reader)
    if objects is not None:
        store_object(target, md5.hexdigest(), objects)
    return digest.hexdigest(), size


def store_object(path: Path, md5: str, objects: Path) -> bool:
    """Make ``path`` DVC's cache object of its content, ``objects/<md5[:2]>/<md5[2:]>``
    (DVC 3's layout of file objects), by a hard link; read-only, as DVC keeps its objects
    (the stored set's file is the same inode, so it is read-only too: a set is changed by
    adding its next version, never edited in place).

    Returns False, changing nothing, when the object is already stored (the copy stays a
    copy) or cannot be linked (a cache on another file system): ``dvc add`` stores it then.
    """
    obj = objects / md5[:2] / md5[2:]
    if obj.exists():
        return False
    try:
        obj.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, obj)
    except OSError:  # another file system; or the same content, just linked by another thread
        return False
    os.chmod(obj, STORED_MODE)
    return True


def video_problems(set_dir: Path, cells: pd.DataFrame, found: pd.DataFrame, min_fraction: float) -> list[Problem]:
    """Every video a delivery names, probed to its end without decoding it all.

    Parameters
    ----------
    set_dir
        The (staged) set folder.
    cells
        Its samples.csv as text cells, indexed by line.
    found
        The problems ingest found (``IngestResult.problems``): a cell with one (a missing
        file, a path out of the set) is not probed.
    min_fraction
        ``keypoints.min_decoded_fraction``: the share of its declared duration a video
        must decode.

    Returns
    -------
    list of Problem
        One per empty, undecodable or truncated video (``tasks.readers.video.probe_to_end``'s
        reason and detail), in line order.
    """
    flagged = set(zip(found["line"], found["column"]))
    problems = []
    for line, row in cells.iterrows():
        for column in filter(is_video_column, SOURCE_COLUMNS):
            if not row[column] or (line, column) in flagged:
                continue
            try:
                probe_to_end(set_dir / posixpath.normpath(row[column]), min_fraction)
            except SampleError as error:
                problems.append(Problem(line, error.reason, column, error.detail, error.value))
    return problems


def replaced_cells(project: Project, set_id: str, versions: list[dict]) -> pd.DataFrame | None:
    """The samples.csv cells of the version a new delivery replaces, for the label diff:
    the set on disk (registered, or copied by hand), unless an ``add-set`` killed after
    swapping the set in but before registering it left the unregistered delivery there;
    then the registered version's, from the last commit and the DVC cache."""
    destination = project.path(catalog.DELIVERED_SETS) / set_id
    on_disk = samples_cells(destination) if destination.is_dir() else None
    if not versions or (on_disk is not None and labels_sha256(on_disk) == versions[-1]["labels_sha256"]):
        return on_disk
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        text = dvc.api.read(f"{destination.relative_to(project.root).as_posix()}/{SAMPLES_FILE}", repo=str(project.root), rev="HEAD")
    except (DvcException, FileNotFoundError):  # no commit or no cached copy: the set on disk is all there is
        return on_disk
    return parse_samples_csv(text.encode()).cells


def read_registry(project: Project) -> dict[str, list[dict]]:
    """``data/registry.json``: per set_id its versions, oldest first (empty if absent)."""
    path = project.path(catalog.SET_REGISTRY)
    return json.loads(path.read_text()) if path.is_file() else {}


def samples_cells(set_dir: Path) -> pd.DataFrame | None:
    """A set's samples.csv as text cells, or None when it is missing or unreadable."""
    try:
        return parse_samples_csv(read_set_file(set_dir / SAMPLES_FILE, "missing_samples_csv", "bad_samples_csv")).cells
    except SampleError:
        return None


def recover_staging(sets_dir: Path) -> None:
    """Clean up after an ``add-set`` that was killed while staging or swapping a set.

    A staged copy is dropped. A set moved aside by ``atomic_path`` (``<tmp>/.old``) whose
    replacement never arrived is put back, so a kill at any moment leaves the old version.
    """
    for leftover in sets_dir.glob(STAGING_GLOB):
        set_id = leftover.name[1:].split(".")[0]
        moved_aside = leftover / ".old"
        if moved_aside.is_dir() and not (sets_dir / set_id).exists():
            moved_aside.rename(sets_dir / set_id)
        shutil.rmtree(leftover, ignore_errors=True)


def overview(project: Project) -> pd.DataFrame:
    """``formset sets``: every set in the registry or in ``data/sets``, with its latest
    version, label balance and the samples the last build quarantined."""
    registry = read_registry(project)
    unregistered = {d.name: cells for d in project.set_dirs() if d.name not in registry and (cells := samples_cells(d)) is not None}
    return sets_overview(registry, unregistered, quarantined_per_set(project))


def quarantined_per_set(project: Project) -> dict[str, int | str]:
    """Per set the last build ingested, its quarantined samples over every stage, or
    ``"whole set"`` when ingest refused the set."""
    built = [p.stem for p in project.path(catalog.quarantine_of("ingest")).glob("*.parquet")]
    listing = quarantine_listing(project)
    counts: dict[str, int | str] = {}
    for set_id in built:
        rows = listing[listing["set_id"] == set_id]
        counts[set_id] = "whole set" if rows["sample_id"].isna().any() else int(rows["sample_id"].nunique())
    return counts
