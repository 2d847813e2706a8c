"""``formset serve``'s API on hostile input, limits, job ids and expiry (FastAPI's TestClient).

No analysis runs here (no worker process starts): every upload below is refused before it
is queued, and the queue and expiry tests place jobs in the pool themselves. The analysis
itself is tested end to end in ``test_serve_browser.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from formset.analyze import Version
from formset.config import Project
from formset.serve.app import create_app, stored_name
from formset.serve.jobs import DONE, QUEUED, RUNNING, Job, is_job_id, new_job_id

REPO = Path(__file__).resolve().parents[1]
SERVE = {"workers": 1, "max_queue": 1, "max_upload_mb": 0.05, "max_seconds": 2, "keep_hours": 1}


@pytest.fixture
def client(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["serve"].update(SERVE)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    app = create_app(Project(tmp_path), version=Version.empty("synthetic test project: no published version"))
    with TestClient(app) as test_client:
        yield test_client


def synthetic_video(path: Path, seconds: float, fps: float = 10.0, size: int = 32) -> Path:
    """A small synthetic MP4 of grey frames (nobody in it)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for index in range(round(seconds * fps)):
        writer.write(np.full((size, size, 3), 40 + index % 100, np.uint8))
    writer.release()
    return path


def post(client, name: str, data: bytes, **form):
    return client.post("/api/analyze", files={"video": (name, data, "video/mp4")}, data={"exercise": "squat", "view": "side", **form})


def test_the_client_file_name_never_reaches_the_file_system():
    assert stored_name("../../etc/passwd.mp4") == "upload.mp4"
    assert stored_name("clip.MOV") == "upload.mov"
    assert stored_name("run.sh") == "upload"
    assert stored_name(None) == "upload"


def test_job_ids_are_random_and_only_ids_name_folders():
    ids = {new_job_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 22 and is_job_id(i) for i in ids)
    assert not is_job_id("../" + "a" * 19) and not is_job_id("1") and not is_job_id("a" * 23)


def test_an_empty_file_is_refused_with_its_reason(client):
    response = post(client, "empty.mp4", b"")
    assert response.status_code == 422
    assert response.json() == {"reason": "empty_video", "detail": "the uploaded file is empty (0 bytes)"}


def test_a_file_that_is_not_a_video_is_unsupported_media(client):
    response = post(client, "notes.mp4", b"these are not moving pictures\n" * 20)
    assert response.status_code == 415
    assert response.json()["reason"] == "unreadable_video"


def test_a_video_whose_frames_do_not_decode_is_unprocessable(client, tmp_path):
    video = bytearray(synthetic_video(tmp_path / "a.mp4", 1.0).read_bytes())
    start = video.index(b"mdat") + 4  # the frames: an intact container around undecodable data
    end = start - 8 + int.from_bytes(video[start - 8 : start - 4], "big")
    video[start:end] = bytes(end - start)
    response = post(client, "odd.mp4", bytes(video))
    assert response.status_code == 422
    assert response.json()["reason"] == "unreadable_video"


def test_an_mp4_cut_before_its_index_is_unprocessable_and_says_so(client):
    cut = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 8
    response = post(client, "cut.mp4", cut)
    assert (response.status_code, response.json()["reason"]) == (422, "video_truncated")


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(client):
    response = post(client, "big.mp4", b"\x00" * int(0.2 * 2**20))  # 0.2 MB > 0.05 MB
    assert response.status_code == 413
    assert response.json() == {"reason": "upload_too_large", "detail": "the upload is larger than 0 MB (serve.max_upload_mb)"}


def test_a_video_longer_than_max_seconds_is_refused(client, tmp_path):
    video = synthetic_video(tmp_path / "long.mp4", seconds=3.0)
    response = post(client, "long.mp4", video.read_bytes())
    assert response.status_code == 413
    assert response.json() == {
        "reason": "video_too_long", "detail": "the video runs 3.0 s; at most 2 s are analyzed (serve.max_seconds)"
    }
    assert list((Path(client.app.state.project_root) / ".formset/serve/jobs").iterdir()) == [], "refused uploads leave nothing"


def test_unknown_exercise_and_view_are_refused(client):
    assert post(client, "a.mp4", b"x", exercise="cartwheel").json()["reason"] == "unknown_exercise"
    response = post(client, "a.mp4", b"x", view="overhead")
    assert (response.status_code, response.json()["reason"]) == (422, "unknown_view")


def test_a_full_queue_answers_503_with_retry_after(client, tmp_path):
    jobs = client.app.state.pool
    for status in (RUNNING, QUEUED):  # 1 worker busy + 1 waiting = workers + max_queue
        job_id = new_job_id()
        jobs._jobs[job_id] = Job(job_id, tmp_path / job_id, time.time(), status)
    response = post(client, "a.mp4", synthetic_video(tmp_path / "a.mp4", 1.0).read_bytes())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["reason"] == "queue_full"
    assert client.get("/api/health").json() == {"status": "ok", "workers": 1, "pending": 2, "max_queue": 1}


def test_one_job_s_files_are_not_reachable_through_another_s_url(client, tmp_path):
    jobs = client.app.state.pool
    mine, other = new_job_id(), new_job_id()
    for job_id in (mine, other):
        (jobs.jobs_dir / job_id).mkdir()
        jobs._jobs[job_id] = Job(job_id, jobs.jobs_dir / job_id, time.time(), DONE, result={"files": {"report": "report.html"}})
    (jobs.jobs_dir / mine / "report.html").write_text("<p>mine</p>")
    (jobs.jobs_dir / mine / "upload.mp4").write_text("kept by mistake")
    assert client.get(f"/api/jobs/{mine}/files/report.html").text == "<p>mine</p>"
    assert client.get(f"/api/jobs/{other}/files/report.html").status_code == 404
    assert client.get(f"/api/jobs/{mine}/files/upload.mp4").status_code == 404  # not a served file
    assert client.get(f"/api/jobs/{other}/files/..%2F{mine}%2Freport.html").status_code == 404
    assert client.get("/api/jobs/" + "a" * 22).json()["reason"] == "no_such_job"


def test_results_are_removed_after_keep_hours(client):
    jobs = client.app.state.pool
    old, new = new_job_id(), new_job_id()
    for job_id, age_s in ((old, 3601), (new, 3599)):
        (jobs.jobs_dir / job_id).mkdir()
        jobs._jobs[job_id] = Job(job_id, jobs.jobs_dir / job_id, time.time() - age_s, DONE)
    assert jobs.remove_expired() == [old]
    assert not (jobs.jobs_dir / old).exists() and (jobs.jobs_dir / new).is_dir()
    assert client.get(f"/api/jobs/{old}").status_code == 404


def test_version_names_what_judges_the_uploads(client):
    info = client.get("/api/version").json()
    assert info["dataset_version"] == "none" and info["model"] is None and info["references"] == 0
    assert info["notes"] == ["synthetic test project: no published version"]
    assert info["views"] == ["front", "diagonal", "side"] and "squat" in info["exercises"]
    assert "<title>formset – analyze a recording</title>" in client.get("/").text
