"""Rep counting and DTW comparison, evaluated as rep-counting papers report them.

    python bench/rep_count_eval.py                  # a generated known-answer set (default 8 people)
    python bench/rep_count_eval.py --subjects 16    # what `make rep-eval` runs
    python bench/rep_count_eval.py --project .      # a built project: every labeled set with rep_count

Figures: rep-count MAE over the true count (mean of |true - counted| / true, RepCount-A's
"MAE"), the share of recordings off by at most one ("OBO"), the share exact; on generated
sets also the boundary error in frames against the generator's known rep timing, and the DTW
AUC (correct vs incorrect) with the learned thresholds. Counts are those of each sample's
primary view (``params.yaml: reps.view_preference``); the per-view figures follow.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from formset import catalog
from formset.config import Project
from formset.params import load as load_params
from formset.schemas import tables
from formset.storage import read_table
from formset.tasks.compare import compare_executions
from formset.tasks.ingest import ingest_set
from formset.tasks.keypoints import assemble_samples, read_view_outcome, source_columns
from formset.tasks.normalize import features_for_samples
from formset.tasks.reps import count_errors, reps_for_samples
from formset.tasks.synthetic import generator as synthetic

REPO = Path(__file__).resolve().parent.parent
FPS = 15.0


def print_counts(recordings: pd.DataFrame) -> None:
    figures = count_errors(recordings)
    print(f"recordings with a labeled rep count: {figures['n_recordings']}")
    print(f"  rep-count MAE / true count: {figures['mae_over_true']:.3f}")
    print(f"  off by at most one:         {figures['off_by_at_most_one']:.3f}")
    print(f"  exact:                      {figures['exact']:.3f}")
    for view, rows in recordings[recordings["view"].notna()].groupby("view"):
        per_view = count_errors(rows.assign(primary_view=True))
        print(f"  {view:>9} view: MAE/true {per_view['mae_over_true']:.3f}, exact {per_view['exact']:.3f} "
              f"({per_view['n_recordings']} recordings)")  # fmt: skip
    unfound = recordings[recordings["primary_view"] & (recordings["status"] != "ok")]
    for row in unfound.itertuples():
        print(f"  no reps: {row.set_id}/{row.sample_id} ({row.status}: {row.detail})")


def _figure(value: float | None) -> str:
    """Three decimals; '–' for a figure that could not be computed (NaN, or None in JSON)."""
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def print_dtw(metrics: dict) -> None:
    for scope in ("recording", "rep"):
        print(f"DTW per {scope}: mean AUC over exercise x view {_figure(metrics[scope]['auc_mean'])}")
        for group, learned in metrics[scope]["groups"].items():
            print(f"  {group:>18}: AUC {_figure(learned['auc'])}, threshold {_figure(learned['threshold'])}, "
                  f"balanced accuracy {_figure(learned['balanced_accuracy'])} "
                  f"({learned['n_correct']} correct, {learned['n_incorrect']} incorrect)")  # fmt: skip


def boundary_errors(reps: pd.DataFrame, recordings: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Found minus true frame of each rep's start, bottom and end, where the count is exact."""
    exact = recordings[recordings["status"].eq("ok") & recordings["rep_count"].eq(recordings["labeled_rep_count"])]
    rows = []
    for (sample_id, view), found in reps.merge(exact[["sample_id", "view"]]).groupby(["sample_id", "view"]):
        truth = synthetic.rep_frames(plan[sample_id].reps, FPS)
        rows.append(pd.DataFrame({edge: found[f"{edge}_frame"].to_numpy() - truth[edge] for edge in truth}).assign(view=view))
    return pd.concat(rows, ignore_index=True)


def evaluate_generated(subjects: int, seed: int) -> None:
    params = load_params(REPO / "params.yaml")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        set_dir = Path(tmp) / "generated"
        synthetic.generate_set(set_dir, set_id="generated", n_subjects=subjects, fps=FPS, seed=seed)
        samples = ingest_set(set_dir, params.exercises).samples
        outcomes = {s["sample_id"]: {v: read_view_outcome(s, c, set_dir, params.keypoints, None)
                                     for v, c in source_columns(s).items()} for s in samples.to_dict("records")}  # fmt: skip
        keypoints, _ = assemble_samples(samples, outcomes)
    features, _ = features_for_samples(keypoints, params.normalize)
    kinematics, reps, recordings = reps_for_samples(features, samples, tables.QUARANTINE.empty_table().to_pandas(), params.reps)
    _, _, metrics = compare_executions(features, kinematics, samples, params.compare)
    plan = {e.sample_id: e for e in synthetic.plan_set(subjects, ("squat", "push_up"), 6, seed)}
    print(f"generated set: {subjects} people, seed {seed}, {len(samples)} recordings x 3 views, {FPS:g} fps "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    print_counts(recordings)
    errors = boundary_errors(reps, recordings, plan)
    print(f"boundary error, frames at {FPS:g} fps (found - true; {len(errors)} reps over all views):")
    for edge in ("start", "bottom", "end"):
        print(f"  {edge:>6}: mean {errors[edge].mean():+.2f}, mean |error| {errors[edge].abs().mean():.2f}, "
              f"max |error| {errors[edge].abs().max():.2f}")  # fmt: skip
    print_dtw(metrics)


def evaluate_project(root: str) -> None:
    project = Project.find(root)
    recordings = read_table(project.path(catalog.RECORDINGS), tables.RECORDINGS)
    if recordings.empty:
        sys.exit(f"no rep results under {project.path(catalog.REP_TABLES)}: run `formset run` first")
    print(f"project {project.root}")
    print_counts(recordings)
    metrics_file = project.path(catalog.COMPARE_METRICS)
    if metrics_file.is_file():
        print_dtw(json.loads(metrics_file.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=8, help="people in the generated set (12 recordings each)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (the tests use 0)")
    parser.add_argument("--project", help="evaluate a built project's tables instead of a generated set")
    args = parser.parse_args()
    if args.project:
        evaluate_project(args.project)
    else:
        evaluate_generated(args.subjects, args.seed)


if __name__ == "__main__":
    main()
