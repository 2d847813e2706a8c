"""Bad input is data: per-sample quarantine records, and stages that skip with a reason.

A stage that rejects a sample returns a ``Rejection`` instead of raising; the flow collects
them into the stage's quarantine table (schema ``QUARANTINE``) and the rest of the set
proceeds. A stage that cannot do its work at all because of what the dataset holds (no
labeled samples, one person, one class) raises ``StageSkipped``: the flow writes the stage's
outputs as "skipped: reason" and the rest of the build is recorded and published.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from formset.schemas.tables import QUARANTINE


@dataclass(frozen=True)
class Rejection:
    """Why one sample (or a whole set, ``sample_id=None``) was set aside.

    Attributes
    ----------
    reason
        A short stable code people can filter on (``missing_file``, ``bad_label``, ...).
    detail
        A sentence a non-programmer can act on: which row, which column, what is wrong,
        what is expected.
    value
        The offending value as text, when there is one.
    """

    set_id: str
    sample_id: str | None
    stage: str
    reason: str
    detail: str
    value: str | None = None


class SampleError(Exception):
    """Raised inside a stage for one sample's bad input; carries the quarantine reason."""

    def __init__(self, reason: str, detail: str, value: object = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.value = None if value is None else str(value)

    def rejection(self, set_id: str, sample_id: str | None, stage: str) -> Rejection:
        return Rejection(set_id, sample_id, stage, self.reason, self.detail, self.value)


class StageSkipped(Exception):
    """Raised by a stage whose work the dataset does not allow; ``reason`` says why in words
    a data engineer acts on (what is missing, what would make the stage run)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def to_frame(rejections: list[Rejection]) -> pd.DataFrame:
    """Quarantine records as a DataFrame with the ``QUARANTINE`` columns."""
    return pd.DataFrame([asdict(r) for r in rejections], columns=QUARANTINE.names)
