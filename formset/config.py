"""Where things live in a formset project, and its parameters.

Paths are fixed by ``dvc.yaml`` (each stage declares them as deps and outs); parameters
come from ``params.yaml``, grouped by stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml


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
    """The fixed layout of a project rooted at ``root``."""

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> "Project":
        return cls(find_root(start))

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    def params(self) -> dict:
        """All parameters, as a dict of stage name -> dict."""
        return yaml.safe_load(self.params_file.read_text())

    @property
    def state_dir(self) -> Path:
        """Local run state, never versioned: the project lock and the last build's record."""
        return self.root / ".formset"

    @property
    def registry_file(self) -> Path:
        """Versions of every set added with ``formset add-set`` (git-tracked)."""
        return self.root / "data" / "registry.json"

    @property
    def sets_dir(self) -> Path:
        return self.root / "data" / "sets"

    def set_dirs(self) -> list[Path]:
        """The labeled sets, one folder each under ``sets_dir``, by name; hidden folders
        (the staging copies of ``formset add-set``) are not sets."""
        if not self.sets_dir.is_dir():
            return []
        return sorted(d for d in self.sets_dir.iterdir() if d.is_dir() and not d.name.startswith("."))

    @property
    def catalog_dir(self) -> Path:
        return self.root / "data" / "catalog"

    def quarantine_dir(self, stage: str | None = None) -> Path:
        base = self.root / "data" / "quarantine"
        return base / stage if stage else base

    @property
    def keypoints_dir(self) -> Path:
        return self.root / "data" / "keypoints"

    @property
    def features_dir(self) -> Path:
        return self.root / "data" / "features"

    @property
    def validation_dir(self) -> Path:
        return self.root / "data" / "validation"

    @property
    def quality_dir(self) -> Path:
        """The per-build data quality report: the dataset card and the Data Docs."""
        return self.root / "data" / "quality"

    @property
    def data_docs_dir(self) -> Path:
        """great-expectations Data Docs of the build's validation (a static HTML site)."""
        return self.quality_dir / "docs"

    @property
    def data_docs_index(self) -> Path:
        return self.data_docs_dir / "index.html"

    @property
    def dataset_card(self) -> Path:
        """The dataset card for people (Markdown); the same with suffix ``.json`` for machines."""
        return self.quality_dir / "dataset_card.md"

    @property
    def scores_dir(self) -> Path:
        return self.root / "data" / "scores"

    @property
    def reps_dir(self) -> Path:
        return self.root / "data" / "reps"

    @property
    def compare_dir(self) -> Path:
        return self.root / "data" / "compare"

    @property
    def predictions_dir(self) -> Path:
        return self.root / "data" / "predictions"

    @property
    def exercise_predictions_dir(self) -> Path:
        return self.root / "data" / "exercise_predictions"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"
