"""The code a stage runs, found by reading imports rather than listed by hand.

A stage's code is every source file of the package that its entry point can reach through
``import`` statements: the import closure. Imports inside functions count (they are how
heavy optional backends are deferred, and they run all the same); imports only for type
checking (inside ``if TYPE_CHECKING:``) do not. Files are named relative to the source
root, as ``dvc.yaml`` names its deps (``tasks/pose/mediapipe_backend.py``).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

PACKAGE = "formset"


@lru_cache(maxsize=1)
def source_root() -> Path:
    """The folder holding the package's source folders (``formset/``, ``tasks/``, …)."""
    return Path(importlib.util.find_spec(PACKAGE).origin).resolve().parent.parent


@lru_cache(maxsize=None)
def module_file(module: str) -> Path | None:
    """The source file of ``module`` if it is a module of the package, else None."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    return Path(spec.origin).resolve() if spec is not None and spec.origin else None


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _walk_runtime(nodes: list[ast.stmt]):
    """Every node under ``nodes``, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            stack.extend(reversed(node.orelse))
            continue
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module name of a ``from … import`` statement inside ``module``."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(nodes: list[ast.stmt], module: str, is_package: bool = False) -> set[str]:
    """Modules of the package imported anywhere under ``nodes`` (type-checking-only excluded).

    ``from formset.schemas import tables`` imports the module ``formset.schemas.tables``
    when there is one, else the package ``formset.schemas``.
    """
    found: set[str] = set()
    for node in _walk_runtime(nodes):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve(node, module, is_package)
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names if module_file(f"{origin}.{alias.name}"))
    return {name for name in found if module_file(name) is not None}


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` → ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__``."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@lru_cache(maxsize=None)
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def import_closure(modules: set[str] | frozenset[str]) -> set[str]:
    """Every module of the package that importing ``modules`` can run, ``modules`` included."""
    seen: set[str] = set()
    pending = [m for name in modules for m in _with_parents(name)]
    while pending:
        name = pending.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        path = module_file(name)
        for found in imported_modules(_parsed(path).body, name, path.name == "__init__.py"):
            pending.extend(_with_parents(found))
    return seen


def code_files(modules: set[str]) -> list[str]:
    """Source files of ``modules``, relative to the source root, sorted."""
    root = source_root()
    return sorted(module_file(name).relative_to(root).as_posix() for name in modules)
