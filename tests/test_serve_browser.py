"""``formset serve`` as a person uses it: the real server, a real headless browser, the real video;
then as a hostile client: uploads beyond the queue, videos with nobody in them, a client
that hangs up halfway through its upload.

The browser is Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it)
driven by Playwright. Without one the test is skipped, saying so loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REAL_VIDEO, REPO, project_env

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
#: Where the test leaves its screenshot (the test's output), beside pytest's temporary folders.
SCREENSHOT = "page.png"


def chromium() -> str | None:
    for candidate in (os.environ.get("FORMSET_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def server(tmp_path):
    """``formset serve`` on a free port, in a project without a published version."""
    root = tmp_path / "project"
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # Every other frame, at most 480 px: half the pose model's work and a quarter of the
    # overlay's pixels, and still the video's 2 reps (the squat lasts ~3 s: 45 frames each).
    params["keypoints"].update(video_stride=2, video_max_side=480)
    params["serve"].update(workers=1, max_queue=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "formset.cli", "serve", "--port", str(port)],
                               cwd=root, env=project_env(root), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 60)
        yield f"http://127.0.0.1:{port}", root
    finally:
        process.terminate()
        process.wait(10)
        print((tmp_path / "server.log").read_text()[-3000:])


def upload(base: str, data: bytes) -> tuple[int, dict, dict]:
    """POST a video as the page does: ``(status, JSON body, headers)``."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"exercise\"\r\n\r\nsquat\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"../../clip.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
    request = urllib.request.Request(f"{base}/api/analyze", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def finished(base: str, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = json.loads(urllib.request.urlopen(f"{base}/api/jobs/{job_id}").read())
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


def hang_up_mid_upload(base: str) -> None:
    """Declare a 1 MB upload, send 2 kB of it, and close the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                           b"Content-Length: 1048576\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"video\"; "
                           b"filename=\"a.mp4\"\r\n\r\n" + b"\0" * 2048)  # fmt: skip


@pytest.mark.slow
def test_the_page_analyzes_the_real_squat_and_the_api_withstands_hostile_clients(server, tmp_path):
    base, root = server
    executable = chromium()
    if executable is None:
        pytest.skip("NO BROWSER: chromium is not installed (apt-get install chromium); the page was NOT tested in a browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="NO BROWSER DRIVER: playwright is not installed")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)  # a fresh profile each launch
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(base)
            page.wait_for_selector("#exercise option[value=squat], #exercise option:text-is('squat')", state="attached")
            page.set_input_files("#video", str(REAL_VIDEO))
            page.select_option("#exercise", "squat")
            page.select_option("#view", "side")
            page.click("#go")
            page.wait_for_selector("#progress:not([hidden])")
            page.wait_for_function("location.hash.length > 1")
            page.reload()  # the job survives a reload of the page
            page.wait_for_selector("#answer:not([hidden])", timeout=120_000)
            assert page.locator("#reps tbody tr").count() == 2
            assert page.locator("#cards .card b").first.inner_text() == "2"
            assert "no comparable references" in page.locator("#cards").inner_text()
            page.wait_for_function("document.getElementById('overlay').currentTime > 0.5", timeout=20_000)
            assert page.evaluate("document.getElementById('overlay').videoWidth") == 270  # 1080 x 608 at 480 px
            page.screenshot(path=str(tmp_path / SCREENSHOT))
        finally:
            browser.close()
    assert (tmp_path / SCREENSHOT).stat().st_size > 10_000

    # A client hanging up halfway through its upload: nothing is left, the server answers.
    jobs_dir = root / ".formset" / "serve" / "jobs"
    before = sorted(jobs_dir.iterdir())
    hang_up_mid_upload(base)
    health = json.loads(urllib.request.urlopen(f"{base}/api/health").read())
    assert health == {"status": "ok", "workers": 1, "pending": 0, "max_queue": 1}
    assert sorted(jobs_dir.iterdir()) == before

    # More uploads at once than 1 worker + 1 queued: the rest get 503; nobody is in these
    # synthetic videos (8 s of grey frames), and the accepted ones say so.
    from test_serve import synthetic_video

    nobody = synthetic_video(tmp_path / "nobody.mp4", seconds=8.0, size=96).read_bytes()
    with ThreadPoolExecutor(5) as clients:
        answers = list(clients.map(lambda _: upload(base, nobody), range(5)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [202, 202, 503, 503, 503]
    assert all(headers["retry-after"] == "30" and body["reason"] == "queue_full" for status, body, headers in answers if status == 503)
    for status, body, _ in answers:
        if status == 202:
            job = finished(base, body["id"])
            assert job["status"] == "failed"
            assert (job["error"]["status_code"], job["error"]["reason"]) == (422, "no_person_detected")
    assert not list(root.glob("**/clip.mp4")), "the client's file name is never used"
