"""The documentation that lives in the repository: the stage diagram is the registry's, every
docs page is linked from the README, and no product text points at design notes users cannot open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from formset import catalog
from formset.flows.diagram import BEGIN, DOCUMENTS, END, stage_diagram, stale_documents, with_diagram
from formset.flows.registry import Stage

REPO = Path(__file__).resolve().parent.parent


def test_the_committed_diagrams_are_the_registry_s():
    assert stale_documents(REPO, write=False) == [], "run `formset diagram`"
    for document in DOCUMENTS:
        assert stage_diagram() in (REPO / document).read_text()


def test_the_diagram_draws_tables_as_cylinders_stages_as_boxes_and_one_arrow_per_read_or_write():
    stages = (
        Stage("ingest", reads=(catalog.DELIVERED_SETS,), writes=(catalog.CATALOG, catalog.quarantine_of("ingest")), params=()),
        Stage("normalize", reads=(catalog.CATALOG, catalog.CATALOG), writes=(catalog.FEATURES, catalog.quarantine_of("normalize")),
              params=(), metrics=(catalog.Table("metrics/normalize", "metrics/normalize.json"),)),  # fmt: skip
    )
    assert stage_diagram(stages).splitlines() == [
        "```mermaid",
        "flowchart TD",
        '    t_data_sets[("data/sets")]',
        '    t_data_catalog[("data/catalog")]',
        '    t_data_quarantine[("data/quarantine")]',
        '    t_data_features[("data/features")]',
        '    t_metrics_normalize_json[("metrics/normalize.json")]',
        '    ingest(["ingest"])',
        '    normalize(["normalize"])',
        "    t_data_sets --> ingest",
        "    ingest --> t_data_catalog",
        "    ingest --> t_data_quarantine",
        "    t_data_catalog --> normalize",
        "    normalize --> t_data_features",
        "    normalize --> t_data_quarantine",
        "    normalize --> t_metrics_normalize_json",
        "```",
    ]


def test_only_the_block_between_the_markers_is_replaced_and_missing_markers_are_named():
    text = f"before\n{BEGIN}\nold picture\n{END}\nafter {BEGIN[:4]}\n"
    assert with_diagram(text, "new", "doc.md") == f"before\n{BEGIN}\nnew\n{END}\nafter {BEGIN[:4]}\n"
    with pytest.raises(ValueError, match="doc.md has no stage diagram markers"):
        with_diagram("no markers here", "new", "doc.md")


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    readme = (REPO / "README.md").read_text()
    pages = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))
    assert {"docs/architecture.md", "docs/input-contract.md", "docs/methods.md", "docs/bad-input.md"} <= set(pages)
    assert [page for page in pages if f"]({page})" not in readme] == []
    for document in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.(?:md|png))\)", document.read_text()):
            assert (document.parent / target).is_file(), f"{document.name} links {target}, which is not there"


def test_product_text_never_points_at_design_notes():
    product = [REPO / "README.md", REPO / "params.yaml", *(REPO / "docs").glob("*.md")]
    for folder in ("formset", "flows", "tasks", "schemas"):
        product += (REPO / folder).rglob("*.py")
    said = [(p.relative_to(REPO).as_posix(), m) for p in product for m in re.findall(r"\bseed \d{3}\b|CONTRACTS\.md|METHODS\.md", p.read_text())]
    assert said == []
