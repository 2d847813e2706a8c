"""One writer at a time: every command that changes the dataset holds the project lock.

An exclusive ``flock`` on ``.formset/lock``: the operating system releases it when the
holder exits, however it exits (a ``kill -9`` included), so a killed run never leaves a
stale lock behind. The holder writes who it is into the file so that a second command can
say what it is waiting for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from formset.config import Project

#: How often a waiting command tries the lock again, in seconds.
POLL_S = 1.0


class ProjectBusy(RuntimeError):
    """Another formset command holds the project lock."""


@contextmanager
def project_lock(project: Project, command: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the project's lock for the body; wait up to ``wait_s`` seconds for it.

    Raises
    ------
    ProjectBusy
        The lock is still held after ``wait_s`` seconds; the message names the holder.
    """
    path = project.state_dir / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProjectBusy(_busy_message(fd, wait_s)) from None
                time.sleep(POLL_S)
        holder = {"pid": os.getpid(), "command": command, "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _busy_message(fd: int, waited_s: float) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        holder = {}
    who = f"`{holder.get('command', 'another formset command')}` (pid {holder.get('pid', '?')}, since {holder.get('since', '?')})"
    waited = f" after waiting {waited_s:.0f} s" if waited_s else ""
    return (
        f"The project is busy{waited}: {who} is changing it. Nothing was done. "
        "Try again when it has finished, or pass --wait SECONDS to wait for it."
    )
