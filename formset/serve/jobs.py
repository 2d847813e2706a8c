"""Analysis jobs: a random id each, a folder each, run in a bounded pool of worker processes.

Each job's folder (``<jobs_dir>/<id>/``) holds the upload under a name the server chooses
(``upload<suffix>``, never the client's file name), then what ``formset.analyze`` writes
(``result.json``, ``overlay.webm`` (VP8, which browsers play), ``report.html``), ``stage`` (the stage
running, for the progress display) and ``status.json`` once it ends. Worker processes
load the heavy libraries once and keep the published version they judge with; a worker that
dies (a decoder crash) fails its job, not the service: the pool is replaced.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context, parent_process
from pathlib import Path

from formset import runtime
from formset.analyze import AnalysisRefused, analyze
from formset.params import Params

#: A job id: 128 random bits, URL-safe base64 (22 characters); nothing else names a folder.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Files of a job the API serves, and their media types.
SERVED_FILES: dict[str, str] = {
    "overlay.webm": "video/webm", "report.html": "text/html", "result.json": "application/json",
}  # fmt: skip


class QueueFull(Exception):
    """Every worker is busy and the queue holds ``max_queue`` jobs."""


def new_job_id() -> str:
    """A job id nobody can guess: 16 random bytes from the OS, URL-safe."""
    return secrets.token_urlsafe(16)


def is_job_id(text: str) -> bool:
    return bool(JOB_ID.fullmatch(text))


@dataclass
class Job:
    """One analysis: where its files are, and how far it got."""
    id: str
    folder: Path
    created: float
    status: str = QUEUED
    result: dict | None = None
    error: dict | None = None
    future: Future | None = field(default=None, repr=False)

    def stage(self) -> str | None:
        marker = self.folder / "stage"
        return marker.read_text() if self.status == RUNNING and marker.is_file() else None


# ------------------------------------------------------------------ in the worker processes
_WORKER: dict = {}


def _init_worker(params: Params, version) -> None:
    runtime.configure(Path.cwd())
    _WORKER.update(params=params, version=version)
    threading.Thread(target=_exit_with_parent, daemon=True).start()


def _exit_with_parent() -> None:
    """End this worker once the server that started it is gone (killed, even with -9): a
    worker waits on its queue forever otherwise, holding its memory."""
    parent_process().join()  # returns when the parent's sentinel pipe closes: it exited
    os._exit(0)


def _run_job(folder: str, upload: str, exercise: str, view: str) -> dict:
    """Analyze ``upload`` into ``folder`` (in a worker): ``{"result": ...}`` or ``{"error": ...}``."""
    out = Path(folder)
    marker = out / "stage"
    try:
        result = analyze(
            out / upload, out, _WORKER["params"], _WORKER["version"], view=view, exercise=exercise,
            overlay_formats=(".webm",), on_stage=marker.write_text,
            overlay_max_side=_WORKER["params"].serve.overlay_max_side,
        )  # fmt: skip
        return {"result": result}
    except AnalysisRefused as refused:
        return {"error": {"status_code": 422, "reason": refused.reason, "detail": refused.detail}}
    finally:
        (out / upload).unlink(missing_ok=True)  # the upload is not kept once analyzed


# ------------------------------------------------------------------ in the server
class JobPool:
    """At most ``workers`` analyses at once and ``max_queue`` waiting; results kept ``keep_hours``.

    Parameters
    ----------
    jobs_dir
        Where job folders are made.
    params
        The project's ``params.yaml`` (its ``serve`` group sizes the pool).
    version
        The ``formset.analyze.Version`` every job is judged with.
    """
    def __init__(self, jobs_dir: Path, params: Params, version):
        settings = params.serve
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.workers = int(settings.workers)
        self.max_queue = int(settings.max_queue)
        self.keep_s = float(settings.keep_hours) * 3600
        self.worker_max_jobs = settings.worker_max_jobs
        self._params, self._version = params, version
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                   initargs=(self._params, self._version), max_tasks_per_child=self.worker_max_jobs)  # fmt: skip

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its empty folder (refuses with ``QueueFull`` first)."""
        with self._lock:
            if self.pending() >= self.workers + self.max_queue:
                raise QueueFull(f"{self.workers} analyses are running and {self.max_queue} are waiting")
        job_id = new_job_id()
        folder = self.jobs_dir / job_id
        folder.mkdir()
        return job_id, folder

    def pending(self) -> int:
        """Jobs queued or running."""
        return sum(job.status in (QUEUED, RUNNING) for job in self._jobs.values())

    def submit(self, job_id: str, folder: Path, upload: str, exercise: str, view: str) -> Job:
        """Queue the analysis of ``folder/upload``.

        Raises
        ------
        QueueFull
            No room: the caller answers 503 and the folder is removed.
        """
        with self._lock:
            if self.pending() >= self.workers + self.max_queue:
                shutil.rmtree(folder, ignore_errors=True)
                raise QueueFull(f"{self.workers} analyses are running and {self.max_queue} are waiting")
            job = Job(job_id, folder, time.time())
            self._jobs[job_id] = job
            try:
                job.future = self._pool.submit(_run_job, str(folder), upload, exercise, view)
            except BrokenProcessPool:
                self._pool = self._new_pool()
                job.future = self._pool.submit(_run_job, str(folder), upload, exercise, view)
        job.future.add_done_callback(lambda future: self._finish(job, future))
        return job

    def _finish(self, job: Job, future: Future) -> None:
        try:
            outcome = future.result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = self._new_pool()
            outcome = {"error": {"status_code": 422, "reason": "analysis_crashed",
                                 "detail": "the analysis stopped without an answer (its decoder or model crashed on this file)"}}  # fmt: skip
        except Exception as error:  # noqa: BLE001 — any failure is this job's, reported, never the server's
            outcome = {"error": {"status_code": 500, "reason": "internal_error", "detail": f"{type(error).__name__}: {error}"}}
        job.result, job.error = outcome.get("result"), outcome.get("error")
        job.status = DONE if job.result is not None else FAILED
        (job.folder / "stage").unlink(missing_ok=True)
        (job.folder / "status.json").write_text(json.dumps({"status": job.status, "error": job.error}))

    def get(self, job_id: str) -> Job | None:
        """The job, or None for an id that is not one (malformed, expired or never made)."""
        if not is_job_id(job_id):
            return None
        job = self._jobs.get(job_id)
        if job is not None and job.status == QUEUED and (job.folder / "stage").is_file():
            job.status = RUNNING  # the worker wrote its first stage
        return job

    def position(self, job: Job) -> int:
        """How many queued jobs are ahead of ``job``."""
        return sum(other.status == QUEUED and other.created < job.created for other in self._jobs.values())

    def remove_expired(self, now: float | None = None) -> list[str]:
        """Delete the jobs (and folders) ended more than ``keep_hours`` ago; their ids."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [j for j in self._jobs.values() if j.status in (DONE, FAILED) and now - j.created > self.keep_s]
            for job in expired:
                del self._jobs[job.id]
        for job in expired:
            shutil.rmtree(job.folder, ignore_errors=True)
        known = set(self._jobs)
        for folder in self.jobs_dir.iterdir():  # left by an earlier server run
            if folder.name not in known and now - folder.stat().st_mtime > self.keep_s:
                shutil.rmtree(folder, ignore_errors=True)
        return [job.id for job in expired]

    def shutdown(self) -> None:
        """Stop now: queued jobs are cancelled and running analyses killed (their folders stay
        until ``keep_hours``), so the server exits at once."""
        workers = list(self._pool._processes.values())  # no public API to stop running work before 3.14
        self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
