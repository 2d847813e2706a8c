"""Every table and file the pipeline reads or writes, named once.

Each entry is a ``Table``: the name ``formset pull NAME`` reads it by, its path relative to
the project root, its Arrow schema (``formset.schemas.tables``; None for what is not a
Parquet table: the delivered sets, JSON, models, plots, the quality report), the columns
its Parquet files are partitioned by (``set_id``: one ``<set_id>.parquet`` file per set)
and the columns that identify a row. Stages, the stage registry (and so ``dvc.yaml``),
``formset pull``, the reports, the run summary and the CLI take paths from here, and from
nowhere else.

A folder holding several tables (``data/catalog``, ``data/reps``, ``data/compare``) lists
them as its ``parts``, the first being the one the folder's own name pulls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa

from formset.schemas import tables

#: The partitioning of a table written one Parquet file per set (``<set_id>.parquet``).
PER_SET: tuple[str, ...] = ("set_id",)
#: The key of a table with one row per sample.
SAMPLE_KEY: tuple[str, ...] = ("set_id", "sample_id")
#: The key of a table with one row per sample x view x frame.
FRAME_KEY: tuple[str, ...] = ("set_id", "sample_id", "view", "frame")
#: The key of a quarantine or warning row: a sample (or, with no ``sample_id``, a whole set)
#: rejected or flagged by a stage for a reason.
REJECTION_KEY: tuple[str, ...] = ("set_id", "sample_id", "stage", "reason", "detail")


@dataclass(frozen=True)
class Table:
    """One table, or other file or folder, of a project.

    Attributes
    ----------
    name
        What ``formset pull NAME`` reads it by: the path without ``data/`` or ``models/``
        and without suffix (``features``, ``classifier``, ``catalog/samples``,
        ``metrics/train``).
    path
        Relative to the project root, with ``/`` (``data/keypoints``).
    schema
        The Arrow schema its Parquet files are written with; None when it is not a table.
    partitioning
        The columns its files are split by (``PER_SET``); empty for one file.
    key
        The columns that identify one of its rows; empty when it is not a table.
    parts
        The tables of a folder that holds several, in the order ``formset pull`` names them.
    """

    name: str
    path: str
    schema: pa.Schema | None = None
    partitioning: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    parts: tuple["Table", ...] = ()

    @property
    def file_name(self) -> str:
        """The last component of ``path``: the name of a part inside its folder."""
        return PurePosixPath(self.path).name


def _inside(folder: str, name: str, schema: pa.Schema | None = None, partitioning: tuple[str, ...] = (), key: tuple[str, ...] = ()) -> Table:
    """A table at ``folder/name``, pulled as ``<folder's name>/<name without suffix>``."""
    path = PurePosixPath(folder) / name
    parent = PurePosixPath(folder).name
    return Table(f"{parent}/{path.stem}", path.as_posix(), schema, partitioning, key)


# ---------------------------------------------------------------- inputs
#: The labeled sets as delivered, one folder each (``formset add-set`` copies them here).
DELIVERED_SETS = Table("sets", "data/sets", partitioning=PER_SET, key=("set_id",))
#: Versions of every set added with ``formset add-set`` (JSON, git-tracked).
SET_REGISTRY = Table("registry", "data/registry.json")

# ---------------------------------------------------------------- ingest
_CATALOG_DIR = "data/catalog"
SAMPLES = _inside(_CATALOG_DIR, "samples", tables.SAMPLES, PER_SET, SAMPLE_KEY)
SETS = _inside(_CATALOG_DIR, "sets", tables.SETS, PER_SET, ("set_id",))
FILES = _inside(_CATALOG_DIR, "files", tables.FILES, PER_SET, ("set_id", "sample_id", "role", "path"))
#: What ingest registers: per set, its row, its accepted samples and their source files.
CATALOG = Table("catalog", _CATALOG_DIR, parts=(SAMPLES, SETS, FILES))
#: Every stage's rejected samples, one folder per stage (``quarantine_of``).
QUARANTINE = Table("quarantine", "data/quarantine", tables.QUARANTINE, ("stage", *PER_SET), REJECTION_KEY)

# ---------------------------------------------------------------- keypoints, normalize
KEYPOINTS = Table("keypoints", "data/keypoints", tables.KEYPOINTS, PER_SET, FRAME_KEY)
FEATURES = Table("features", "data/features", tables.FEATURES, PER_SET, FRAME_KEY)

# ---------------------------------------------------------------- validate
VALIDATION = Table("validation", "data/validation")
VALIDATION_REPORT = _inside(VALIDATION.path, "report.json")
VALIDATION_SUMMARY = _inside(VALIDATION.path, "summary.json")
#: Sample-views validation flagged and kept in the dataset.
VALIDATION_WARNINGS = _inside(VALIDATION.path, "warnings.parquet", tables.QUARANTINE, (), REJECTION_KEY)
#: The quality report of a build: the dataset card and the great-expectations Data Docs.
QUALITY = Table("quality", "data/quality")
#: The dataset card for people (Markdown); the same with suffix ``.json`` for machines.
DATASET_CARD = _inside(QUALITY.path, "dataset_card.md")
#: great-expectations Data Docs of the build's validation (a static HTML site).
DATA_DOCS = _inside(QUALITY.path, "docs")
#: The Data Docs' front page: a page of the ``DATA_DOCS`` site, so not listed in ``TABLES``
#: (``formset pull docs`` reads the whole site).
DATA_DOCS_INDEX = _inside(DATA_DOCS.path, "index.html")

# ---------------------------------------------------------------- exercise
EXERCISE_MODEL = Table("exercise_model", "models/exercise_model.pt")
EXERCISE_PREDICTIONS = Table("exercise_predictions", "data/exercise_predictions", tables.EXERCISE_PREDICTIONS, PER_SET, SAMPLE_KEY)
EXERCISE_METRICS = Table("metrics/exercise", "metrics/exercise.json")
EXERCISE_CONFUSION = Table("plots/exercise_confusion", "plots/exercise_confusion.csv")

# ---------------------------------------------------------------- reps
_REPS_DIR = "data/reps"
KINEMATICS = _inside(_REPS_DIR, "kinematics", tables.KINEMATICS, PER_SET, FRAME_KEY)
REPS = _inside(_REPS_DIR, "reps", tables.REPS, PER_SET, ("set_id", "sample_id", "view", "rep"))
RECORDINGS = _inside(_REPS_DIR, "recordings", tables.RECORDINGS, PER_SET, ("set_id", "sample_id", "view"))
#: What a coach sees per recording: reps, tempo and per-frame kinematics.
REP_TABLES = Table("reps", _REPS_DIR, parts=(REPS, RECORDINGS, KINEMATICS))

# ---------------------------------------------------------------- cluster
CLUSTERS = Table("clusters", "models/clusters.json")
SCORES = Table("scores", "data/scores")
JOINT_SCORES = _inside(SCORES.path, "joint_scores.parquet", tables.SCORES, (), ("set_id", "sample_id", "view", "joint"))
CLUSTER_METRICS = Table("metrics/cluster", "metrics/cluster.json")

# ---------------------------------------------------------------- compare
_COMPARE_DIR = "data/compare"
_REP_KEY = ("set_id", "sample_id", "view", "rep")
VERDICTS = _inside(_COMPARE_DIR, "verdicts.parquet", tables.VERDICTS, (), _REP_KEY)
DISTANCES = _inside(_COMPARE_DIR, "distances.parquet", tables.DISTANCES, (), (*_REP_KEY, "feature"))
REP_SCORES = _inside(_COMPARE_DIR, "rep_scores.parquet", tables.REP_SCORES, (), (*_REP_KEY, "joint"))
#: DTW comparison with correct executions: verdicts, distances and per-rep joint scores.
COMPARISONS = Table("compare", _COMPARE_DIR, parts=(VERDICTS, DISTANCES, REP_SCORES))
COMPARE_METRICS = Table("metrics/compare", "metrics/compare.json")

# ---------------------------------------------------------------- train
CLASSIFIER = Table("classifier", "models/classifier.pt")
FAULT_MODEL = Table("fault_model", "models/fault_model.pt")
PREDICTIONS = Table("predictions", "data/predictions", tables.PREDICTIONS, PER_SET, SAMPLE_KEY)
TRAIN_METRICS = Table("metrics/train", "metrics/train.json")
FAULT_METRICS = Table("metrics/faults", "metrics/faults.json")
CONFUSION = Table("plots/confusion", "plots/confusion.csv")
ROC = Table("plots/roc", "plots/roc.csv")

#: The folder of every metrics file (git-tracked, ``cache: false``).
METRICS = Table("metrics", PurePosixPath(TRAIN_METRICS.path).parent.as_posix())

#: The models ``formset.models.load_models`` reads from a version, by name.
MODELS: tuple[Table, ...] = (CLASSIFIER, EXERCISE_MODEL, FAULT_MODEL)

#: Every entry, parts after their folder.
TABLES: tuple[Table, ...] = (
    DELIVERED_SETS, SET_REGISTRY,
    CATALOG, SAMPLES, SETS, FILES, QUARANTINE,
    KEYPOINTS, FEATURES,
    VALIDATION, VALIDATION_REPORT, VALIDATION_SUMMARY, VALIDATION_WARNINGS, QUALITY, DATASET_CARD, DATA_DOCS,
    EXERCISE_MODEL, EXERCISE_PREDICTIONS, EXERCISE_METRICS, EXERCISE_CONFUSION,
    REP_TABLES, REPS, RECORDINGS, KINEMATICS,
    CLUSTERS, SCORES, JOINT_SCORES, CLUSTER_METRICS,
    COMPARISONS, VERDICTS, DISTANCES, REP_SCORES, COMPARE_METRICS,
    CLASSIFIER, FAULT_MODEL, PREDICTIONS, TRAIN_METRICS, FAULT_METRICS, CONFUSION, ROC,
    METRICS,
)  # fmt: skip

BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}


def quarantine_of(stage: str) -> Table:
    """The quarantine table of one stage: ``data/quarantine/<stage>``, one partition per set."""
    return Table(f"{QUARANTINE.name}/{stage}", f"{QUARANTINE.path}/{stage}", QUARANTINE.schema, PER_SET, QUARANTINE.key)


def folders_of_several() -> dict[str, tuple[str, ...]]:
    """Each folder that holds several tables -> the file names of its parts, in pull order."""
    return {table.path: tuple(part.file_name for part in table.parts) for table in TABLES if table.parts}
