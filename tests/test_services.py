"""Services started by a command stop when the command is stopped, by Ctrl-C or by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

HOLDER = """
import sys, time
from pathlib import Path
from formset.services import exit_on_sigterm
if sys.argv[2] == "handled":
    exit_on_sigterm()
try:
    Path(sys.argv[1], "started").touch()
    time.sleep(60)
finally:
    Path(sys.argv[1], "stopped").touch()  # where a `with start_...()` block stops its service
"""


@pytest.mark.parametrize(("mode", "cleaned_up", "status"), [("handled", True, 128 + signal.SIGTERM), ("default", False, -signal.SIGTERM)])
def test_sigterm_runs_the_cleanup_of_a_command_that_holds_services(tmp_path, mode, cleaned_up, status):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), mode])
    for _ in range(300):
        if (tmp_path / "started").exists():
            break
        time.sleep(0.05)
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=30) == status
    assert (tmp_path / "stopped").exists() is cleaned_up, "without the handler Python dies without running finally"
