"""The mutation runner (tools/mutation.py): which mutants it makes, how it samples them, and a
real run on a tiny module whose tests kill some mutants and miss others."""

from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("mutation_runner", REPO / "tools" / "mutation.py")
mutation = importlib.util.module_from_spec(spec)
sys.modules["mutation_runner"] = mutation  # dataclasses look their module up by name
spec.loader.exec_module(mutation)

SOURCE = textwrap.dedent(
    '''\
    """Module docstring: never mutated."""
    from __future__ import annotations

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from pathlib import Path

    LIMIT: int = 3


    def clamp(value: float, low: float = 0.5) -> float:
        """Docstring: never mutated."""
        if value < low and not value == 0:
            return max(low, value - 1)
        return value / 2  # a comment: never mutated


    def label(name: str, path: Path) -> str:
        return f"{name} ✓" if path is not None else "none"
    '''
)


def test_every_kind_of_change_is_made_and_nothing_that_does_not_run():
    mutants = mutation.find_mutants(SOURCE, "demo.py")
    made = {(m.scope, m.operator, mutation.mutated_source(SOURCE, m).splitlines()[m.line - 1].strip()) for m in mutants}
    assert made == {
        ("<module>", "Num:3>4", "LIMIT: int = 4"),
        ("<module>", "Num:3>2", "LIMIT: int = 2"),
        ("clamp", "Num:0.5>1.5", "def clamp(value: float, low: float = 1.5) -> float:"),
        ("clamp", "Lt>LtE", "if value <= low and not value == 0:"),
        ("clamp", "Lt>Gt", "if value > low and not value == 0:"),
        ("clamp", "And>Or", "if value < low or not value == 0:"),
        ("clamp", "Not>", "if value < low and  value == 0:"),
        ("clamp", "Eq>NotEq", "if value < low and not value != 0:"),
        ("clamp", "Num:0>1", "if value < low and not value == 1:"),
        ("clamp", "Num:0>-1", "if value < low and not value == -1:"),
        ("clamp", "max>min", "return min(low, value - 1)"),
        ("clamp", "Sub>Add", "return max(low, value + 1)"),
        ("clamp", "Num:1>2", "return max(low, value - 2)"),
        ("clamp", "Num:1>0", "return max(low, value - 0)"),
        ("clamp", "Div>Mult", "return value * 2  # a comment: never mutated"),
        ("clamp", "Div>FloorDiv", "return value // 2  # a comment: never mutated"),
        ("clamp", "Num:2>3", "return value / 3  # a comment: never mutated"),
        ("clamp", "Num:2>1", "return value / 1  # a comment: never mutated"),
        ("label", "Str", 'return f"XX{name} ✓" if path is not None else "none"'),
        ("label", "Str", 'return f"{name} ✓" if path is not None else "XXnone"'),
        ("label", "IsNot>Is", 'return f"{name} ✓" if path is None else "none"'),
    }
    for mutant in mutants:
        ast.parse(mutation.mutated_source(SOURCE, mutant))


def test_ids_are_unique_and_do_not_move_when_other_code_changes():
    mutants = mutation.find_mutants(SOURCE, "demo.py")
    ids = [m.id for m in mutants]
    assert len(set(ids)) == len(ids)
    assert "demo.py:label:Str:1" in ids and "demo.py:clamp:Num:1>2:0" in ids
    edited = SOURCE.replace("LIMIT: int = 3", "LIMIT: int = 3\nOTHER = LIMIT * 2 + 1")
    label_ids = [m.id for m in mutation.find_mutants(edited, "demo.py") if m.scope == "label"]
    assert label_ids == [i for i in ids if ":label:" in i]


def test_a_unary_operator_before_brackets_and_operators_across_lines_are_found():
    source = "def f(a, b):\n    return ~(a & b) + (\n        a  # why\n        - b\n    )\n"
    changed = {m.operator: mutation.mutated_source(source, m) for m in mutation.find_mutants(source, "f.py")}
    assert changed["Invert>"] == source.replace("~(a & b)", "(a & b)")
    assert changed["BitAnd>BitOr"] == source.replace("a & b", "a | b")
    assert changed["Sub>Add"] == source.replace("        - b", "        + b")


def test_only_the_named_functions_are_mutated():
    mutants = mutation.find_mutants(SOURCE, "demo.py", functions=["label"])
    assert {m.scope for m in mutants} == {"label"}


def test_mutants_know_the_lines_of_their_statement():
    source = "def f(x):\n    if (x >\n            1):\n        return [\n            x + 1,\n        ]\n"
    lines = {m.operator: m.statement for m in mutation.find_mutants(source, "f.py")}
    assert lines["Gt>GtE"] == (2, 3)  # the if's header, not its body
    assert lines["Add>Sub"] == (4, 6)


def test_the_sample_is_seeded_per_module_and_in_source_order():
    mutants = mutation.find_mutants(SOURCE, "demo.py")
    sample = mutation.sample_mutants(mutants, 5, seed=1)
    assert len(sample) == 5 and sample == sorted(sample, key=lambda m: m.start)
    assert sample == mutation.sample_mutants(mutants, 5, seed=1)
    assert sample != mutation.sample_mutants(mutants, 5, seed=2)
    assert mutation.sample_mutants(mutants, 0, seed=1) == mutants
    assert mutation.sample_mutants(mutants, 500, seed=1) == mutants


def test_equivalent_mutants_need_a_reason(tmp_path):
    listed = tmp_path / "equivalent.txt"
    listed.write_text("# comment\n\ndemo.py:clamp:Num:1>2:0   numpy treats -2 as -1\n")
    assert mutation.load_equivalent(listed) == {"demo.py:clamp:Num:1>2:0": "numpy treats -2 as -1"}
    listed.write_text("demo.py:clamp:Num:1>2:0\n")
    with pytest.raises(ValueError, match="has no reason"):
        mutation.load_equivalent(listed)


def test_the_project_targets_exist_and_their_equivalent_mutants_still_do():
    targets, settings = mutation.load_targets()
    assert settings["sample"] > 0 and settings["workers"] >= 1
    known = set()
    for target in targets:
        assert (REPO / target.path).is_file() and all((REPO / t).is_file() for t in target.tests), target
        assert importlib.util.find_spec(target.module).origin == str(REPO / target.path)
        known |= {m.id for m in mutation.find_mutants((REPO / target.path).read_text(), target.path, target.functions)}
    stale = set(mutation.load_equivalent()) - known
    assert not stale, f"equivalent.txt lists mutants that no longer exist: {sorted(stale)}"


def test_tests_are_chosen_by_the_lines_they_run():
    coverage = {
        "lines": {"3": ["<every test>"], "10": ["t.py::a"], "11": ["fixture:data"], "12": ["t.py::b", "t.py::a"]},
        "tests": {"t.py::a": ["data"], "t.py::b": [], "t.py::c": ["data", "tmp_path"]},
    }
    assert mutation.tests_running(coverage, (3, 3)) is None
    assert mutation.tests_running(coverage, (10, 10)) == ["t.py::a"]
    assert mutation.tests_running(coverage, (11, 12)) == ["t.py::a", "t.py::b", "t.py::c"]
    assert mutation.tests_running(coverage, (20, 21)) == []


def test_a_run_kills_what_the_tests_notice_and_reports_the_rest(tmp_path, monkeypatch, capsys):
    (tmp_path / "demo_module.py").write_text("def double(x):\n    return x * 2\n\n\ndef unused(x):\n    return x + 1\n")
    (tmp_path / "test_demo.py").write_text("from demo_module import double\n\n\ndef test_double():\n    assert double(3) == 6\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(mutation, "REPO", tmp_path)
    monkeypatch.delitem(sys.modules, "demo_module", raising=False)
    target = mutation.Target(module="demo_module", path="demo_module.py", tests=["test_demo.py"])
    settings = {"baseline_timeout_s": 120.0, "timeout_min_s": 60.0, "timeout_factor": 4.0}
    equivalent = {"demo_module.py:double:Num:2>1:0": "not really; listed to check it is not run"}
    (result,) = mutation.mutate_modules([target], 0, 1, 1, equivalent, settings)
    assert result.total_mutants == result.sampled == 6  # * -> /, 2 -> 3 and 1; + -> -, 1 -> 2 and 0
    assert (result.equivalent, result.killed) == (1, 2)
    assert result.survived == [
        "demo_module.py:unused:Add>Sub:0", "demo_module.py:unused:Num:1>0:0", "demo_module.py:unused:Num:1>2:0"
    ]
    assert result.score == pytest.approx(2 / 5)
    report = mutation.format_result(result)
    assert "6 mutants (of 6), 1 equivalent, 2 killed, 3 survived, 0 timed out: 40%" in report
    assert "-    return x + 1\n    +    return x - 1\n    (no test runs this line)" in report
