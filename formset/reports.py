"""Reports on disk: reads the built tables, renders them (``formset.tasks.render.report``), writes HTML.

``reports/<set_id>/<sample_id>.html`` per recording and ``reports/index.html`` linking them
(``formset report --all``); ``reports/`` is a derived view of the tables, not versioned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from formset import catalog, provenance
from formset.config import Project
from formset.quarantine import SampleError
from formset.schemas.vocab import VIDEO_VIEWS
from formset.storage import atomic_path, read_table
from formset.tasks.render.overlay import annotated_frames
from formset.tasks.render.report import RecordingData, render_index, render_recording

#: Longer side of the video frames embedded in a report, pixels.
FRAME_MAX_SIDE = 360
#: Video frames embedded: the start of the first rep and the bottom of up to this many reps.
MAX_FRAME_REPS = 3


@dataclass
class ReportTables:
    """The tables a report reads, whole (``formset report --all`` slices them per sample)."""
    samples: pd.DataFrame
    recordings: pd.DataFrame
    reps: pd.DataFrame
    kinematics: pd.DataFrame
    verdicts: pd.DataFrame
    distances: pd.DataFrame
    rep_scores: pd.DataFrame
    joint_scores: pd.DataFrame
    quarantine: pd.DataFrame
    metrics: dict | None

    @classmethod
    def load(cls, project: Project, set_id: str | None = None) -> "ReportTables":
        """Read the tables (of one set's partitions where per-set, when ``set_id`` is given)."""

        def per_set(table: catalog.Table):
            directory = project.path(table)
            return read_table(directory / f"{set_id}.parquet" if set_id else directory, table.schema)

        def whole(table: catalog.Table):
            return read_table(project.path(table), table.schema)

        metrics_file = project.path(catalog.COMPARE_METRICS)
        return cls(
            samples=per_set(catalog.SAMPLES),
            recordings=per_set(catalog.RECORDINGS),
            reps=per_set(catalog.REPS),
            kinematics=per_set(catalog.KINEMATICS),
            verdicts=whole(catalog.VERDICTS),
            distances=whole(catalog.DISTANCES),
            rep_scores=whole(catalog.REP_SCORES),
            joint_scores=whole(catalog.JOINT_SCORES),
            quarantine=whole(catalog.QUARANTINE),
            metrics=json.loads(metrics_file.read_text()) if metrics_file.is_file() else None,
        )

    def of_sample(self, set_id: str, sample_id: str) -> dict[str, pd.DataFrame]:
        """Every table's rows of one sample."""
        per_sample = [f.name for f in fields(self) if f.name not in ("samples", "metrics")]
        return {
            name: frame[(frame["set_id"] == set_id) & (frame["sample_id"] == sample_id)]
            for name, frame in ((n, getattr(self, n)) for n in per_sample)
        }


def video_frames(project: Project, sample: pd.Series, recordings: pd.DataFrame, reps: pd.DataFrame) -> dict:
    """Annotated frames of the primary view's video (caption -> BGR image); empty when the
    primary view is not a video or the video cannot be read."""
    primary = recordings[recordings["primary_view"]]
    view = primary["view"].iloc[0] if len(primary) else None
    video = sample.get(f"{view}_video") if view in VIDEO_VIEWS else None
    if not isinstance(video, str) or not video:
        return {}
    keypoints = pd.read_parquet(
        project.path(catalog.KEYPOINTS) / f"{sample['set_id']}.parquet",
        filters=[("sample_id", "==", sample["sample_id"]), ("view", "==", view)],
    )
    reps = reps[reps["view"] == view].sort_values("rep").head(MAX_FRAME_REPS)
    wanted = {int(reps["start_frame"].iloc[0]): "start of rep 1"} if len(reps) else {}
    wanted.update({int(r.bottom_frame): f"bottom of rep {r.rep}" for r in reps.itertuples()})
    if not wanted and len(keypoints):
        wanted = {int(keypoints["frame"].median()): "middle of the recording"}
    try:
        images = annotated_frames(project.path(catalog.DELIVERED_SETS) / sample["set_id"] / video, keypoints, list(wanted), FRAME_MAX_SIDE)
    except SampleError:
        return {}
    return {f"{wanted[index]} (frame {index})": image for index, image in sorted(images.items())}


def recording_html(project: Project, loaded: ReportTables, set_id: str, sample_id: str) -> str:
    """The report of one sample, from ``loaded`` tables.

    Raises
    ------
    KeyError
        The catalog has no such sample (``formset.summary.unknown_sample`` says why).
    """
    match = loaded.samples[(loaded.samples["set_id"] == set_id) & (loaded.samples["sample_id"] == sample_id)]
    if match.empty:
        raise KeyError(f"{set_id}/{sample_id} is not in the catalog of the last build ({catalog.SAMPLES.path})")
    sample = match.iloc[0]
    rows = loaded.of_sample(set_id, sample_id)
    data = RecordingData(sample=sample, frames=video_frames(project, sample, rows["recordings"], rows["reps"]),
                         made_by=made_by(project, loaded), **rows)  # fmt: skip
    return render_recording(data, project.params().reps.tempo)


def made_by(project: Project, loaded: ReportTables) -> str:
    """Which build, model and references produced a pipeline report, in one line."""
    train_file = project.path(catalog.TRAIN_METRICS)
    train = json.loads(train_file.read_text()) if train_file.is_file() else {}
    model = f"classifier {train['model']} ({catalog.CLASSIFIER.path})" if train.get("model") else "no classifier"
    return (f"the last build of {project.root.name} (dvc.lock), {model}; DTW references: the correct executions of "
            f"other people of the same exercise and view in it; {provenance.code_version()}")  # fmt: skip


def write_html(text: str, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_all(project: Project, out_dir: Path) -> Path:
    """Every recording's report under ``out_dir/<set_id>/<sample_id>.html`` and ``out_dir/index.html``."""
    loaded = ReportTables.load(project)
    rows = []
    for sample in loaded.samples.itertuples():
        relative = Path(sample.set_id) / f"{sample.sample_id}.html"
        write_html(recording_html(project, loaded, sample.set_id, sample.sample_id), out_dir / relative)
        rows.append({"set_id": sample.set_id, "sample_id": sample.sample_id, "href": relative.as_posix()})
    return write_html(render_index(index_rows(loaded, pd.DataFrame(rows)), loaded.metrics), out_dir / "index.html")


def index_rows(loaded: ReportTables, links: pd.DataFrame) -> pd.DataFrame:
    """One row per sample for the dataset page: catalog, primary view's reps, DTW verdict, link."""
    keys = ["set_id", "sample_id"]
    primary = loaded.recordings[loaded.recordings["primary_view"]]
    whole = loaded.verdicts[loaded.verdicts["rep"].isna()]
    verdict = primary[[*keys, "view"]].merge(whole, on=[*keys, "view"], how="inner")
    return (
        loaded.samples[[*keys, "exercise", "label"]]
        .merge(primary[[*keys, "status", "rep_count", "labeled_rep_count", "tempo_feedback"]], on=keys, how="left")
        .merge(verdict[[*keys, "distance", "beyond_threshold"]], on=keys, how="left")
        .merge(links, on=keys, how="inner")
    )
