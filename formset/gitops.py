"""The git side of versioning: commits of ``.dvc`` / ``dvc.lock`` files and dataset tags.

DVC keeps the data; git keeps which data a version is (``data/sets.dvc``, ``dvc.lock``).
Commits made by formset work on a machine without a git identity (a CI runner, a fresh
server): ``user.name`` / ``user.email`` fall back to ``formset`` when git has none.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

from formset.config import Project

FALLBACK_IDENTITY = {"user.name": "formset", "user.email": "formset@localhost"}

#: Published dataset versions are tags ``data-YYYY-MM-DD`` (``.2`` ... for a second one that day).
TAG_PREFIX = "data"


class GitError(RuntimeError):
    pass


def git(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run git in the project; raise ``GitError`` with its message when it fails and ``check``."""
    proc = subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def is_repo(project: Project) -> bool:
    """True when the project root is inside a git work tree."""
    return git(project, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


def _identity_args(project: Project) -> list[str]:
    args = []
    for key, value in FALLBACK_IDENTITY.items():
        if not git(project, "config", key, check=False).stdout.strip():
            args += ["-c", f"{key}={value}"]
    return args


def commit(project: Project, paths: list[str | Path], message: str) -> str | None:
    """Stage ``paths`` (those that exist) and commit them; return the new commit's hash,
    or None when they hold no change."""
    existing = [str(p) for p in paths if (project.root / p).exists()]
    if existing:
        git(project, "add", "--", *existing)
    if git(project, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    git(project, *_identity_args(project), "commit", "-q", "-m", message)
    return head(project)


def head(project: Project) -> str:
    """The hash of the commit checked out."""
    return git(project, "rev-parse", "HEAD").stdout.strip()


def tags(project: Project, pattern: str = "*") -> list[str]:
    """The tags matching ``pattern``, in creation order."""
    out = git(project, "tag", "--list", pattern, "--sort=creatordate").stdout
    return out.split()


def dated_tag(project: Project, prefix: str = TAG_PREFIX, day: date | None = None) -> str:
    """``<prefix>-YYYY-MM-DD`` for ``day`` (today), with ``.2``, ``.3`` ... when that day
    already has one."""
    base = f"{prefix}-{(day or date.today()).isoformat()}"
    taken = set(tags(project, f"{base}*"))
    if base not in taken:
        return base
    n = 2
    while f"{base}.{n}" in taken:
        n += 1
    return f"{base}.{n}"


def dated_tag_order(name: str, prefix: str = TAG_PREFIX) -> tuple[date, int] | None:
    """The day and the number within the day of a tag made by ``dated_tag`` (``data-2026-11-01.2``
    -> (2026-11-01, 2)); None for another tag."""
    if not name.startswith(f"{prefix}-"):
        return None
    day, _, number = name[len(prefix) + 1 :].partition(".")
    try:
        return date.fromisoformat(day), int(number or 1)
    except ValueError:
        return None


def published_tags(repo: str, prefix: str = TAG_PREFIX) -> dict[str, str]:
    """The dated tags of the git repository ``repo`` (a path or any git URL) and the commits
    they name, oldest first. Asks the repository itself (``git ls-remote``): no clone.

    Raises
    ------
    GitError
        ``repo`` is not a git repository git can reach.
    """
    proc = subprocess.run(["git", "ls-remote", "--tags", repo], capture_output=True, text=True)
    if proc.returncode != 0:
        raise GitError(f"git ls-remote {repo} failed:\n{proc.stderr.strip()}")
    listed, peeled = {}, {}
    for line in proc.stdout.splitlines():
        sha, ref = line.split("\t")
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            peeled[name.removesuffix("^{}")] = sha
        else:
            listed[name] = sha
    # An annotated tag is a tag object; its "^{}" line gives the commit it names.
    commits = {name: peeled.get(name, sha) for name, sha in listed.items()}
    dated = {name: sha for name, sha in commits.items() if dated_tag_order(name, prefix)}
    return dict(sorted(dated.items(), key=lambda item: dated_tag_order(item[0], prefix)))


def tag(project: Project, name: str, message: str) -> None:
    """An annotated tag ``name`` on ``HEAD``."""
    git(project, *_identity_args(project), "tag", "-a", name, "-m", message)
