"""Where things live in a formset project, and its parameters.

Paths of tables come from the catalog (``formset.catalog``; the stage registry writes them
into ``dvc.yaml`` as deps and outs); parameters come from ``params.yaml``, grouped by stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from formset import catalog
from formset.catalog import Table
from formset.params import Params
from formset.params import load as load_params


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

    ``path`` places any table or file of the catalog (``formset.catalog``) in the project:
    the one way code finds a table.
    """

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> "Project":
        return cls(find_root(start))

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    def params(self) -> Params:
        """Every parameter of ``params.yaml``, typed and checked (``formset.params``).

        Raises
        ------
        formset.params.ParamsError
            A key is missing, unknown, or its value not what the key allows (one line).
        """
        return load_params(self.params_file)

    @property
    def state_dir(self) -> Path:
        """Local run state, never versioned: the project lock and the last build's record."""
        return self.root / ".formset"

    def path(self, table: Table) -> Path:
        """Where ``table`` of the catalog (``formset.catalog``) is in this project."""
        return self.root / table.path

    def set_dirs(self) -> list[Path]:
        """The labeled sets, one folder each under ``data/sets``, by name; hidden folders
        (the staging copies of ``formset add-set``) are not sets."""
        sets = self.path(catalog.DELIVERED_SETS)
        if not sets.is_dir():
            return []
        return sorted(d for d in sets.iterdir() if d.is_dir() and not d.name.startswith("."))

    @property
    def reports_dir(self) -> Path:
        """Where ``formset report`` writes pages by default (not versioned)."""
        return self.root / "reports"
