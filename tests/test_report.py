"""HTML reports: a recording with reps, one without, and the dataset page."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULTS

from formset.schemas import tables
from formset.tasks.cluster import fit_joint_clusters, score_samples
from formset.tasks.compare import compare_executions, rep_joint_scores
from formset.tasks.render.report import RecordingData, image_tag, render_index, render_recording
from formset.tasks.reps import reps_for_samples

PARAMS = DEFAULTS
TEMPO = PARAMS.reps.tempo


@pytest.fixture(scope="module")
def built(generated_features):
    samples, features, _ = generated_features
    quarantine = tables.QUARANTINE.empty_table().to_pandas()
    kinematics, reps, recordings = reps_for_samples(features, samples, quarantine, PARAMS.reps)
    distances, verdicts, metrics = compare_executions(features, kinematics, samples, PARAMS.compare)
    clusters = fit_joint_clusters(features, samples, PARAMS.cluster)
    rep_scores = rep_joint_scores(features, kinematics, samples, clusters, PARAMS.cluster.max_distance)
    joint_scores = score_samples(features, samples, clusters, PARAMS.cluster)
    return {"samples": samples, "recordings": recordings, "reps": reps, "kinematics": kinematics,
            "verdicts": verdicts, "distances": distances, "rep_scores": rep_scores,
            "joint_scores": joint_scores, "quarantine": quarantine, "metrics": metrics}  # fmt: skip


def data_of(built: dict, sample_id: str) -> RecordingData:
    rows = {name: frame[frame["sample_id"] == sample_id] for name, frame in built.items()
            if name not in ("samples", "metrics")}  # fmt: skip
    sample = built["samples"].set_index("sample_id", drop=False).loc[sample_id]
    return RecordingData(sample=sample, **rows)


def svg_texts(html_text: str) -> str:
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", html_text))


def test_report_of_a_recording_has_titled_plots_with_axes_and_units(built):
    samples = built["samples"]
    incorrect = samples.loc[(samples["label"] == "incorrect") & (samples["exercise"] == "squat"), "sample_id"].iloc[0]
    page = render_recording(data_of(built, incorrect), TEMPO)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 4
    texts = svg_texts(page)
    for expected in ("Rep signal over time", "time (s)", "height (torso lengths)", "Joint angles", "angle (degrees)",
                     "Moment arms", "distance (torso lengths)", "Duration per rep", "duration (s)", "Depth per rep",
                     "DTW distance per rep", "learned threshold", "Per-joint score per rep", "score (0-1)"):  # fmt: skip
        assert expected in texts, expected
    assert "incorrect" in page and "faults:" in page
    recording = built["recordings"].query("sample_id == @incorrect and primary_view").iloc[0]
    assert recording["tempo_feedback"] in page
    assert not re.search(r'(src|href)="https?:', page)  # self-contained


def test_recording_without_reps_says_why(built):
    sample_id = built["samples"]["sample_id"].iloc[0]
    data = data_of(built, sample_id)
    data.recordings = pd.DataFrame([{**data.recordings.iloc[0].to_dict(), "view": None, "status": "no_keypoints",
                                     "detail": "no keypoints reached this stage (quarantined: no_person)",
                                     "rep_count": 0, "primary_view": True}])  # fmt: skip
    data.reps, data.kinematics = data.reps.iloc[:0], data.kinematics.iloc[:0]
    data.quarantine = pd.DataFrame([{"set_id": "generated", "sample_id": sample_id, "stage": "keypoints",
                                     "reason": "no_person", "detail": "Nobody was found.", "value": None}])  # fmt: skip
    page = render_recording(data, TEMPO)
    assert "No reps found (no_keypoints)" in page and "Nobody was found." in page
    assert "Rep signal over time" not in page


def test_index_links_every_report(built):
    rows = built["samples"][["set_id", "sample_id", "exercise", "label"]].assign(
        status="ok", rep_count=2, labeled_rep_count=2, tempo_feedback="good tempo", distance=0.2,
        beyond_threshold=False, href=lambda f: f["set_id"] + "/" + f["sample_id"] + ".html",
    )  # fmt: skip
    page = render_index(rows, built["metrics"])
    assert page.count('<a href="generated/') == len(rows)
    assert "DTW AUC" in page


def test_images_are_embedded_as_base64_png():
    tag = image_tag(np.zeros((4, 6, 3), dtype=np.uint8), "a frame")
    assert tag.startswith('<img alt="a frame" src="data:image/png;base64,iVBOR')
