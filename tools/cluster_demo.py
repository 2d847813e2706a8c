"""``make cluster-demo``: ``formset run`` on a local Dask cluster, then everything stopped.

Starts a Prefect server (database under ``.prefect/server/``), a ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1, runs ``formset run`` in this project with
``FORMSET_DASK_ADDRESS`` and ``PREFECT_API_URL`` pointing at them (the per-set and per-video
tasks run on the workers), prints where the flow run is in the Prefect UI, and stops the
cluster and the server, also when the run fails or the demo is killed (SIGTERM, Ctrl-C).
Writes the synthetic demo set first when the project has no set (as ``make demo`` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from formset import services

ROOT = Path(__file__).resolve().parent.parent
DEMO_SET = ROOT / "data" / "sets" / "synthetic-demo"
WORKERS = 2


def main() -> int:
    services.exit_on_sigterm()
    formset = [sys.executable, "-m", "formset.cli"]
    if not any((ROOT / "data" / "sets").glob("*/set.yaml")):
        subprocess.run([*formset, "sample", str(DEMO_SET)], cwd=ROOT, check=True)
    with services.start_prefect_server(ROOT / ".prefect" / "server") as prefect:
        env = {**os.environ, "PREFECT_API_URL": prefect.address, "FORMSET_ROOT": str(ROOT)}
        with services.start_dask_cluster(ROOT / ".formset" / "dask", WORKERS, env=env) as cluster:
            print(f"Prefect server {prefect.address.removesuffix('/api')}, Dask scheduler {cluster.address} with {WORKERS} workers")
            run = subprocess.run([*formset, "run"], cwd=ROOT, env=env | {"FORMSET_DASK_ADDRESS": cluster.address})
        print(f"stopped the cluster and the Prefect server; `formset run` exited {run.returncode}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
