"""The front door: ``formset <command>``. Commands call flows; flows call tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from formset import runtime
from formset.config import Project

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Labeled workout recordings in, versioned keypoint datasets and models out.")
console = Console()


def _project() -> Project:
    project = Project.find()
    runtime.configure(project.root)
    return project


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the synthetic labeled set into.")],
    subjects: Annotated[int, typer.Option(help="Number of synthetic people (12 executions each).")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Write a deterministic SYNTHETIC labeled set in the input contract's format."""
    from formset.tasks.synthetic import generate_set

    rows = generate_set(out_dir, set_id=out_dir.name, n_subjects=subjects, seed=seed)
    console.print(f"wrote synthetic set [bold]{out_dir.name}[/] with {len(rows)} samples to {out_dir}")


@app.command()
def stage(name: Annotated[str, typer.Argument(help="ingest | keypoints | normalize | validate | reps | cluster | compare | train")]) -> None:
    """Run one stage as its own Prefect flow (what dvc.yaml's stages call)."""
    project = _project()
    from formset.flows.stages import STAGES, ValidationFailed

    if name not in STAGES:
        raise typer.BadParameter(f"unknown stage {name!r}; choose from {', '.join(STAGES)}")
    try:
        result = STAGES[name](str(project.root))
    except ValidationFailed as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1)
    console.print_json(json.dumps(result, default=str))


@app.command()
def run() -> None:
    """Run the whole pipeline (one Prefect flow), record it in DVC and print a summary."""
    project = _project()
    from formset.flows.build import build_dataset
    from formset.flows.stages import ValidationFailed
    from formset.summary import build_summary
    from formset.versioning import record_outputs, track_inputs

    track_inputs(project)
    try:
        build_dataset(str(project.root))
    except ValidationFailed as err:
        console.print(f"[red]Validation failed: nothing was published.[/]\n{err}")
        raise typer.Exit(1)
    record_outputs(project)
    print_summary(build_summary(project))


def print_summary(summary: dict) -> None:
    """Render the run summary for people."""
    console.rule("formset run summary")
    console.print(
        f"sets: {summary['sets']}   samples ingested: {summary['samples_ingested']}   "
        f"with features: {summary['samples_with_features']}   quarantined: {summary['samples_quarantined']}"
    )
    if summary["quarantine_by_reason"]:
        table = Table("stage", "reason", "samples", title="quarantined samples by reason")
        for row in summary["quarantine_by_reason"]:
            table.add_row(row["stage"], row["reason"], str(row["samples"]))
        console.print(table)
    console.print("frames per view: " + ", ".join(f"{v} {n}" for v, n in summary["frames_by_view"].items()))
    if validation := summary["validation"]:
        verdict = "[green]passed[/]" if validation["passed_critical"] else "[red]FAILED[/]"
        console.print(
            f"validation: {verdict} — {validation['n_expectations']} expectations, "
            f"{validation['n_failed_critical']} critical failures, {validation['n_failed_warning']} warnings "
            "(data/validation/report.json)"
        )
    if metrics := summary["test_metrics"]:
        console.print(
            "held-out subjects: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict))
        )
    table = Table("table", "path", title="where things are")
    for name, path in summary["tables"].items():
        table.add_row(name, path)
    console.print(table)


@app.command()
def quarantine() -> None:
    """List every quarantined sample with its stage, reason and what to fix."""
    from formset.summary import quarantine_listing

    rows = quarantine_listing(_project())
    table = Table("set", "sample", "stage", "reason", "detail")
    for r in rows.itertuples():
        table.add_row(r.set_id, str(r.sample_id or "(whole set)"), r.stage, r.reason, r.detail)
    console.print(table)


@app.command()
def overlay(
    sample: Annotated[str, typer.Argument(help="The sample, as <set_id>/<sample_id>.")],
    view: Annotated[str | None, typer.Option(help="front | diagonal (default: whichever video view the sample has).")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output .mp4 (default: <set_id>_<sample_id>_<view>_overlay.mp4 here, unless --frame is given).")] = None,
    frame: Annotated[int | None, typer.Option(help="Also save this frame (0-based decoded index) as a PNG.")] = None,
    png: Annotated[Path | None, typer.Option(help="Where to save --frame (default: <set_id>_<sample_id>_<view>_<frame>.png here).")] = None,
    max_side: Annotated[int | None, typer.Option(help="Downscale frames so their longer side is at most this many pixels.")] = None,
) -> None:
    """Draw a sample's keypoints and joint angles on its video (an MP4 and/or one PNG frame)."""
    import pandas as pd

    from formset.quarantine import SampleError
    from formset.tasks.overlay import choose_view, save_frame_png, write_overlay

    project = _project()
    set_id, _, sample_id = sample.partition("/")
    if not set_id or not sample_id:
        raise typer.BadParameter(f"give the sample as <set_id>/<sample_id>, got {sample!r}")
    catalog = project.catalog_dir / "samples" / f"{set_id}.parquet"
    keypoints_file = project.keypoints_dir / f"{set_id}.parquet"
    try:
        for needed in (catalog, keypoints_file):
            if not needed.is_file():
                raise SampleError("not_built", f"{needed} does not exist: run `formset run` first.", needed)
        rows = pd.read_parquet(catalog)
        rows = rows[rows["sample_id"] == sample_id]
        if rows.empty:
            raise SampleError("unknown_sample", f"Set {set_id} has no sample {sample_id} in its catalog ({catalog}).", sample)
        chosen_view, video = choose_view(rows.iloc[0], view)
        keypoints = pd.read_parquet(keypoints_file, filters=[("sample_id", "==", sample_id), ("view", "==", chosen_view)])
        if keypoints.empty:
            raise SampleError(
                "no_keypoints",
                f"No {chosen_view} keypoints for {sample}: run `formset run` first, "
                "and see `formset quarantine` in case the sample was rejected.",
                sample,
            )
        video_path = project.sets_dir / set_id / video
        stem = f"{set_id}_{sample_id}_{chosen_view}"
        if frame is not None:
            png_path = save_frame_png(video_path, keypoints, frame, png or Path(f"{stem}_{frame}.png"), max_side)
            console.print(f"wrote frame {frame} of {sample} ({chosen_view}) to {png_path}")
        if out is not None or frame is None:
            out_path = out or Path(f"{stem}_overlay.mp4")
            n_frames = write_overlay(video_path, keypoints, out_path, max_side)
            console.print(f"wrote {n_frames} frames of {sample} ({chosen_view}) with its skeleton to {out_path}")
    except SampleError as err:
        console.print(f"[red]{err.detail}[/]")
        raise typer.Exit(1)


@app.command()
def report(
    sample: Annotated[str | None, typer.Argument(help="The sample, as <set_id>/<sample_id>.")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output .html (default: reports/<set_id>/<sample_id>.html); with --all, the folder (default: reports/).")] = None,
    all_samples: Annotated[bool, typer.Option("--all", help="Write every recording's report and the dataset page (index.html) linking them.")] = False,
) -> None:
    """A self-contained HTML report per recording (reps, tempo, angles, DTW, joint scores), or all of them."""
    from formset.reports import ReportTables, recording_html, write_all, write_html

    project = _project()
    if all_samples == (sample is not None):
        raise typer.BadParameter("give either one sample (<set_id>/<sample_id>) or --all")
    if all_samples:
        index = write_all(project, out or project.reports_dir)
        console.print(f"wrote the reports and the dataset page {index}")
        return
    set_id, _, sample_id = sample.partition("/")
    if not set_id or not sample_id:
        raise typer.BadParameter(f"give the sample as <set_id>/<sample_id>, got {sample!r}")
    try:
        text = recording_html(project, ReportTables.load(project, set_id), set_id, sample_id)
    except KeyError as err:
        console.print(f"[red]{err.args[0]}[/]")
        raise typer.Exit(1)
    path = write_html(text, out or project.reports_dir / set_id / f"{sample_id}.html")
    console.print(f"wrote the report of {sample} to {path}")


if __name__ == "__main__":
    app()
