"""The one picture of the pipeline: stages and the tables between them, from the registry.

``stage_diagram`` draws ``flows.registry.STAGES`` as a Mermaid flowchart (GitHub and most
Markdown viewers render it): a rounded box per stage, a cylinder per table or file it reads
or writes (its metrics files included: later stages read some), an arrow from each table a stage reads and to each it writes. The per-stage
quarantine tables are drawn as one ``data/quarantine`` node. ``formset diagram`` writes
it between ``BEGIN`` and ``END`` markers in the documents of ``DOCUMENTS`` (``--check``
only compares), and a test fails when a committed copy differs, so the picture cannot
drift from what the stages do.
"""

from __future__ import annotations

import re
from pathlib import Path

from formset.catalog import QUARANTINE, Table
from formset.flows.registry import STAGES, Stage

#: Documents that show the diagram, relative to the repository root.
DOCUMENTS: tuple[str, ...] = ("README.md", "docs/architecture.md")
BEGIN = "<!-- stage diagram: generated from flows/registry.py by `formset diagram`; do not edit -->"
END = "<!-- end of stage diagram -->"


def drawn_path(table: Table) -> str:
    """The node a stage's read or write is drawn as, its path: per-stage quarantine tables are one."""
    return QUARANTINE.path if table.path.startswith(QUARANTINE.path + "/") else table.path


def node_id(path: str) -> str:
    """A Mermaid node id for a path (letters, digits and underscores)."""
    return "t_" + re.sub(r"\W", "_", path)


def stage_diagram(stages: tuple[Stage, ...] = STAGES) -> str:
    """A Mermaid ``flowchart`` of ``stages`` and the tables they read and write.

    Returns
    -------
    str
        A fenced ``mermaid`` block: tables as cylinders in order of first appearance,
        stages as rounded boxes in pipeline order, one arrow per distinct read or write.
    """
    tables: dict[str, None] = {}
    edges: dict[str, None] = {}
    for stage in stages:
        for path in map(drawn_path, stage.reads):
            tables[path] = None
            edges[f"    {node_id(path)} --> {stage.name}"] = None
        for path in map(drawn_path, (*stage.writes, *stage.metrics)):
            tables[path] = None
            edges[f"    {stage.name} --> {node_id(path)}"] = None
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {node_id(path)}[("{path}")]' for path in tables]
    lines += [f'    {stage.name}(["{stage.name}"])' for stage in stages]
    lines += list(edges)
    return "\n".join([*lines, "```"])


def with_diagram(text: str, diagram: str, document: str) -> str:
    """``text`` with the block between ``BEGIN`` and ``END`` replaced by ``diagram``.

    Raises
    ------
    ValueError
        ``text`` lacks the markers (``document`` names it in the message).
    """
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{document} has no stage diagram markers: add the lines\n{BEGIN}\n{END}")
    return pattern.sub(lambda _: f"{BEGIN}\n{diagram}\n{END}", text, count=1)


def stale_documents(root: Path, write: bool) -> list[str]:
    """The documents of ``DOCUMENTS`` under ``root`` whose diagram differs from the registry's,
    rewritten when ``write``."""
    diagram = stage_diagram()
    stale = []
    for document in DOCUMENTS:
        path = root / document
        current = path.read_text(encoding="utf-8")
        updated = with_diagram(current, diagram, document)
        if updated != current:
            stale.append(document)
            if write:
                path.write_text(updated, encoding="utf-8")
    return stale
