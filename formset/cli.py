"""The front door: ``formset <command>``. Commands call flows; flows call tasks.

The CLI parses and prints. Each command imports the heavy modules it runs (pandas,
Prefect, DVC, torch, OpenCV, the web server) when it runs: importing them all costs 5.7 s
on the 2-core build machine, against 0.3 s for the CLI itself, and ``formset --help``,
``formset dvc-yaml`` or a refused ``formset add-set`` should not wait for them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from formset import catalog, gitops, runtime
from formset.codedeps import source_root
from formset.config import Project
from formset.flows.diagram import stale_documents
from formset.flows.registry import STAGE_NAMES, load_flow
from formset.flows.registry import dvc_yaml as generated_dvc_yaml
from formset.gitops import GitError
from formset.locking import ProjectBusy, project_lock
from formset.params import ParamsError
from formset.services import exit_on_sigterm, start_prefect_server
from formset.stage_result import StageResult, ValidationFailed, why_skipped
from formset.versioning import DvcError

if TYPE_CHECKING:
    import pandas as pd

    from formset.registry import Delivery

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Labeled workout recordings in, versioned keypoint datasets and models out.")
console = Console()


def _project() -> Project:
    try:
        project = Project.find()
    except FileNotFoundError as err:
        console.print(f"[red]{err}[/]: run formset inside a project, or set FORMSET_ROOT")
        raise typer.Exit(2)
    try:
        project.params()
    except ParamsError as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(2)
    runtime.configure(project.root)
    return project


@contextmanager
def _locked(project: Project, command: str, wait_s: float) -> Iterator[None]:
    """The project lock for a command that changes the dataset; a clear exit if busy."""

    try:
        with project_lock(project, command, wait_s):
            yield
    except ProjectBusy as busy:
        console.print(f"[red]{busy}[/]")
        raise typer.Exit(75)  # EX_TEMPFAIL: try again later


WaitOption = Annotated[float, typer.Option("--wait", help="Seconds to wait for another formset command that is changing the project.")]
SampleArgument = Annotated[str, typer.Argument(help="The sample, as <set_id>/<sample_id> (e.g. real-squat/squat_side).")]


def _built_sample(project: Project, reference: str) -> tuple[str, str]:
    """``(set_id, sample_id)`` of a SET/SAMPLE argument naming a sample of the last build;
    otherwise an exit that says why it is not one and what to do."""
    from formset.summary import unknown_sample

    set_id, _, sample_id = reference.partition("/")
    if not set_id or not sample_id or "/" in sample_id:
        raise typer.BadParameter(f"give the sample as <set_id>/<sample_id> (e.g. real-squat/squat_side), got {reference!r}")
    if problem := unknown_sample(project, set_id, sample_id):
        console.print(f"[red]{escape(problem)}[/]")
        raise typer.Exit(1)
    return set_id, sample_id


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the synthetic labeled set into.")],
    subjects: Annotated[int, typer.Option(help="Number of synthetic people (12 executions each).")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Write a deterministic SYNTHETIC labeled set in the input contract's format."""
    from formset.tasks.synthetic.generator import generate_set

    rows = generate_set(out_dir, set_id=out_dir.name, n_subjects=subjects, seed=seed)
    console.print(f"wrote synthetic set [bold]{out_dir.name}[/] with {len(rows)} samples to {out_dir}")


@app.command()
def stage(name: Annotated[str, typer.Argument(help="ingest | keypoints | normalize | validate | reps | cluster | compare | train")], wait: WaitOption = 0.0) -> None:
    """Run one stage as its own Prefect flow (what dvc.yaml's stages call)."""
    project = _project()

    if name not in STAGE_NAMES:
        raise typer.BadParameter(f"unknown stage {name!r}; choose from {', '.join(STAGE_NAMES)}")
    with _locked(project, f"formset stage {name}", wait):
        try:
            result = load_flow(name)(str(project.root))
        except ValidationFailed as err:
            console.print(f"[red]{err}[/]")
            raise typer.Exit(1)
    console.print_json(json.dumps(result, default=str))


@app.command("dvc-yaml")
def dvc_yaml(
    check: Annotated[bool, typer.Option("--check", help="Only say whether dvc.yaml is up to date (exit 1 if not); write nothing.")] = False,
) -> None:
    """Write dvc.yaml from the stage registry (flows/registry.py): each stage's deps, params,
    outs, metrics and plots, its code deps being the import closure of its flow."""

    path = _project().root / "dvc.yaml"
    text = generated_dvc_yaml()
    current = path.read_text() if path.is_file() else None
    if check:
        console.print("dvc.yaml is up to date" if current == text else "[red]dvc.yaml differs from the stage registry: run `formset dvc-yaml`[/]")
        raise typer.Exit(0 if current == text else 1)
    path.write_text(text)
    console.print(f"wrote {path} ({'unchanged' if current == text else 'updated'})")


@app.command()
def diagram(
    check: Annotated[bool, typer.Option("--check", help="Only say whether the documents' diagrams are current (exit 1 if not); write nothing.")] = False,
) -> None:
    """Draw the stage diagram (stages and the tables they read and write, from the stage
    registry) into the README and docs/architecture.md of formset's own repository."""

    stale = stale_documents(source_root(), write=not check)
    if check:
        console.print(f"[red]the stage diagram differs from the registry in {', '.join(stale)}: run `formset diagram`[/]" if stale else "the stage diagrams are current")
        raise typer.Exit(1 if stale else 0)
    console.print(f"updated the stage diagram in {', '.join(stale)}" if stale else "the stage diagrams were current")


@app.command()
def run(wait: WaitOption = 0.0) -> None:
    """Run the whole pipeline (one Prefect flow), record it in DVC and print a summary.

    Only what changed is recomputed: stages DVC finds out of date, and in them the sets
    whose inputs, params or code changed.
    """
    project = _project()
    from formset.flows.build import NoSets, build_and_record
    from formset.summary import build_summary

    with _locked(project, "formset run", wait):
        try:
            work = build_and_record(project)
        except NoSets as err:
            console.print(f"[red]{err}[/]")
            raise typer.Exit(1)
        except ValidationFailed as err:
            console.print(f"[red]Validation failed: nothing was published.[/]\n{err}")
            raise typer.Exit(1)
    print_work(work)
    print_summary(build_summary(project))


@app.command()
def nightly(
    serve: Annotated[bool, typer.Option("--serve", help="Serve the nightly deployment on its cron schedule (params.yaml: nightly) until stopped.")] = False,
    wait: WaitOption = 0.0,
) -> None:
    """Reprocess what changed, validate, retrain and publish a dataset version (dvc push, git
    commit, tag data-YYYY-MM-DD) now, or with --serve on the nightly schedule."""
    project = _project()
    from formset.flows.build import NoSets, require_sets
    from formset.flows.nightly import PublishFailed, nightly_deployment, nightly_flow

    if serve:
        from prefect import serve as serve_deployments

        serve_deployments(nightly_deployment(project))
        return
    try:
        require_sets(project)  # before the flow starts: a clear line, no flow-run traceback
    except NoSets as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1)
    try:
        result = nightly_flow(str(project.root), wait)
    except ProjectBusy as busy:
        console.print(f"[red]{busy}[/]")
        raise typer.Exit(75)
    except ValidationFailed as err:
        console.print(f"[red]Validation failed: nothing was published.[/]\n{err}")
        raise typer.Exit(1)
    except PublishFailed as err:
        console.print(f"[red]Publishing failed:[/] {err}")
        raise typer.Exit(1)
    if result["tag"]:
        console.print(f"published [bold]{result['tag']}[/] ({result['work']}), commit {result['commit'][:10]}")
    else:
        console.print(f"nothing changed ({result['work']}): no new version")


@app.command()
def server(
    port: Annotated[int, typer.Option(help="Port of the Prefect server on 127.0.0.1.")] = 4200,
) -> None:
    """Start a Prefect server on 127.0.0.1 (its database in .prefect/server/ of the project),
    print its UI address, and serve the nightly deployment against it until stopped (Ctrl-C
    or SIGTERM stops both)."""
    project = _project()
    from prefect import serve as serve_deployments
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from formset.flows.nightly import nightly_deployment

    exit_on_sigterm()
    with start_prefect_server(project.root / ".prefect" / "server", port) as prefect_server:
        console.print(f"Prefect UI: [bold]{prefect_server.address.removesuffix('/api')}[/]  "
                      f"(other formset commands use it with PREFECT_API_URL={prefect_server.address})")  # fmt: skip
        with temporary_settings({PREFECT_API_URL: prefect_server.address}):
            serve_deployments(nightly_deployment(project))


@app.command("add-set")
def add_set(
    set_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The delivered set folder (set.yaml, samples.csv and the files they name).")],
    allow_quarantine: Annotated[bool, typer.Option("--allow-quarantine", help="Add the set even if some rows have problems; the pipeline quarantines those rows.")] = False,
    no_commit: Annotated[bool, typer.Option("--no-commit", help=f"Do not commit {catalog.DELIVERED_SETS.path}.dvc and {catalog.SET_REGISTRY.path} to git.")] = False,
    wait: WaitOption = 0.0,
) -> None:
    """Check an annotator's labeled set against the input contract and add it to data/sets
    as its next version (DVC-tracked, registered, committed)."""
    from formset.registry import add_delivery

    project = _project()
    with _locked(project, "formset add-set", wait):
        try:
            delivery = add_delivery(project, set_dir, allow_quarantine, commit=not no_commit)
        except (DvcError, GitError) as err:
            console.print(f"[red]The set was copied into {catalog.DELIVERED_SETS.path} but could not be recorded:[/]\n{err}")
            raise typer.Exit(1)
    print_delivery(delivery, set_dir, project.params().exercises)
    if delivery.status == "refused":
        raise typer.Exit(1)


def print_delivery(delivery: Delivery, set_dir: Path, exercises: list[str]) -> None:
    """The add-set report for the annotator: problems row by row, then what was done; for
    exercises the project does not list (``exercises``: params.yaml's), how to add them."""
    if delivery.set_problem:
        console.print(f"[red]Refused, nothing was added:[/] {delivery.set_problem}")
        return
    if len(delivery.report):
        from formset.tasks.delivery import add_exercises_step, new_exercises, problem_groups

        # One line per kind of problem, its fix said once, before the rows it sums up.
        groups = Table.grid(Column(justify="right", no_wrap=True), Column(), padding=(0, 1), pad_edge=True)
        for group in problem_groups(delivery.report).itertuples():
            groups.add_row(f"{group.rows} row{'' if group.rows == 1 else 's'}:", escape(f"{group.problem} — {group.fix}"))
        console.print(f"problems in {set_dir / 'samples.csv'}, by kind:")
        console.print(groups, highlight=False)
        table = Table("line", "sample_id", "column", "what is wrong / what is expected", title=f"problems in {set_dir / 'samples.csv'}, row by row")
        for row in delivery.report.itertuples():
            table.add_row(str(row.line), row.sample_id or "(empty)", row.column, row.problem)
        console.print(table)
        rows = delivery.report["line"].nunique()
        if delivery.status == "refused":
            console.print(
                f"[red]Refused: nothing was added.[/] {rows} row(s) of samples.csv have problems (line numbers as in a text editor). "
                "Fix them and run add-set again, or pass --allow-quarantine to add the set and leave those rows out of the dataset."
            )
            if unknown := new_exercises(delivery.report):
                console.print(escape(add_exercises_step(unknown, exercises, str(set_dir))), highlight=False, soft_wrap=True)
            return
        console.print(f"[yellow]{rows} row(s) with problems will be quarantined by the pipeline[/] (`formset quarantine` lists them after `formset run`).")
    if delivery.status == "unchanged":
        console.print(f"set [bold]{delivery.set_id}[/] is already added as version {delivery.version}: nothing changed.")
        return
    recorded = f"commit {delivery.commit[:10]}" if delivery.commit else "not committed"
    console.print(f"added set [bold]{delivery.set_id}[/] as version {delivery.version} ({catalog.DELIVERED_SETS.path}/{delivery.set_id}, {recorded}).")
    if delivery.changes is None:
        return
    if delivery.changes.empty:
        console.print("no label changed from the previous version (files or set.yaml did).")
        return
    table = Table("sample_id", "column", "old", "new", title="changes from the previous version")
    for row in delivery.changes.itertuples():
        table.add_row(row.sample_id, row.column, row.old or "(empty)", row.new or "(empty)")
    console.print(table)


@app.command()
def sets(as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False) -> None:
    """Every labeled set: its version, samples, labels, quarantined samples and when it was added."""
    from formset.registry import overview

    table_rows = overview(_project())
    if as_json:
        console.print_json(table_rows.to_json(orient="records"))
        return
    # Set ids whole (they are what people type next). The three label counts share one
    # column so that the table fits 80 columns with set ids of up to 25 characters; beside
    # longer ones, each set is one paragraph instead.
    widest = max([3, *table_rows["set_id"].str.len()])
    table = Table(
        Column("set", no_wrap=True, min_width=widest),
        *(Column(name, justify="right") for name in ("version", "samples", "correct / incorrect / unlabeled", "quarantined")),
        "added",
        box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0),
    )  # fmt: skip
    paragraphs = []
    for row in table_rows.itertuples():
        labels = f"{row.correct} / {row.incorrect} / {row.unlabeled}"
        added = row.added[:10]  # the date: --json has the time
        table.add_row(row.set_id, str(row.version), str(row.samples), labels, str(row.quarantined), added)
        paragraphs.append(
            f"{row.set_id}: version {row.version}, added {added}; {row.samples} samples: {row.correct} correct, "
            f"{row.incorrect} incorrect, {row.unlabeled} unlabeled; quarantined: {row.quarantined}"
        )
    unbounded = console.options.update_width(10**6)
    if console.measure(table, options=unbounded).minimum <= console.width:
        console.print(table)
    else:
        console.print("\n".join(paragraphs), highlight=False)


@contextmanager
def _dvc_clones() -> Iterator[None]:
    """Remove the temporary clones DVC makes to read a git URL once the command is done,
    as the `dvc` command itself does."""
    from dvc.repo.open_repo import clean_repos

    try:
        yield
    finally:
        clean_repos()


RepoOption = Annotated[str | None, typer.Option("--repo", help="The project: a path or git URL (default: the current project).")]

#: What `formset versions` shows of each version's metrics (all of them with --json).
HEADLINE_METRICS = {catalog.TRAIN_METRICS.path: ("accuracy", "f1")}


@app.command()
def pull(
    name: Annotated[str, typer.Argument(help="A table or model: features, keypoints, catalog, reps, scores, compare, quarantine, classifier, clusters ... (an unknown name lists them all).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write it: one Parquet file for a table, the file (or folder) itself otherwise.")],
    rev: Annotated[str | None, typer.Option(help="A published tag (data-YYYY-MM-DD), any git revision, or 'workspace' (default: the latest published tag).")] = None,
    repo: RepoOption = None,
    remote_url: Annotated[str | None, typer.Option("--remote-url", help="The DVC remote holding the data (default: the project's own; give it for a git URL whose remote is a relative path).")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns to read (default: all).")] = None,
) -> None:
    """Pull one table or model of a published dataset version by tag. Runs nothing and does
    not take the project lock."""
    from formset import pull as pulling

    try:
        chosen = rev or pulling.latest_published(repo)
        with _dvc_clones():
            table = pulling.pull_file(name, out, chosen, repo, remote_url, columns.split(",") if columns else None)
    except (pulling.PullError, gitops.GitError) as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1)
    version = chosen if rev else f"{chosen} (the latest published tag)"
    if table is None:
        console.print(f"wrote {name} of {version} to {out}")
        return
    records = pulling.partition_records(table)
    sets = sorted(set(table.column("set_id").to_pylist())) if "set_id" in table.column_names else []
    codes = sorted({record["code"] for record in records.values() if record})
    console.print(
        f"wrote {name} of {version} to {out}: {table.num_rows} rows from {len(records)} partition(s)"
        + (f", sets {', '.join(sets)}" if sets else "")
    )
    console.print(f"code: {', '.join(codes) or 'no provenance record'}")


@app.command()
def versions(
    repo: RepoOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every version with all its metrics as JSON.")] = False,
) -> None:
    """The published dataset versions (data-* tags): date, commit and headline metrics."""
    from formset.pull import PullError, published_versions

    try:
        with _dvc_clones():
            published = published_versions(repo)
    except (PullError, gitops.GitError) as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(published, indent=2))
        return
    headline = [(path, key) for path, keys in HEADLINE_METRICS.items() for key in keys]
    table = Table("tag", "date", "commit", *(key for _, key in headline), title="published versions")
    for version in published:
        values = [version["metrics"].get(path, {}).get(key) for path, key in headline]
        table.add_row(version["tag"], version["date"], version["commit"][:10], *("-" if v is None else f"{v:.3f}" for v in values))
    console.print(table if published else "no published version yet (`formset nightly` publishes one)")


def print_work(work: dict[str, StageResult]) -> None:
    """What this run computed, per stage."""
    table = Table("stage", "this run", title="work done")
    for name, result in work.items():
        if result.is_per_set:
            computed = result.computed_sets
            text = f"computed {len(computed)} set(s) {', '.join(computed)}".rstrip() + f"; reused {len(result.reused_sets)}"
        elif result.status == "skipped":
            text = f"[yellow]skipped[/]: {result.reason}"
        else:
            text = "ran" if result.ran else result.reason
        table.add_row(name, text)
    console.print(table)


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
            f"({catalog.VALIDATION_REPORT.path})"
        )
    tables = summary["tables"]
    console.print(
        f"data quality report: {tables['dataset_card']} (or `formset card`), "
        f"great-expectations Data Docs: {tables['data_docs']}"
    )
    if (metrics := summary["test_metrics"]) and (reason := why_skipped(metrics)) is not None:
        console.print(f"classifier: [yellow]skipped[/], no model in this version: {reason}")
    elif metrics:
        figures = ", ".join(
            f"{name} {metrics[name]:.3f} ± {metrics[f'{name}_std']:.3f}" for name in ("accuracy", "f1", "auc") if metrics.get(name) is not None
        )
        console.print(
            f"classifier {metrics['model']} ({metrics['exercise_mode']}), {metrics['folds']}-fold cross-validation by people "
            f"({metrics['n_subjects']} people, {metrics['n_samples']} samples; mean ± std over folds): {figures}; "
            f"weakest exercise {metrics['min_exercise_accuracy']:.3f}; predictions: {summary['tables']['predictions']}"
        )
    table = Table("table", "path", title="where things are")
    for name, path in summary["tables"].items():
        table.add_row(name, path)
    console.print(table)


@app.command()
def card() -> None:
    """Show the dataset card of the last build: samples, subjects, frames, missing keypoints,
    quarantine and validation, and the stages that skipped their work."""
    from rich.markdown import Markdown

    from formset.summary import skipped_stages

    project = _project()
    if not project.path(catalog.DATASET_CARD).is_file():
        console.print(f"[red]{project.path(catalog.DATASET_CARD).relative_to(project.root)} does not exist: run `formset run` first.[/]")
        raise typer.Exit(1)
    console.print(Markdown(project.path(catalog.DATASET_CARD).read_text()))
    console.print(f"Data Docs: {project.path(catalog.DATA_DOCS_INDEX).relative_to(project.root)}")
    for stage, reason in skipped_stages(project).items():
        console.print(f"[yellow]{stage} skipped[/] in this build: {reason}")


@app.command()
def quarantine() -> None:
    """List every quarantined sample with its stage, reason, what is wrong and what to fix, then
    the samples validation flagged but kept."""
    from formset.summary import flagged_listing, quarantine_listing

    project = _project()
    rows = quarantine_listing(project)
    if rows.empty:
        built = any(project.path(catalog.SAMPLES).glob("*.parquet"))
        console.print("no samples quarantined" + ("" if built else ": nothing is built yet (`formset run` builds the sets)"))
    else:
        # Sample ids and reason codes whole: they are what people search for next.
        table = Table(Column("sample", no_wrap=True), Column("stage / reason", no_wrap=True), "what is wrong", "what to fix",
                      box=box.SIMPLE_HEAD, show_edge=False)
        for r in rows.itertuples():
            sample = f"{r.set_id}/{r.sample_id}" if isinstance(r.sample_id, str) else f"{r.set_id} (whole set)"
            table.add_row(escape(sample), f"{r.stage} / {r.reason}", escape(r.detail), escape(r.fix))
        console.print(table)
    flagged = flagged_listing(project)
    if len(flagged):
        table = Table(Column("sample", no_wrap=True), Column("reason", no_wrap=True), "what is odd", "what to check",
                      box=box.SIMPLE_HEAD, show_edge=False, title="flagged by validation, kept in the dataset")
        for r in flagged.itertuples():
            table.add_row(escape(f"{r.set_id}/{r.sample_id}"), r.reason, escape(r.detail), escape(r.fix))
        console.print(table)


@app.command()
def overlay(
    sample: SampleArgument,
    view: Annotated[str | None, typer.Option(help="front | diagonal | side (default: whichever video view the sample has).")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output .mp4 (default: reports/<set_id>/<sample_id>_<view>_overlay.mp4, unless --frame is given).")] = None,
    frame: Annotated[int | None, typer.Option(help="Save this frame (0-based decoded index) as a PNG instead of the video (both with -o).")] = None,
    png: Annotated[Path | None, typer.Option(help="Where to save --frame (default: reports/<set_id>/<sample_id>_<view>_frame<N>.png).")] = None,
    max_side: Annotated[int | None, typer.Option(help="Downscale frames so their longer side is at most this many pixels.")] = None,
) -> None:
    """Draw a sample's keypoints and joint angles on its video (an MP4 and/or one PNG frame)."""
    import pandas as pd

    from formset.quarantine import SampleError
    from formset.tasks.render.overlay import choose_view, save_frame_png, write_overlay

    project = _project()
    set_id, sample_id = _built_sample(project, sample)
    keypoints_file = project.path(catalog.KEYPOINTS) / f"{set_id}.parquet"
    try:
        if not keypoints_file.is_file():
            raise SampleError("not_built", f"{keypoints_file} does not exist: run `formset run` first.", keypoints_file)
        rows = pd.read_parquet(project.path(catalog.SAMPLES) / f"{set_id}.parquet", filters=[("sample_id", "==", sample_id)])
        chosen_view, video = choose_view(rows.iloc[0], view)
        keypoints = pd.read_parquet(keypoints_file, filters=[("sample_id", "==", sample_id), ("view", "==", chosen_view)])
        if keypoints.empty:
            raise SampleError(
                "no_keypoints",
                f"No {chosen_view} keypoints for {sample}: run `formset run` first, "
                "and see `formset quarantine` in case the sample was rejected.",
                sample,
            )
        video_path = project.path(catalog.DELIVERED_SETS) / set_id / video
        # Beside the sample's HTML report (reports/<set_id>/<sample_id>.html).
        stem = project.reports_dir / set_id / f"{sample_id}_{chosen_view}"
        if frame is not None:
            png_path = save_frame_png(video_path, keypoints, frame, png or stem.with_name(f"{stem.name}_frame{frame}.png"), max_side)
            console.print(f"wrote frame {frame} of {sample} ({chosen_view}) to {png_path}")
        if out is not None or frame is None:
            out_path = out or stem.with_name(f"{stem.name}_overlay.mp4")
            n_frames = write_overlay(video_path, keypoints, out_path, max_side)
            console.print(f"wrote {n_frames} frames of {sample} ({chosen_view}) with its skeleton to {out_path}")
    except SampleError as err:
        console.print(f"[red]{escape(err.detail)}[/]")
        raise typer.Exit(1)


@app.command()
def predict(
    target: Annotated[str, typer.Argument(help="A built set (<set_id>), one sample (<set_id>/<sample_id>), or a keypoints table (a .parquet file).")],
    rev: Annotated[str | None, typer.Option(help="The version whose models predict: a published tag, any git revision, or 'workspace' (default: the latest published tag).")] = None,
    repo: RepoOption = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Also write the predictions to this Parquet file.")] = None,
) -> None:
    """Apply a version's models to samples already built (or to a keypoints table): one row
    per sample. Runs nothing else and does not take the project lock."""
    from formset import models as inference
    from formset.pull import PullError
    from formset.quarantine import StageSkipped

    try:
        with _dvc_clones():
            models = inference.load(rev, repo)
        samples = None
        if target.endswith(".parquet"):
            if not Path(target).is_file():
                raise typer.BadParameter(f"{target} is not a file: give a keypoints table as a Parquet file")
            predictions, rejections = models.predict_keypoints(inference.read_keypoints(target))
        else:
            features, samples = _built_inputs(_project(), target)
            predictions, rejections = models.predict(features, samples), []
    except (PullError, gitops.GitError, StageSkipped) as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(1)
    for r in rejections:
        console.print(f"[yellow]{escape(f'{r.set_id}/{r.sample_id}')}: not predicted, {r.reason}: {escape(r.detail)}[/]")
    note = inference.person_normalization_note(predictions, samples, models.train_params.person_normalization)
    if note:
        console.print(f"[yellow]{escape(note)}[/]")
    if out is not None:
        predictions.to_parquet(out, index=False)
        console.print(f"wrote {len(predictions)} predictions to {out}")
    print_predictions(predictions, models.rev)


def _built_inputs(project: Project, target: str) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """The features (validation's gate passed) and catalog rows of a built set or sample;
    an exit saying why when there are none."""
    from formset.flows.stages.partitions import gated_features
    from formset.storage import read_table

    set_id, _, sample_id = target.partition("/")
    if sample_id:
        _built_sample(project, target)
    features = gated_features(project, set_id) if (project.path(catalog.FEATURES) / f"{set_id}.parquet").exists() else None
    if features is not None and sample_id:
        features = features[features["sample_id"] == sample_id]
    if features is None or features.empty:
        console.print(f"[red]{escape(target)} has no features in the last build: run `formset run`, and see `formset quarantine`[/]")
        raise typer.Exit(1)
    return features, read_table(project.path(catalog.SAMPLES) / f"{set_id}.parquet", catalog.SAMPLES.schema)


def print_predictions(predictions: "pd.DataFrame", rev: str) -> None:
    """One line per sample: its exercise, views, p(incorrect) and the verdict, the exercise
    recognized and the faults found, where the version has those models (`-o` writes every
    column)."""
    from formset.schemas.vocab import FAULTS

    faults = [f for f in FAULTS if f in predictions.columns]
    recognized = "predicted_exercise" in predictions.columns
    table = Table("sample", "exercise", "views", "p(incorrect)", "verdict", *(["recognized"] if recognized else []),
                  *(["faults"] if faults else []), box=box.SIMPLE_HEAD, show_edge=False,
                  title=f"predictions of the models of {rev}")  # fmt: skip
    for row in predictions.to_dict("records"):
        cells = [escape(f"{row['set_id']}/{row['sample_id']}"), escape(row["exercise"]) or "-", str(row["n_views"]),
                 f"{row['p_incorrect']:.3f}", row["predicted"]]  # fmt: skip
        if recognized:
            cells.append(f"{escape(row['predicted_exercise'])} ({row['p_exercise']:.2f})")
        if faults:
            cells.append(", ".join(f.removeprefix("fault_") for f in faults if row[f] == 1) or "-")
        table.add_row(*cells)
    console.print(table)


@app.command()
def report(
    sample: Annotated[str | None, typer.Argument(help="The sample, as <set_id>/<sample_id> (e.g. real-squat/squat_side).")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output .html (default: reports/<set_id>/<sample_id>.html); with --all, the folder (default: reports/).")] = None,
    all_samples: Annotated[bool, typer.Option("--all", help="Write every recording's report and a dataset page linking them.")] = False,
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
    set_id, sample_id = _built_sample(project, sample)
    text = recording_html(project, ReportTables.load(project, set_id), set_id, sample_id)
    path = write_html(text, out or project.reports_dir / set_id / f"{sample_id}.html")
    console.print(f"wrote the report of {sample} to {path}")


@app.command()
def analyze(
    recording: Annotated[Path, typer.Argument(help="A video, a Kinect CSV, or a folder of OpenPose JSON frames.")],
    exercise: Annotated[str, typer.Option(help="The exercise (a name of params.yaml: exercises), or auto for the version's exercise model.")] = "auto",
    view: Annotated[str, typer.Option(help="The camera: front | diagonal | side (a Kinect CSV is kinect).")] = "front",
    rev: Annotated[str | None, typer.Option(help="The published version whose models and references judge it (default: the latest tag; workspace: this project's working tree).")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for result.json, overlay.mp4 and report.html.")] = Path("analysis"),
    fps: Annotated[float, typer.Option(help="Frame rate of a Kinect CSV or OpenPose folder (videos carry theirs).")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json instead of the table.")] = False,
) -> None:
    """Analyze one recording with the pipeline's stages and a published version's models; nothing is added to the datasets."""
    from formset.analyze import AnalysisRefused, load_version
    from formset.analyze import analyze as run_analysis

    project = _project()
    if not recording.exists():
        console.print(f"[red]{escape(str(recording))} does not exist[/]")
        raise typer.Exit(2)
    version = load_version(rev, str(project.root))
    try:
        result = run_analysis(recording, out, project.params(), version, view=view, exercise=exercise, fps=fps)
    except AnalysisRefused as refused:
        console.print(f"[red]cannot analyze {escape(recording.name)} ({refused.reason}): {escape(refused.detail)}[/]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(analysis_table(result))
    console.print(f"wrote {', '.join(str(out / f) for f in ['result.json', *result['files'].get('overlay', []), 'report.html'])}")


def analysis_table(result: dict) -> Table:
    """The short summary ``formset analyze`` prints."""
    model, dtw, joint = result["model"], result["dtw"], result["worst_joint"]
    table = Table(show_header=False, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_row("recording", escape(f"{result['recording']} ({result['view']} view, {result['source']})"))
    recognised = "" if result["exercise_probability"] is None else f" (recognised, p {result['exercise_probability']:.2f})"
    table.add_row("exercise", escape(result["exercise"] + recognised))
    reps = ", ".join(f"{r['start_s']:.1f}-{r['bottom_s']:.1f}-{r['end_s']:.1f} s" for r in result["reps"])
    table.add_row("reps", f"{result['rep_count']}" + (f" (start-bottom-end: {reps})" if reps else f" ({escape(result['detail'])})"))
    table.add_row("tempo", escape(result["tempo"]["sentence"]))
    table.add_row("model", f"{model['predicted']} (p {model['p_' + model['predicted']]:.2f})" if model["available"] else escape(model["why"]))
    if model["available"] and model["faults"]:
        likely = [f"{words} ({p:.2f})" for words, p in sorted(model["faults"].items(), key=lambda f: -f[1]) if p >= 0.5]
        table.add_row("faults", escape(", ".join(likely) or "none likely (every fault below 0.5)"))
    distance = "" if dtw["distance"] is None else f" (DTW {dtw['distance']:.2f}, threshold {dtw['threshold'] if dtw['threshold'] is None else round(dtw['threshold'], 2)}, {dtw['references']} references)"
    table.add_row("DTW", f"{dtw['said']}{distance}")
    if joint["dtw"] or joint["cluster"]:
        table.add_row("worst joint", f"DTW {joint['dtw'] or '-'}, clusters {joint['cluster'] or '-'}")
    table.add_row("version", escape(f"{result['version']['dataset_version']}; code {result['code_version']}"))
    return table


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. 127.0.0.1 (default) is this machine only; 0.0.0.0 opens the service to the network, with no login: anyone who reaches it can upload videos.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    rev: Annotated[str | None, typer.Option(help="The published version whose models and references judge uploads (default: the latest tag; workspace: the working tree).")] = None,
) -> None:
    """A web page and an API that analyze uploaded videos (formset analyze, in a bounded worker pool)."""
    import uvicorn

    from formset.serve.app import create_app

    project = _project()
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning: listening on {host}: anyone who can reach this machine can upload videos and read results[/]")
    uvicorn.run(create_app(project, rev), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    app()
