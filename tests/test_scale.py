"""Scaling out on real engines, each a real local process on 127.0.0.1 (formset.services):

- a Dask cluster (``dask scheduler`` + 2 ``dask worker``) running the keypoints stage, one of
  its workers SIGKILLed while it runs a keypoints task: the stage completes with exactly the
  rows a single-process run gives;
- a SeaweedFS S3 gateway as the DVC remote: a version pushed to it is pulled back by tag from
  another directory with no cache; with the server stopped, publishing fails loudly, keeps
  the data locally and tags nothing;
- a Prefect server (``prefect server start``) running a deployment of the nightly flow.

Every engine is stopped by its fixture's finaliser, whatever the test does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import yaml
from conftest import bare_project, formset, git_dvc_project, project_env, run_ok

from formset import services

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[str]:
    """A ``prefect server start`` process; yields its API URL."""
    server = services.start_prefect_server(tmp_path_factory.mktemp("prefect-home"))
    try:
        yield server.address
    finally:
        server.stop()


def _frames(project: Path) -> pd.DataFrame:
    """The keypoints table of a project in a fixed row order."""
    table = pd.read_parquet(project / "data" / "keypoints")
    return table.sort_values(["set_id", "sample_id", "view", "frame"]).reset_index(drop=True)


def _kill_a_worker_running(address: str, key_prefix: str, timeout_s: float = 60.0) -> str:
    """SIGKILL the process of the first worker seen running a task whose key starts with
    ``key_prefix``; return the task's key."""
    from distributed import Client

    with Client(address, timeout=10) as client:
        pids = client.run(os.getpid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for worker, keys in client.processing().items():
                running = [str(k) for k in keys if str(k).startswith(key_prefix)]
                if running:
                    os.kill(pids[worker], signal.SIGKILL)
                    return running[0]
            time.sleep(0.02)
    raise AssertionError(f"no worker ran a {key_prefix} task within {timeout_s} s")


def test_a_worker_killed_mid_keypoints_loses_no_row(tmp_path, prefect_server):
    single = bare_project(tmp_path / "single")
    formset(single, "sample", "data/sets/synthetic-demo", "--subjects", "1")
    params = yaml.safe_load((single / "params.yaml").read_text())
    # 12 samples, 1 per task: 12 keypoints tasks, so the kill falls mid-stage.
    params["runner"] = {"kind": "threads", "workers": 1, "address": None, "samples_per_task": 1}
    (single / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"PREFECT_API_URL": prefect_server}
    subprocess.run([sys.executable, "-m", "formset.cli", "stage", "ingest"], cwd=single, check=True,
                   env=project_env(single) | env, capture_output=True)  # fmt: skip
    clustered = tmp_path / "clustered"
    shutil.copytree(single, clustered, symlinks=True)

    with services.start_dask_cluster(tmp_path / "dask", 2, env=project_env(clustered) | env) as cluster:
        build = subprocess.Popen(
            [sys.executable, "-m", "formset.cli", "stage", "keypoints"], cwd=clustered,
            env=project_env(clustered) | env | {"FORMSET_DASK_ADDRESS": cluster.address},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        killed = _kill_a_worker_running(cluster.address, "keypoints_some_samples")
        output, _ = build.communicate(timeout=120)
        assert build.returncode == 0, output
        assert sum(p.poll() is None for p in cluster.processes[1:]) == 1  # the build ended on one worker
    formset(single, "stage", "keypoints")

    on_cluster, in_one_process = _frames(clustered), _frames(single)
    assert killed.startswith("keypoints_some_samples")
    assert len(on_cluster) == len(in_one_process) > 0
    assert not on_cluster.duplicated(["set_id", "sample_id", "view", "frame"]).any()
    pd.testing.assert_frame_equal(on_cluster, in_one_process)
