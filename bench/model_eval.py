"""Leave-people-out cross-validation of every model family on real and synthetic data.

    python bench/model_eval.py                       # every family, params.yaml's mode, fusion, person normalization
    python bench/model_eval.py --datasets uiprmd --models minirocket --person none,rank --incorrect-kept 10,2,0
    python bench/model_eval.py --models minirocket --modes input,per_exercise
    python bench/model_eval.py --datasets uiprmd --cache /tmp/model-eval
    python bench/model_eval.py --tasks exercise,faults --models none   # recognition and fault heads only
    make model-eval    # minirocket and kinematic, each execution alone and ranked by person, views averaged and fused

Datasets:
- ``uiprmd``: UI-PRMD (Vakanski, Jun, Paul, Baker: "A Data Set of Human Body Movements for
  Physical Rehabilitation Exercises", Data 3(1):2, 2018), movements 2-10, 10 people, 1,800
  one-repetition Kinect samples, read from ``../shared/data/uiprmd-dev.tar.gz`` beside the
  repository (skipped, saying so, where it is absent);
- ``synthetic``: the **synthetic** demo set of ``formset sample`` (24 simulated people, squats
  and push-ups, three views), generated here.

Each is read and normalized with the stages' own functions and ``params.yaml`` (no Prefect,
no validation quarantine), then for every family x exercise mode the train stage's
cross-validation runs (``tasks.train.cross_validate``, ``train.cv_folds`` folds by person).
``--body-frame false,true`` compares the inputs as they are with the body-frame inputs
(``train.body_frame``, ``tasks/learning/body.py``: each execution's own rest posture and body frame).
``--fusions average,fused`` compares the ways views meet (``train.view_fusion``; the
synthetic set only, UI-PRMD has one view) and ``--person none,center,rank`` each execution
alone against read among the same person's executions (``train.person_normalization``), on
the same folds. ``--incorrect-kept 10,5,2,0`` asks what that reading assumes: each held-out
person delivers all their correct executions of an exercise and only that many incorrect
ones (the first by sample id), and the accuracy on the executions delivered is printed,
correct and incorrect apart.
The table: accuracy mean ± std over folds, the mean and the minimum of the per-movement
accuracies, ROC AUC, and the seconds of the whole cross-validation. Targets on UI-PRMD:
mean over the 9 movements >= 0.95, no movement below 0.90, the CV within 10 minutes.

``--tasks`` adds exercise recognition (``tasks.exercise.recognize_exercises``, every
sample; targets: UI-PRMD >= 0.98, synthetic 1.0) and the fault heads
(``tasks.faults.evaluate_faults``, labeled samples; target: synthetic macro F1 >= 0.8),
each leave-people-out with the train stage's folds and ``params.yaml``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tarfile
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from formset.params import Params, TrainParams
from formset.params import load as load_params
from formset.quarantine import StageSkipped
from formset.tasks.exercise import recognize_exercises
from formset.tasks.faults import evaluate_faults
from formset.tasks.ingest import ingest_set
from formset.tasks.keypoints import assemble_samples, read_view_outcome, source_columns
from formset.tasks.learning.families import EXERCISE_MODES, MODEL_FAMILIES, PERSON_NORMALIZATIONS, VIEW_FUSIONS, fit_model
from formset.tasks.learning.folds import label_folds
from formset.tasks.learning.sequences import Sequences, build_sequences
from formset.tasks.normalize import features_for_samples
from formset.tasks.synthetic import generator as synthetic
from formset.tasks.train import cross_validate, summarize_folds

REPO = Path(__file__).resolve().parent.parent
UIPRMD_ARCHIVE = REPO.parent / "shared" / "data" / "uiprmd-dev.tar.gz"
DATASETS = ("uiprmd", "synthetic")
#: Targets on UI-PRMD: mean per-movement accuracy, lowest movement, CV seconds.
TARGET_MEAN, TARGET_MIN, TARGET_SECONDS = 0.95, 0.90, 600.0
#: Targets of exercise recognition (accuracy) per dataset, and of the fault heads (macro F1).
TARGET_EXERCISE = {"uiprmd": 0.98, "synthetic": 1.0}
TARGET_FAULT_F1 = 0.8
TASKS = ("classifier", "exercise", "faults")


def cpu_name() -> str:
    """The processor's model name (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def read_features(set_dir: Path, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(samples, features)`` of one set, through ingest, keypoints and normalize."""
    # The one step that adds a delivery's new exercises: they join params.yaml's list.
    exercises = [*params.exercises, *pd.read_csv(set_dir / "samples.csv")["exercise"].unique()]
    samples = ingest_set(set_dir, exercises).samples
    outcomes = {
        sample["sample_id"]: {
            view: read_view_outcome(sample, column, set_dir, params.keypoints, None)
            for view, column in source_columns(sample).items()
        }
        for sample in samples.to_dict("records")
    }
    keypoints, _ = assemble_samples(samples, outcomes)
    features, _ = features_for_samples(keypoints, params.normalize)
    return samples, features


def dataset(name: str, work: Path, params: Params) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A dataset's ``(samples, features)``, cached as Parquet under ``work``; None when absent."""
    cached = work / f"{name}-samples.parquet", work / f"{name}-features.parquet"
    if all(path.is_file() for path in cached):
        return pd.read_parquet(cached[0]), pd.read_parquet(cached[1])
    if name == "uiprmd":
        if not UIPRMD_ARCHIVE.is_file():
            print(f"uiprmd: skipped, {UIPRMD_ARCHIVE} is absent (clone the repository beside shared/)")
            return None
        with tarfile.open(UIPRMD_ARCHIVE) as archive:
            archive.extractall(work, filter="data")
        set_dir = work / "uiprmd-dev"
    else:
        set_dir = work / "synthetic-demo"
        synthetic.generate_set(set_dir, set_id="synthetic-demo", n_subjects=24, seed=0)
    samples, features = read_features(set_dir, params)
    samples.to_parquet(cached[0])
    features.to_parquet(cached[1])
    return samples, features


def evaluate(seqs: Sequences, params: TrainParams) -> dict:
    """The cross-validation's metrics and its seconds (``seconds``)."""
    start = time.perf_counter()
    predictions, sequence_correct = cross_validate(seqs, params)
    seconds = time.perf_counter() - start
    return {**summarize_folds(predictions, sequence_correct, params), "seconds": seconds}


def recognition_line(name: str, samples: pd.DataFrame, features: pd.DataFrame, params: Params) -> str:
    """Exercise recognition's leave-people-out figures on one dataset, against its target."""
    start = time.perf_counter()
    metrics = recognize_exercises(build_sequences(features, samples, params.train, labeled_only=False), params.train, params.recognition).metrics
    seconds = time.perf_counter() - start
    target = TARGET_EXERCISE[name]
    weakest = min(metrics["per_exercise"], key=lambda e: metrics["per_exercise"][e]["recall"])
    return (f"{name} exercise recognition: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f} over "
            f"{metrics['folds']} folds, {metrics['n_samples']} samples, weakest {weakest} "
            f"{metrics['min_exercise_recall']:.3f}, {seconds:.0f} s (target {target}): "
            f"{'met' if metrics['accuracy'] >= target else 'NOT met'}")  # fmt: skip


def fault_lines(name: str, samples: pd.DataFrame, features: pd.DataFrame, params: TrainParams) -> list[str]:
    """The fault heads' leave-people-out figures per fault on one dataset."""
    start = time.perf_counter()
    try:
        metrics = evaluate_faults(build_sequences(features, samples, params), samples, params).metrics
    except StageSkipped as skip:
        return [f"{name} fault heads: skipped, {skip.reason}"]
    seconds = time.perf_counter() - start
    lines = [f"{name} fault heads ({metrics['n_samples']} samples, {metrics['folds']} folds, {seconds:.0f} s):"]
    for fault, f in metrics["per_fault"].items():
        auc = "-" if f["auc"] is None else f"{f['auc']:.3f}"
        lines.append(f"  {fault:22s} precision {f['precision']:.3f} recall {f['recall']:.3f} F1 {f['f1']:.3f} "
                     f"AUC {auc} support {f['support']} of {f['n_known']}")  # fmt: skip
    macro = metrics["macro_f1"]
    lines.append(f"  macro F1 {macro:.3f} (target {TARGET_FAULT_F1}): {'met' if macro >= TARGET_FAULT_F1 else 'NOT met'}")
    return lines


def incorrect_kept_line(name: str, seqs: Sequences, params: TrainParams, kept: int) -> str:
    """Leave-people-out accuracy when each held-out person delivers all their correct
    executions of an exercise and only ``kept`` incorrect ones (by sample id): what reading
    an execution among the same person's others (``train.person_normalization``) assumes."""
    fold = label_folds(seqs.subject, seqs.exercise, seqs.y, params.cv_folds, params.seed)
    incorrect = pd.DataFrame({"subject": seqs.subject, "exercise": seqs.exercise, "sample": seqs.sample_id})[seqs.y == 1]
    first = incorrect.drop_duplicates().sort_values("sample").groupby(["subject", "exercise"]).head(kept)["sample"]
    delivered = (seqs.y == 0) | np.isin(seqs.sample_id, first.to_numpy())
    right = np.zeros(len(fold), dtype=bool)
    for number in np.unique(fold):
        test_rows = np.flatnonzero((fold == number) & delivered)
        p = fit_model(seqs, np.flatnonzero(fold != number), params).predict(seqs, test_rows)
        right[test_rows] = (p >= 0.5) == (seqs.y[test_rows] == 1)
    per_movement = pd.Series(right[delivered]).groupby(seqs.exercise[delivered]).mean()
    correct, wrong = delivered & (seqs.y == 0), delivered & (seqs.y == 1)
    called = f"{right[wrong].mean():.3f}" if wrong.any() else "-"
    return (f"{name} {params.model}/{params.person_normalization}, {kept} incorrect kept per person x exercise: "
            f"accuracy {right[delivered].mean():.3f} over {delivered.sum()} sequences (correct ones called correct "
            f"{right[correct].mean():.3f}, incorrect called incorrect {called}), weakest movement "
            f"{per_movement.idxmin()} {per_movement.min():.3f}")  # fmt: skip


def row(dataset_name: str, metrics: dict, fusion: str, person: str) -> dict:
    per_movement = [e["accuracy"] for e in metrics["per_exercise"].values()]
    return {
        "dataset": dataset_name, "model": metrics["model"], "exercise_mode": metrics["exercise_mode"], "views": fusion,
        "person": person,
        "folds": metrics["folds"], "accuracy": f"{metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f}",
        "movement_mean": round(float(np.mean(per_movement)), 3), "movement_min": round(min(per_movement), 3),
        "weakest": min(metrics["per_exercise"], key=lambda e: metrics["per_exercise"][e]["accuracy"]),
        "auc": round(metrics["auc"], 3) if metrics["auc"] is not None else None,
        "seconds": round(metrics["seconds"], 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_FAMILIES))
    parser.add_argument("--modes", default=None, help="exercise modes (default: params.yaml's train.exercise_mode)")
    parser.add_argument("--fusions", default=None, help="view fusions (default: params.yaml's train.view_fusion)")
    parser.add_argument("--person", default=None,
                        help=f"person normalizations, any of {','.join(PERSON_NORMALIZATIONS)} "
                             "(default: params.yaml's train.person_normalization)")
    parser.add_argument("--incorrect-kept", default=None,
                        help="also: held-out people deliver only this many incorrect executions per exercise, e.g. 10,2,0")
    parser.add_argument("--body-frame", default=None,
                        help="body-frame inputs, any of false,true (default: params.yaml's train.body_frame)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--cache", type=Path, default=None, help="keep the datasets' features here between runs")
    parser.add_argument("--per-movement", action="store_true", help="also print each movement's accuracy")
    parser.add_argument("--tasks", default="classifier", help=f"any of {', '.join(TASKS)} (default: classifier)")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    modes = args.modes.split(",") if args.modes else [params.train.exercise_mode]
    unknown = set(modes) - set(EXERCISE_MODES)
    if unknown:
        parser.error(f"unknown exercise modes {sorted(unknown)}: use {', '.join(EXERCISE_MODES)}")
    fusions = args.fusions.split(",") if args.fusions else [params.train.view_fusion]
    persons = args.person.split(",") if args.person else [params.train.person_normalization]
    if set(persons) - set(PERSON_NORMALIZATIONS):
        parser.error(f"unknown person normalizations {sorted(set(persons) - set(PERSON_NORMALIZATIONS))}: "
                     f"use {', '.join(PERSON_NORMALIZATIONS)}")  # fmt: skip
    kept_counts = [int(k) for k in args.incorrect_kept.split(",")] if args.incorrect_kept else []
    bodies = ([yaml.safe_load(b) for b in args.body_frame.split(",")] if args.body_frame
              else [params.train.body_frame])  # fmt: skip
    if set(fusions) - set(VIEW_FUSIONS):
        parser.error(f"unknown view fusions {sorted(set(fusions) - set(VIEW_FUSIONS))}: use {', '.join(VIEW_FUSIONS)}")
    print(f"{date.today()}, {cpu_name()}, {os.cpu_count()} cores, train.threads {params.train.threads}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    tasks = args.tasks.split(",")
    models = [m for m in args.models.split(",") if m != "none"] if "classifier" in tasks else []
    rows, per_movement, extra = [], {}, []
    with tempfile.TemporaryDirectory(prefix="model-eval-") as scratch:
        work = args.cache or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.datasets.split(","):
            start = time.perf_counter()
            data = dataset(name, work, params)
            if data is None:
                continue
            samples, features = data
            print(f"{name}: {samples['subject_id'].nunique()} people, {len(samples)} samples, "
                  f"read in {time.perf_counter() - start:.0f} s")  # fmt: skip
            if "exercise" in tasks:
                extra.append(recognition_line(name, samples, features, params))
                print("  ", extra[-1], flush=True)
            if "faults" in tasks:
                lines = fault_lines(name, samples, features, params.train)
                extra.extend(lines)
                print("\n".join(lines), flush=True)
            # One view only (UI-PRMD's Kinect): nothing to fuse, fused is averaging.
            set_fusions = fusions if features["view"].nunique() > 1 else [params.train.view_fusion]
            for model in models:
                for mode in modes:
                    for fusion, person, body in [(f, p, b) for f in set_fusions for p in persons for b in bodies]:
                        train = replace(params.train, model=model, exercise_mode=mode, view_fusion=fusion,
                                        person_normalization=person, body_frame=body)  # fmt: skip
                        seqs = build_sequences(features, samples, train)
                        metrics = evaluate(seqs, train)
                        rows.append({**row(name, metrics, fusion, person), "body_frame": body})
                        for kept in kept_counts:
                            extra.append(incorrect_kept_line(name, seqs, train, kept))
                            print("  ", extra[-1], flush=True)
                        per_movement[(name, model, mode, fusion, person, body)] = {
                            e: round(v["accuracy"], 3) for e, v in metrics["per_exercise"].items()
                        }
                        print("  ", rows[-1], flush=True)
    print("\n".join(extra))
    if not rows:
        return
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False))
        if args.per_movement:
            print(pd.DataFrame(per_movement).to_string())
    print(f"load average {os.getloadavg()[0]:.1f} (seconds depend on what else runs on the machine)")
    real = table[table["dataset"] == "uiprmd"]
    for item in real.itertuples():
        met = item.movement_mean >= TARGET_MEAN and item.movement_min >= TARGET_MIN and item.seconds <= TARGET_SECONDS
        print(f"uiprmd {item.model}/{item.exercise_mode}/{item.views}/person {item.person}/"
              f"{'body frame' if item.body_frame else 'positions'}: movements mean {item.movement_mean:.3f} (target {TARGET_MEAN}), "
              f"min {item.movement_min:.3f} (target {TARGET_MIN}), {item.seconds:.0f} s (target {TARGET_SECONDS:.0f}): "
              f"{'met' if met else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
