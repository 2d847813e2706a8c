"""What one stage did in a build: computed, reused or skipped, and why.

A stage's flow returns a summary (a dict, what ``formset stage NAME`` prints): a per-set
stage the sets it computed and those it reused (``COMPUTED``, ``REUSED``); a stage the
dataset did not allow to do its work says why (``SKIPPED``, also in its metrics file). The
build turns each into a ``StageResult``, which callers branch on instead of on strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What a stage did: ``computed`` its outputs (some sets of a per-set stage, or all of a
#: whole-dataset stage), ``reused`` them all, or ``skipped`` its work, writing why.
Status = Literal["computed", "reused", "skipped"]

#: The reason of a stage DVC found up to date, which did not run; what ``formset run``
#: prints and ``.formset/last-build.json`` records for it.
UP_TO_DATE = "up to date"
#: The reason of a per-set stage that ran and found every set's partitions current.
EVERY_SET_CURRENT = "every set's partitions are current"

#: Keys of a stage's summary: the per-set summaries of the sets a per-set stage computed,
#: the sets it reused, and why a stage skipped its work (also the key of its metrics file).
COMPUTED = "computed"
REUSED = "reused"
SKIPPED = "skipped"


class ValidationFailed(RuntimeError):
    """A critical expectation failed across the dataset: nothing downstream of validate runs
    and nothing is published."""


def why_skipped(summary: dict) -> str | None:
    """Why the stage whose summary or metrics file is ``summary`` skipped its work; None if it did not."""
    return summary.get(SKIPPED)


@dataclass(frozen=True)
class StageResult:
    """What one stage did in a build.

    Attributes
    ----------
    stage
        The stage's name.
    status
        ``computed``, ``reused`` or ``skipped``.
    reason
        Why the stage reused (``UP_TO_DATE``, ``EVERY_SET_CURRENT``) or skipped its work;
        None when it computed.
    summary
        What the stage's flow returned; None when it did not run.
    computed_sets, reused_sets
        The sets a per-set stage computed and reused; empty for a whole-dataset stage.
    """

    stage: str
    status: Status
    reason: str | None = None
    summary: dict | None = None
    computed_sets: tuple[str, ...] = ()
    reused_sets: tuple[str, ...] = ()

    @classmethod
    def up_to_date(cls, stage: str) -> "StageResult":
        """A stage DVC found up to date: it did not run, its outputs are reused."""
        return cls(stage, "reused", UP_TO_DATE)

    @classmethod
    def of_run(cls, stage: str, summary: dict) -> "StageResult":
        """A stage that ran, from the summary its flow returned."""
        if COMPUTED in summary:
            computed = tuple(item["set_id"] for item in summary[COMPUTED])
            status, reason = ("computed", None) if computed else ("reused", EVERY_SET_CURRENT)
            return cls(stage, status, reason, summary, computed, tuple(summary[REUSED]))
        if (reason := why_skipped(summary)) is not None:
            return cls(stage, "skipped", reason, summary)
        return cls(stage, "computed", None, summary)

    @property
    def ran(self) -> bool:
        """Whether the stage's flow ran (DVC found it out of date)."""
        return self.summary is not None

    @property
    def is_per_set(self) -> bool:
        return self.summary is not None and COMPUTED in self.summary

    def record(self) -> dict | str:
        """What ``.formset/last-build.json`` holds for the stage: its summary, or ``UP_TO_DATE``."""
        return self.summary if self.summary is not None else UP_TO_DATE
