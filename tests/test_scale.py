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
from conftest import bare_project, formset, git_dvc_project, project_env, run_ok, write_synthetic_set

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


# A DVC stage that writes one features partition per set and a model file, without the pipeline.
MAKE_TABLES = """\
from pathlib import Path

import pandas as pd
import yaml

value = yaml.safe_load(Path("params.yaml").read_text())["make"]["value"]
Path("data/features").mkdir(parents=True, exist_ok=True)
for set_id in ("lab-a", "lab-b"):
    pd.DataFrame({"set_id": [set_id] * 3, "x": [float(value)] * 3}).to_parquet(f"data/features/{set_id}.parquet")
Path("models").mkdir(exist_ok=True)
Path("models/classifier.pt").write_bytes(f"model v{value}".encode())
"""
#: Credentials of the test's object store; a real project keeps its own out of git (.dvc/config.local).
S3_KEY, S3_SECRET, BUCKET = "formset-test", "formset-test-secret", "formset-dvc"


@pytest.fixture
def object_store(tmp_path) -> Iterator[services.Service]:
    """A SeaweedFS server with its S3 gateway and the bucket ``BUCKET``."""
    store = services.start_seaweedfs(tmp_path / "seaweedfs")
    try:
        services.create_bucket(store.address, BUCKET, S3_KEY, S3_SECRET)
        yield store
    finally:
        store.stop(grace_s=3)


def _version(root: Path, value: int) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump({"make": {"value": value}}))
    run_ok(root, sys.executable, "-m", "dvc", "repro", "--quiet")


def test_versions_go_through_an_s3_remote_and_a_down_remote_publishes_nothing(tmp_path, object_store, monkeypatch):
    from formset.config import Project
    from formset.flows.nightly import PublishFailed, publish

    root = git_dvc_project(tmp_path / "project", files=())
    (root / "make_tables.py").write_text(MAKE_TABLES)
    (root / "dvc.yaml").write_text(textwrap.dedent(f"""\
        stages:
          make:
            cmd: {sys.executable} make_tables.py
            deps: [make_tables.py]
            params: [make]
            outs: [data/features, models/classifier.pt]
        """))
    dvc_cmd = (sys.executable, "-m", "dvc")
    run_ok(root, *dvc_cmd, "remote", "add", "-d", "store", f"s3://{BUCKET}/datasets")
    run_ok(root, *dvc_cmd, "remote", "modify", "store", "endpointurl", object_store.address)
    run_ok(root, *dvc_cmd, "remote", "modify", "--local", "store", "access_key_id", S3_KEY)
    run_ok(root, *dvc_cmd, "remote", "modify", "--local", "store", "secret_access_key", S3_SECRET)
    run_ok(root, "git", "add", "-A")
    run_ok(root, "git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "pipeline")
    assert subprocess.run(["git", "grep", "-q", S3_SECRET, "HEAD"], cwd=root).returncode == 1  # not committed
    project = Project(root)
    _version(root, 1)
    first = publish(project, "value 1")
    assert first["tag"] and first["pushed"]

    # Elsewhere, with no DVC cache and the credentials from the environment only.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in project_env(root).items() if k != "FORMSET_ROOT"}
    env |= {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    pulled = subprocess.run(
        [sys.executable, "-m", "formset.cli", "pull", "features", "--rev", first["tag"], "-o", "features.parquet", "--repo", str(root)],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    features = pd.read_parquet(elsewhere / "features.parquet")
    assert sorted(features["set_id"]) == ["lab-a"] * 3 + ["lab-b"] * 3 and (features["x"] == 1.0).all()

    object_store.stop(grace_s=3)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries of a refused connection: seconds each
    _version(root, 2)
    head = run_ok(root, "git", "rev-parse", "HEAD")
    with pytest.raises(PublishFailed, match="nothing was committed or tagged"):
        publish(project, "value 2")
    assert run_ok(root, "git", "tag", "--list").split() == [first["tag"]]
    assert run_ok(root, "git", "rev-parse", "HEAD") == head
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    built = {out["path"]: out["md5"] for out in lock["stages"]["make"]["outs"]}
    cache = root / ".dvc" / "cache" / "files" / "md5"
    assert all((cache / md5[:2] / md5[2:]).is_file() for md5 in built.values())
    assert (root / "models" / "classifier.pt").read_bytes() == b"model v2"


def test_a_nightly_deployment_run_completes_on_a_prefect_server(tmp_path):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = bare_project(tmp_path / "project")
    write_synthetic_set(root / "data" / "sets" / "synthetic_set")  # 3 samples, 2 people: the build is short
    port = services.free_port()
    served = subprocess.Popen([sys.executable, "-m", "formset.cli", "server", "--port", str(port)], cwd=root,
                              env=project_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)  # fmt: skip
    try:
        ui_line = served.stdout.readline()
        assert f"Prefect UI: http://127.0.0.1:{port}" in ui_line, ui_line + served.stdout.read(2000)
        with temporary_settings({PREFECT_API_URL: services.prefect_api_url(port)}):
            run = None
            for _ in range(120):  # the deployment appears once `serve` has registered it
                try:
                    run = run_deployment("nightly/formset-nightly", timeout=300)
                    break
                except Exception as missing:  # ObjectNotFound until registered
                    if "not found" not in str(missing).lower() and "ObjectNotFound" not in type(missing).__name__:
                        raise
                    time.sleep(0.5)
        assert run is not None and run.state.is_completed(), run and run.state
        tags = run_ok(root, "git", "tag", "--list").split()
        assert len(tags) == 1 and tags[0].startswith("data-")
    finally:
        os.killpg(served.pid, signal.SIGINT)  # Ctrl-C: serve stops, then the server
        try:
            # Killing `formset server` before it has stopped its Prefect server (its own
            # session) would leave that server running: under a loaded suite, stopping takes
            # longer than the 30 s once allowed here.
            served.wait(timeout=services.STOP_GRACE_S + 60)
        except subprocess.TimeoutExpired:
            os.killpg(served.pid, signal.SIGKILL)
            served.wait()
