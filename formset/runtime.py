"""Process-wide settings formset needs before Prefect or DVC are imported.

Prefect keeps its state (SQLite database, logs) inside the project, never in ``~/.prefect``;
it sends no telemetry (the machines are offline) and gets enough time to start its
temporary server on a cold database.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
}


def configure(root: Path) -> None:
    """Point Prefect and DVC at project-local state; keep library noise out of the terminal."""
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("DVC_SITE_CACHE_DIR", str(root / ".dvc" / "site-cache"))
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
