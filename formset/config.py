"""Where things live in a formset project, and its parameters.

Paths of tables come from the catalog (``formset.catalog``; the stage registry writes them
into ``dvc.yaml`` as deps and outs); parameters come from ``params.yaml``, grouped by stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from formset import catalog
from formset.catalog import Table
from formset.params import parse as parse_params


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The project root: ``$FORMSET_ROOT``, else the nearest parent holding ``params.yaml``."""
    if env := os.environ.get("FORMSET_ROOT"):
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "params.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no params.yaml in {here} or its parents: not inside a formset project")


@dataclass(frozen=True)
class Project:
    """The fixed layout of a project rooted at ``root``.

    ``path`` places any table or file of the catalog (``formset.catalog``) in the project;
    the ``*_dir`` properties and ``dataset_card`` are the catalog's folders and files that
    code (tests and benchmarks too) names most.
    """

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> "Project":
        return cls(find_root(start))

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    def params(self) -> dict:
        """All parameters, as a dict of group -> dict, every key checked first.

        Raises
        ------
        formset.params.ParamsError
            A key is missing, unknown, or its value not what the key allows (one line).
        """
        raw = yaml.safe_load(self.params_file.read_text())
        parse_params(raw, self.params_file.name)
        return raw

    @property
    def state_dir(self) -> Path:
        """Local run state, never versioned: the project lock and the last build's record."""
        return self.root / ".formset"

    def path(self, table: Table) -> Path:
        """Where ``table`` of the catalog (``formset.catalog``) is in this project."""
        return self.root / table.path

    @property
    def registry_file(self) -> Path:
        """Versions of every set added with ``formset add-set`` (git-tracked)."""
        return self.path(catalog.SET_REGISTRY)

    @property
    def sets_dir(self) -> Path:
        return self.path(catalog.DELIVERED_SETS)

    def set_dirs(self) -> list[Path]:
        """The labeled sets, one folder each under ``sets_dir``, by name; hidden folders
        (the staging copies of ``formset add-set``) are not sets."""
        if not self.sets_dir.is_dir():
            return []
        return sorted(d for d in self.sets_dir.iterdir() if d.is_dir() and not d.name.startswith("."))

    @property
    def catalog_dir(self) -> Path:
        return self.path(catalog.CATALOG)

    def quarantine_dir(self, stage: str | None = None) -> Path:
        """Every stage's rejected samples, or those of ``stage``."""
        return self.path(catalog.quarantine_of(stage) if stage else catalog.QUARANTINE)

    @property
    def keypoints_dir(self) -> Path:
        return self.path(catalog.KEYPOINTS)

    @property
    def features_dir(self) -> Path:
        return self.path(catalog.FEATURES)

    @property
    def validation_dir(self) -> Path:
        return self.path(catalog.VALIDATION)

    @property
    def quality_dir(self) -> Path:
        """The per-build data quality report: the dataset card and the Data Docs."""
        return self.path(catalog.QUALITY)

    @property
    def data_docs_dir(self) -> Path:
        """great-expectations Data Docs of the build's validation (a static HTML site)."""
        return self.path(catalog.DATA_DOCS)

    @property
    def data_docs_index(self) -> Path:
        return self.data_docs_dir / "index.html"

    @property
    def dataset_card(self) -> Path:
        """The dataset card for people (Markdown); the same with suffix ``.json`` for machines."""
        return self.path(catalog.DATASET_CARD)

    @property
    def scores_dir(self) -> Path:
        return self.path(catalog.SCORES)

    @property
    def reps_dir(self) -> Path:
        return self.path(catalog.REP_TABLES)

    @property
    def compare_dir(self) -> Path:
        return self.path(catalog.COMPARISONS)

    @property
    def predictions_dir(self) -> Path:
        return self.path(catalog.PREDICTIONS)

    @property
    def exercise_predictions_dir(self) -> Path:
        return self.path(catalog.EXERCISE_PREDICTIONS)

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def metrics_dir(self) -> Path:
        return self.path(catalog.METRICS)
