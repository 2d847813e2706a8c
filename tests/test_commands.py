"""The commands people read results with, run as commands on one built project: `formset card`,
`formset quarantine`, `formset report` and `formset overlay`.

The project holds a generated set of one person (so training and the comparison with other
people skip, and say why) with one sample whose Kinect file is missing, and the bundled real
video (`samples/real-squat`, every second frame at 480 px, so that the build stays short),
built once by `formset run`."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, formset, make_project

from formset.schemas import tables
from formset.storage import read_table

pytestmark = pytest.mark.slow

REAL = "real-squat/squat_side"


def flat(text: str) -> str:
    """``text`` with every run of whitespace one space: rich wraps lines at the terminal width."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, str]:
    """The built project and the id of the sample quarantined for its missing Kinect file."""
    root = make_project(tmp_path_factory.mktemp("commands") / "project", subjects=1)
    shutil.copytree(REPO / "samples" / "real-squat", root / "data" / "sets" / "real-squat")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["keypoints"].update(video_stride=2, video_max_side=480)  # the test's time, not the method
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    samples_csv = root / "data" / "sets" / "synthetic-demo" / "samples.csv"
    with samples_csv.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    rows[0]["kinect_csv"] = "kinect/not_there.csv"
    with samples_csv.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    formset(root, "run")
    return root, rows[0]["sample_id"]


def test_card_shows_the_built_dataset_and_the_stages_that_skipped(project):
    root, _ = project
    card = json.loads((root / "data" / "quality" / "dataset_card.json").read_text())
    shown = flat(formset(root, "card", columns=400).stdout)
    assert "Data Docs: data/quality/docs/index.html" in shown
    for set_id in ("synthetic-demo", "real-squat"):
        assert set_id in shown
    assert "missing_file" in shown  # the quarantine section, by reason
    train = json.loads((root / "metrics" / "train.json").read_text())["skipped"]
    assert train.startswith("the labeled samples come from one person")
    assert f"train skipped in this build: {train}" in shown
    assert card["validation"]["passed_critical"] is True


def test_quarantine_lists_the_sample_whose_file_is_missing_and_how_to_fix_it(project):
    root, missing = project
    listing = formset(root, "quarantine", columns=250).stdout
    rows = [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in listing.splitlines()]
    assert [
        f"synthetic-demo/{missing}", "ingest / missing_file",
        f"row 2 (sample_id '{missing}'), column 'kinect_csv': 'kinect/not_there.csv' does not exist in the set folder",
        "copy the file into the set folder, or correct its path in samples.csv",
    ] in rows  # fmt: skip
    assert "real-squat/squat_side" not in listing


def test_report_of_the_real_video_writes_its_page_and_says_where(project):
    root, _ = project
    run = formset(root, "report", REAL, columns=400)  # the path on one line
    path = root / "reports" / "real-squat" / "squat_side.html"
    assert flat(run.stdout) == f"wrote the report of {REAL} to {path}"
    page = path.read_text()
    assert "<h1>" in page and "squat_side" in page
    recordings = read_table(root / "data" / "reps" / "recordings", tables.RECORDINGS)
    primary = recordings[(recordings["sample_id"] == "squat_side") & recordings["primary_view"]]
    assert primary["rep_count"].tolist() == [2]
    assert page.count("data:image/png;base64,") + page.count("<svg") >= 2  # frames and curves, inline


def test_report_of_every_recording_links_each_from_the_dataset_page(project, tmp_path):
    root, missing = project
    run = formset(root, "report", "--all", "-o", str(tmp_path / "site"), columns=400)
    index = tmp_path / "site" / "index.html"
    assert flat(run.stdout) == f"wrote the reports and the dataset page {index}"
    samples = read_table(root / "data" / "catalog" / "samples", tables.SAMPLES)
    links = set(re.findall(r'<a href="([^"]+)">', index.read_text()))
    expected = {f"{s.set_id}/{s.sample_id}.html" for s in samples.itertuples()}
    assert expected <= links and all((tmp_path / "site" / link).is_file() for link in expected)
    assert f"synthetic-demo/{missing}.html" not in links  # quarantined at ingest: not in the catalog


def test_overlay_draws_the_skeleton_on_a_frame_of_the_real_video(project):
    pytest.importorskip("cv2")
    import cv2

    root, _ = project
    run = formset(root, "overlay", REAL, "--frame", "300", columns=400)
    png = root / "reports" / "real-squat" / "squat_side_side_frame300.png"
    assert flat(run.stdout) == f"wrote frame 300 of {REAL} (side) to {png}"
    drawn = cv2.imread(str(png))
    assert drawn is not None and drawn.shape[:2] == (1080, 608)
    capture = cv2.VideoCapture(str(root / "data" / "sets" / "real-squat" / "squat_side.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, raw = capture.read()
    capture.release()
    assert ok and np.abs(drawn.astype(int) - raw.astype(int)).max() > 100  # something was drawn on it


def test_overlay_of_a_quarantined_sample_says_why(project):
    root, missing = project
    run = formset(root, "overlay", f"synthetic-demo/{missing}", check=False)
    assert run.returncode == 1
    assert "missing_file" in flat(run.stdout) or "quarantined" in flat(run.stdout)
