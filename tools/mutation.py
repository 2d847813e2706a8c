"""Mutation testing for formset: small changes to a module, then that module's own fast tests.

A *mutant* is one small change to a module's source (``<`` becomes ``<=``, ``/`` becomes
``//``, a number grows by one, a string gets ``XX``, ``min`` becomes ``max`` ...). The
module's tests (``tests/mutation/targets.toml``) run against it; a mutant they fail on is
*killed*, one they pass is a *survivor*: a behaviour no test pins down (or an *equivalent*
mutant, one that cannot change behaviour, listed with its reason in
``tests/mutation/equivalent.txt``).

How it runs: the parent process imports the heavy third-party libraries once (``preload``),
then forks one child per mutant. The child compiles the mutated source and registers it in
``sys.modules`` under the module's import name (``formset.tasks.normalize``), so every import
of that module in the tests gets the mutant, while the file on disk never changes; then it
runs pytest in-process on the module's test files, stopping at the first failure. A first,
unmutated run records which test (or fixture) runs which line of the module; a mutant then
runs only the tests that run its statement, and one that no test runs survives without a
run. A child that runs past its time limit (a multiple of the module's unmutated test time)
is killed and counted as timed out. Nothing is excluded from the mutants but docstrings,
type annotations and ``if TYPE_CHECKING:`` blocks, which Python does not run.

Usage::

    python tools/mutation.py                       # every target, its sample of mutants (20)
    python tools/mutation.py --sample 0            # every mutant of every target (hours)
    python tools/mutation.py --module tasks/reps.py --sample 80 --workers 1
    python tools/mutation.py --list --module tasks/reps.py   # the mutants, with their ids
    python tools/mutation.py --mutant 'tasks/reps.py:find_reps:GtE>Gt:1'   # one mutant again

Mutant ids read ``<path>:<function>:<operator>:<n>`` (``n``: the n-th such change in that
function, counted from 0), e.g. ``tasks/reps.py:find_reps:GtE>Gt:1``; they stay the same
when code elsewhere in the module changes.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import gc
import importlib
import importlib.util
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from pytest import hookimpl

REPO = Path(__file__).resolve().parent.parent
TARGETS = REPO / "tests" / "mutation" / "targets.toml"
EQUIVALENT = REPO / "tests" / "mutation" / "equivalent.txt"

#: Replacements of binary and augmented-assignment operators (ast class names).
BINARY_SWAPS: dict[str, tuple[str, ...]] = {
    "Add": ("Sub",), "Sub": ("Add",), "Mult": ("Div",), "Div": ("Mult", "FloorDiv"), "FloorDiv": ("Div",),
    "Mod": ("Div",), "Pow": ("Mult",), "LShift": ("RShift",), "RShift": ("LShift",),
    "BitAnd": ("BitOr",), "BitOr": ("BitAnd",), "BitXor": ("BitOr",),
}  # fmt: skip
#: Replacements of comparison operators: the boundary moved, or the comparison turned round.
COMPARE_SWAPS: dict[str, tuple[str, ...]] = {
    "Lt": ("LtE", "Gt"), "LtE": ("Lt", "Gt"), "Gt": ("GtE", "Lt"), "GtE": ("Gt", "Lt"),
    "Eq": ("NotEq",), "NotEq": ("Eq",), "Is": ("IsNot",), "IsNot": ("Is",), "In": ("NotIn",), "NotIn": ("In",),
}  # fmt: skip
OPERATOR_TEXT: dict[str, str] = {
    "Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "FloorDiv": "//", "Mod": "%", "Pow": "**",
    "LShift": "<<", "RShift": ">>", "BitAnd": "&", "BitOr": "|", "BitXor": "^",
    "Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "==", "NotEq": "!=",
    "Is": "is", "IsNot": "is not", "In": "in", "NotIn": "not in", "And": "and", "Or": "or",
}  # fmt: skip
#: Called names (builtins, or attributes such as ``np.argmax``) replaced by their opposite.
CALL_SWAPS: dict[str, str] = {
    "min": "max", "max": "min", "any": "all", "all": "any", "argmin": "argmax", "argmax": "argmin",
    "nanmin": "nanmax", "nanmax": "nanmin", "minimum": "maximum", "maximum": "minimum",
    "floor": "ceil", "ceil": "floor", "nanargmin": "nanargmax", "nanargmax": "nanargmin",
}  # fmt: skip
#: What pytest's exit code says about a mutant (anything else non-zero: killed too).
SURVIVED_EXIT, IMPORT_FAILED_EXIT = 0, 90
#: Seconds between checks on running children.
POLL_S = 0.05


@dataclass(frozen=True)
class Mutant:
    """One change to a module's source.

    Attributes
    ----------
    id
        ``<path>:<scope>:<operator>:<n>``, stable when code outside ``scope`` changes.
    path
        The module's file, relative to the repository (posix).
    scope
        Qualified name of the enclosing function or class (``<module>`` at top level).
    operator
        What changes, e.g. ``Lt>LtE``, ``Num:3>4``, ``Str``, ``min>max``, ``Not>``.
    line
        1-based line of the change.
    start, end
        Byte offsets of the replaced text in the UTF-8 source.
    replacement
        The new text (UTF-8).
    statement
        First and last line of the statement that runs the changed code (of a compound
        statement, its header): a test that runs none of them cannot notice the change.
    """

    id: str
    path: str
    scope: str
    operator: str
    line: int
    start: int
    end: int
    replacement: bytes
    statement: tuple[int, int]


@dataclass
class Target:
    """A module to mutate and the tests that should notice.

    Attributes
    ----------
    module
        Import name, e.g. ``formset.tasks.normalize``.
    path
        Its file, relative to the repository (posix).
    tests
        Test files (relative to the repository), run with ``-m "not slow"``.
    functions
        Top-level functions or classes to mutate; empty: the whole module.
    """

    module: str
    path: str
    tests: list[str]
    functions: list[str] = field(default_factory=list)


@dataclass
class ModuleResult:
    """What a run found in one module."""

    path: str
    total_mutants: int
    sampled: int = 0
    equivalent: int = 0
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    baseline_s: float = 0.0
    diffs: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Killed or timed out, as a share of the sampled mutants that are not equivalent."""
        judged = self.sampled - self.equivalent
        return (self.killed + len(self.timed_out)) / judged if judged else float("nan")


class _Source:
    """A module's source as UTF-8 bytes, with ast positions turned into byte offsets."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))

    def offset(self, line: int, col: int) -> int:
        """Byte offset of an ast position (1-based line, UTF-8 byte column)."""
        return self.line_starts[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def operator_between(self, left: ast.AST, right: ast.AST) -> tuple[int, int]:
        """Byte span of the operator written between two operands (parentheses, spaces,
        comments and line continuations around it are not part of it)."""
        return self._token_in(self.span(left)[1], self.span(right)[0])

    def _token_in(self, start: int, end: int) -> tuple[int, int]:
        gap = re.sub(rb"#[^\n]*", lambda m: b" " * len(m.group()), self.data[start:end])
        token = gap.strip(b" \t\r\n()\\")
        first = gap.index(token)
        # Strip only closing brackets before and opening ones after the operator.
        if gap[:first].strip(b" \t\r\n)\\") or gap[first + len(token) :].strip(b" \t\r\n(\\"):
            raise ValueError(f"no single operator between bytes {start} and {end}: {gap!r}")
        return start + first, start + first + len(token)


class _MutantFinder(ast.NodeVisitor):
    """Walks a module's ast and records every mutation, in source order."""

    def __init__(self, source: _Source, path: str, functions: set[str]) -> None:
        self.source, self.path, self.functions = source, path, functions
        self.scope: list[str] = []
        self.statements: list[tuple[int, int]] = [(1, 1)]
        self.found: list[tuple[str, str, int, int, int, bytes, tuple[int, int]]] = []

    def visit(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        if isinstance(node, (ast.stmt, ast.ExceptHandler)):
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                lines = (node.lineno, max(node.lineno, body[0].lineno - 1))  # the header
            else:
                lines = (node.lineno, node.end_lineno)
            self.statements.append(lines)
            super().visit(node)
            self.statements.pop()
        else:
            super().visit(node)

    # -- scopes and what is never run -------------------------------------------------------
    def _in_scope(self) -> bool:
        return not self.functions or (bool(self.scope) and self.scope[0] in self.functions)

    def _visit_definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        if isinstance(node, ast.ClassDef):
            for base in [*node.bases, *node.keywords]:
                self.visit(base)
        else:
            self._visit_arguments(node.args)
        for statement in node.body:
            self.visit(statement)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_definition

    def _visit_arguments(self, arguments: ast.arguments) -> None:
        for default in [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]:
            self.visit(default)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        # A bare string statement (docstring) does nothing.
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments(node.args)
        self.visit(node.body)

    def visit_arg(self, node: ast.arg) -> None:
        """Annotations are not run (``from __future__ import annotations``)."""

    # -- the mutations -------------------------------------------------------------------------
    def _record(self, operator: str, line: int, start: int, end: int, text: str) -> None:
        if self._in_scope():
            scope = ".".join(self.scope) or "<module>"
            self.found.append((scope, operator, line, start, end, text.encode("utf-8"), self.statements[-1]))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        name = type(node.op).__name__
        start, end = self.source.operator_between(node.left, node.right)
        for swap in BINARY_SWAPS.get(name, ()):
            self._record(f"{name}>{swap}", node.lineno, start, end, OPERATOR_TEXT[swap])
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        name = type(node.op).__name__
        start, end = self.source.operator_between(node.target, node.value)
        for swap in BINARY_SWAPS.get(name, ()):
            self._record(f"{name}>{swap}", node.lineno, start, end, OPERATOR_TEXT[swap] + "=")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:]):
            name = type(op).__name__
            start, end = self.source.operator_between(left, right)
            for swap in COMPARE_SWAPS[name]:
                self._record(f"{name}>{swap}", left.end_lineno, start, end, OPERATOR_TEXT[swap])
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        name = type(node.op).__name__
        swap = "Or" if name == "And" else "And"
        for left, right in zip(node.values, node.values[1:]):
            start, end = self.source.operator_between(left, right)
            self._record(f"{name}>{swap}", left.end_lineno, start, end, OPERATOR_TEXT[swap])
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        token = {ast.Not: b"not", ast.USub: b"-", ast.Invert: b"~"}.get(type(node.op))
        if token is not None:  # the operator is dropped: `not x` -> `x`, `-x` -> `x`
            start, _ = self.source.span(node)
            self._record(f"{type(node.op).__name__}>", node.lineno, start, start + len(token), "")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value, (start, end) = node.value, self.source.span(node)
        if isinstance(value, bool):
            self._record(f"{value}>{not value}", node.lineno, start, end, str(not value))
        elif isinstance(value, int):
            for changed in (value + 1, value - 1):
                self._record(f"Num:{value}>{changed}", node.lineno, start, end, repr(changed))
        elif isinstance(value, float):
            self._record(f"Num:{value!r}>{value + 1!r}", node.lineno, start, end, repr(value + 1))
        elif isinstance(value, (str, bytes)):
            self._record_string(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._record_string(node)  # the expressions inside are left alone (3.11 misplaces them)

    def _record_string(self, node: ast.Constant | ast.JoinedStr) -> None:
        start, end = self.source.span(node)
        opening = re.match(rb"[rRbBuUfF]*('''|\"\"\"|'|\")", self.source.data[start:end])
        if opening is None:  # pragma: no cover - every literal starts with its quote
            raise ValueError(f"no opening quote at byte {start}")
        text = self.source.data[start:end].decode("utf-8")
        head = len(self.source.data[start : start + opening.end()].decode("utf-8"))
        self._record("Str", node.lineno, start, end, text[:head] + "XX" + text[head:])

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in CALL_SWAPS:
            _, end = self.source.span(func)
            start = end - len(name.encode())
            self._record(f"{name}>{CALL_SWAPS[name]}", func.end_lineno, start, end, CALL_SWAPS[name])
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._record("Break>Continue", node.lineno, *self.source.span(node), "continue")

    def visit_Continue(self, node: ast.Continue) -> None:
        self._record("Continue>Break", node.lineno, *self.source.span(node), "break")


def find_mutants(text: str, path: str, functions: list[str] | tuple[str, ...] = ()) -> list[Mutant]:
    """Every mutant of a module's source, in source order.

    Parameters
    ----------
    text
        The module's source.
    path
        The module's path as ids show it (relative to the repository).
    functions
        Top-level functions or classes to mutate; empty: the whole module.

    Returns
    -------
    list of Mutant
    """
    source = _Source(text)
    finder = _MutantFinder(source, path, set(functions))
    finder.visit(ast.parse(text))
    found = sorted(finder.found, key=lambda m: (m[3], m[4], m[1]))
    seen: dict[tuple[str, str], int] = {}
    mutants = []
    for scope, operator, line, start, end, replacement, statement in found:
        n = seen.get((scope, operator), 0)
        seen[(scope, operator)] = n + 1
        mutant_id = f"{path}:{scope}:{operator}:{n}"
        mutants.append(Mutant(mutant_id, path, scope, operator, line, start, end, replacement, statement))
    return mutants


def mutated_source(text: str, mutant: Mutant) -> str:
    """``text`` with ``mutant``'s change made."""
    data = text.encode("utf-8")
    return (data[: mutant.start] + mutant.replacement + data[mutant.end :]).decode("utf-8")


def mutant_diff(text: str, mutant: Mutant) -> str:
    """A unified diff of the mutant against the original, without file headers."""
    lines = difflib.unified_diff(
        text.splitlines(), mutated_source(text, mutant).splitlines(), n=0, lineterm=""
    )
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def sample_mutants(mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """A random sample of ``size`` mutants (all when ``size`` is 0 or larger), in source order.

    The sample depends on the seed and the module's own mutants only, so it stays the same
    while the module does (adding tests, or other modules, does not change it).
    """
    if not size or size >= len(mutants):
        return list(mutants)
    path = mutants[0].path
    chosen = set(random.Random(f"{seed}:{path}").sample(range(len(mutants)), size))
    return [m for i, m in enumerate(mutants) if i in chosen]


def load_targets(path: Path = TARGETS) -> tuple[list[Target], dict]:
    """The modules to mutate and the run settings of ``targets.toml``.

    Returns
    -------
    targets : list of Target
    settings : dict
        ``seed``, ``sample``, ``workers``, ``preload`` (modules the parent imports once),
        ``timeout_factor`` and ``timeout_min_s``.
    """
    config = tomllib.loads(path.read_text())
    targets = [
        Target(module=module, path=entry["path"], tests=entry["tests"], functions=entry.get("functions", []))
        for module, entry in config["modules"].items()
    ]
    return targets, config["settings"]


def load_equivalent(path: Path = EQUIVALENT) -> dict[str, str]:
    """Equivalent mutants: id -> why it cannot change behaviour.

    Each line of the file is a mutant id, spaces, then the reason; ``#`` starts a comment
    line. A line without a reason is an error: every exclusion says why.
    """
    equivalent = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1) if path.exists() else ():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        mutant_id, _, reason = line.strip().partition(" ")
        if not reason.strip():
            raise ValueError(f"{path}:{number}: {mutant_id} has no reason")
        equivalent[mutant_id] = reason.strip()
    return equivalent


def install_module(module: str, text: str) -> None:
    """Compile ``text`` as module ``module`` and register it, so imports get it.

    The module object is made from the real module's spec (``__file__``, package), so it
    looks exactly like the one on disk to the code that imports it.
    """
    if module in sys.modules:
        raise RuntimeError(f"{module} is already imported: the mutant could not replace it")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    namespace = importlib.util.module_from_spec(spec)
    sys.modules[module] = namespace
    exec(compile(text, spec.origin, "exec", dont_inherit=True), namespace.__dict__)  # noqa: S102
    parent, _, child = module.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, namespace)


#: Coverage key of lines run outside any test: at import, or while collecting tests.
EVERY_TEST = "<every test>"
#: Prefix of the coverage key of lines run while setting up a fixture.
FIXTURE = "fixture:"


class LineRecorder:
    """A pytest plugin that records which test (or fixture) runs each line of one file.

    Lines run while a fixture is set up are credited to the fixture, and so to every test
    that uses it (a session fixture runs once, for the first such test only). Lines run
    outside tests (the module's import, collection) are credited to ``EVERY_TEST``.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.running = [EVERY_TEST]
        self.hits: dict[int, set[str]] = {}
        self.fixtures: dict[str, list[str]] = {}

    def trace(self, frame, event, arg):  # noqa: ARG002 - sys.settrace's signature
        """Global trace function: a line tracer for the frames of ``filename`` only."""
        if frame.f_code.co_filename != self.filename:
            return None
        self.hits.setdefault(frame.f_lineno, set()).add(self.running[-1])
        return self._trace_lines

    def _trace_lines(self, frame, event, arg):  # noqa: ARG002
        if event == "line":
            self.hits.setdefault(frame.f_lineno, set()).add(self.running[-1])
        return self._trace_lines

    def pytest_collection_modifyitems(self, items) -> None:
        self.fixtures = {item.nodeid: list(getattr(item, "fixturenames", ())) for item in items}

    @hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):  # noqa: ARG002
        self.running.append(item.nodeid)
        try:
            return (yield)
        finally:
            self.running.pop()

    @hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):  # noqa: ARG002
        self.running.append(FIXTURE + fixturedef.argname)
        try:
            return (yield)
        finally:
            self.running.pop()

    def coverage(self) -> dict:
        """``{"lines": {line: [keys]}, "tests": {nodeid: [fixture names]}}``, JSON-ready."""
        return {"lines": {str(k): sorted(v) for k, v in self.hits.items()}, "tests": self.fixtures}


class SelectedTests:
    """A pytest plugin that keeps only the tests of ``nodeids`` (in collection order)."""

    def __init__(self, nodeids: list[str]) -> None:
        self.nodeids = set(nodeids)

    def pytest_collection_modifyitems(self, config, items) -> None:
        kept = [item for item in items if item.nodeid in self.nodeids]
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in self.nodeids])
        items[:] = kept


def tests_running(coverage: dict, lines: tuple[int, int]) -> list[str] | None:
    """The tests that run any of ``lines`` (first, last) of the module.

    Returns
    -------
    list of str or None
        Test node ids in collection order; None: every test (the lines run at import or
        collection); empty: no test runs them.
    """
    keys = {key for line in range(lines[0], lines[1] + 1) for key in coverage["lines"].get(str(line), ())}
    if EVERY_TEST in keys:
        return None
    fixtures = {key.removeprefix(FIXTURE) for key in keys if key.startswith(FIXTURE)}
    return [
        nodeid for nodeid, used in coverage["tests"].items() if nodeid in keys or fixtures.intersection(used)
    ]


def _child(job: "_Job") -> None:
    """In a forked child: install the (mutated) module, run pytest, exit with its code."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for stream in (0, 1, 2):
        os.dup2(devnull, stream)
    # Third-party pytest plugins (hydra's, anyio's ...) cost seconds a start; no test uses them.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        import pytest

        recorder = LineRecorder(str(importlib.util.find_spec(job.module).origin)) if job.coverage_path else None
        if recorder:
            sys.settrace(recorder.trace)
        try:
            install_module(job.module, job.text)
        except BaseException:  # a mutant that breaks the import is killed by every test
            os._exit(IMPORT_FAILED_EXIT)
        plugins = [recorder] if recorder else [SelectedTests(job.selected)] if job.selected is not None else []
        code = int(pytest.main(pytest_arguments(job.tests), plugins=plugins))
        if recorder:
            sys.settrace(None)
            Path(job.coverage_path).write_text(json.dumps(recorder.coverage()))
    except BaseException:
        code = 1
    os._exit(code)


def pytest_arguments(tests: list[str]) -> list[str]:
    """Fast tests of the files, stopping at the first failure, with no cache or output."""
    # no:unraisableexception: its gc.collect() at exit costs a second over the preloaded heap.
    return [*(str(REPO / t) for t in tests), "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider",
            "-p", "no:unraisableexception", "--rootdir", str(REPO), "-W", "ignore"]  # fmt: skip


@dataclass
class _Job:
    """One pytest run in a forked child.

    Attributes
    ----------
    key
        The mutant's id (``baseline``: the module unchanged).
    module, text
        The module's import name and the source to install under it.
    tests
        The test files.
    timeout_s
        Killed (``timed out``) after this long.
    selected
        Node ids of the tests to run; None: every test of ``tests``.
    coverage_path
        Where to write the tests' line coverage of the module (``LineRecorder.coverage``);
        None: no tracing.
    """

    key: str
    module: str
    text: str
    tests: list[str]
    timeout_s: float
    selected: list[str] | None = None
    coverage_path: str | None = None


def run_jobs(jobs: list[_Job], workers: int) -> Iterator[tuple[_Job, str, float]]:
    """Run each job in a forked child, ``workers`` at a time.

    Yields
    ------
    (job, outcome, seconds)
        As jobs finish; outcome ``killed``, ``survived`` or ``timed out``.
    """
    pending, running = list(reversed(jobs)), {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop()
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child exits inside
                    _child(job)
                running[pid] = (job, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                job, started = running.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                yield job, "survived" if code == SURVIVED_EXIT else "killed", time.monotonic() - started
                continue
            now = time.monotonic()
            for pid, (job, started) in list(running.items()):
                if now - started > job.timeout_s:
                    _kill_group(pid)
                    del running[pid]
                    yield job, "timed out", now - started
            time.sleep(POLL_S)
    finally:  # interrupted: no child (each leads its own process group) outlives the run
        for pid in running:
            _kill_group(pid)


def _kill_group(pid: int) -> None:
    """Kill a child's process group (the child and whatever it started) and reap the child."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def preload(modules: list[str]) -> None:
    """Import the heavy libraries once in the parent, so that each forked child starts warm."""
    for name in modules:
        importlib.import_module(name)
    gc.freeze()  # children neither scan nor copy the preloaded objects when they collect garbage
    loaded = [t for t in sys.modules if t.startswith("formset")]
    if loaded:
        raise RuntimeError(f"preloading imported formset modules ({loaded[:3]}): mutants could not replace them")


def baseline(target: Target, text: str, settings: dict) -> tuple[dict, float]:
    """Run the target's tests on the unchanged module, recording which test runs which line.

    Returns
    -------
    coverage : dict
        ``LineRecorder.coverage``.
    seconds : float
        How long the (traced) run took.

    Raises
    ------
    SystemExit
        When the tests fail without any mutation.
    """
    with tempfile.TemporaryDirectory(prefix="formset-mutation-") as folder:
        coverage_path = Path(folder) / "coverage.json"
        job = _Job("baseline", target.module, text, target.tests, settings["baseline_timeout_s"], None, str(coverage_path))
        ((_, outcome, seconds),) = run_jobs([job], 1)
        if outcome != "survived" or not coverage_path.exists():
            raise SystemExit(f"{target.path}: its tests fail (or time out) without any mutation: fix them first")
        return json.loads(coverage_path.read_text()), seconds


def mutate_modules(
    targets: list[Target],
    sample: int,
    seed: int,
    workers: int,
    equivalent: dict[str, str],
    settings: dict,
    only: set[str] | None = None,
) -> list[ModuleResult]:
    """Run the sampled mutants of every target; print progress and each module's figures.

    A mutant runs only the tests that run its statement (all of them for code run at
    import); one that no test runs survives without a run. ``only``: these mutant ids
    instead of a sample.
    """
    results = []
    for target in targets:
        text = (REPO / target.path).read_text()
        mutants = find_mutants(text, target.path, target.functions)
        chosen = [m for m in mutants if m.id in only] if only else sample_mutants(mutants, sample, seed)
        result = ModuleResult(path=target.path, total_mutants=len(mutants), sampled=len(chosen))
        coverage, result.baseline_s = baseline(target, text, settings)
        timeout_s = max(settings["timeout_min_s"], settings["timeout_factor"] * result.baseline_s)
        print(f"{target.path}: {len(chosen)} of {len(mutants)} mutants, tests take {result.baseline_s:.1f} s", flush=True)
        by_id = {m.id: m for m in chosen}
        jobs = []
        for mutant in chosen:
            selected = tests_running(coverage, mutant.statement)
            if mutant.id in equivalent:
                result.equivalent += 1
            elif selected == []:
                result.survived.append(mutant.id)
                result.diffs[mutant.id] = mutant_diff(text, mutant) + "\n(no test runs this line)"
            else:
                jobs.append(_Job(mutant.id, target.module, mutated_source(text, mutant), target.tests, timeout_s, selected))
        for job, outcome, seconds in run_jobs(jobs, workers):
            if outcome == "killed":
                result.killed += 1
                continue
            (result.survived if outcome == "survived" else result.timed_out).append(job.key)
            result.diffs[job.key] = mutant_diff(text, by_id[job.key])
            print(f"  {outcome}: {job.key} ({seconds:.1f} s)", flush=True)
        order = {m.id: i for i, m in enumerate(chosen)}
        result.survived.sort(key=order.get)
        print(format_result(result), flush=True)
        results.append(result)
    return results


def format_result(result: ModuleResult) -> str:
    """One module's figures and every survivor's diff."""
    lines = [
        f"{result.path}: {result.sampled} mutants (of {result.total_mutants}), {result.equivalent} equivalent, "
        f"{result.killed} killed, {len(result.survived)} survived, {len(result.timed_out)} timed out: "
        f"{result.score:.0%} of the non-equivalent killed"
    ]
    for key in [*result.survived, *result.timed_out]:
        status = "SURVIVED" if key in result.survived else "TIMED OUT"
        lines += [f"  {status} {key}", *(f"    {line}" for line in result.diffs[key].splitlines())]
    return "\n".join(lines)


def format_table(results: list[ModuleResult]) -> str:
    """The figures of every module as a table."""
    header = f"{'module':<26} {'mutants':>7} {'of':>5} {'equiv':>5} {'killed':>6} {'survived':>8} {'timeout':>7} {'score':>6}"
    rows = [
        f"{r.path:<26} {r.sampled:>7} {r.total_mutants:>5} {r.equivalent:>5} {r.killed:>6} {len(r.survived):>8} "
        f"{len(r.timed_out):>7} {r.score:>6.0%}"
        for r in results
    ]
    return "\n".join([header, *rows])


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit 0 (a report, not a gate)."""
    targets, settings = load_targets()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", metavar="PATH", help="only this target (repeatable)")
    parser.add_argument("--sample", type=int, default=settings["sample"], help="mutants per module (0: all)")
    parser.add_argument("--seed", type=int, default=settings["seed"])
    parser.add_argument("--workers", type=int, default=settings["workers"])
    parser.add_argument("--mutant", action="append", metavar="ID", help="run this mutant instead of a sample (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the sampled mutants and their diffs; run nothing")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.mutant:
        args.module = sorted({mutant_id.split(":")[0] for mutant_id in args.mutant} | set(args.module or ()))
    if args.module:
        unknown = set(args.module) - {t.path for t in targets}
        if unknown:
            parser.error(f"not a target: {', '.join(sorted(unknown))} (see {TARGETS.relative_to(REPO)})")
        targets = [t for t in targets if t.path in args.module]
    equivalent = load_equivalent()
    if args.list:
        for target in targets:
            text = (REPO / target.path).read_text()
            for mutant in sample_mutants(find_mutants(text, target.path, target.functions), args.sample, args.seed):
                mark = "  (equivalent)" if mutant.id in equivalent else ""
                print(f"{mutant.id}{mark}\n" + "\n".join("    " + line for line in mutant_diff(text, mutant).splitlines()))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # runs run_jobs' clean-up
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per child: `workers` children share the machine
    preload(settings["preload"])
    started = time.monotonic()
    only = set(args.mutant) if args.mutant else None
    results = mutate_modules(targets, args.sample, args.seed, args.workers, equivalent, settings, only)
    print(f"\n{format_table(results)}\n({time.monotonic() - started:.0f} s, sample {args.sample or 'all'}, "
          f"seed {args.seed}, {args.workers} workers)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "score": r.score} for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
