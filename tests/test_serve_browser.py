"""``formset serve`` as a person uses it: the real server, a real headless browser, the real video.

The browser is Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it)
driven by Playwright. Without one the test is skipped, saying so loudly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "formset.cli", "serve", "--port", str(port)],
                               cwd=root, env=project_env(root), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        print((tmp_path / "server.log").read_text()[-3000:])


@pytest.mark.slow
def test_the_page_analyzes_the_real_squat_and_plays_its_overlay(server, tmp_path):
    executable = chromium()
    if executable is None:
        pytest.skip("NO BROWSER: chromium is not installed (apt-get install chromium); the page was NOT tested in a browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="NO BROWSER DRIVER: playwright is not installed")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)  # a fresh profile each launch
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server)
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
