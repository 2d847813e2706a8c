"""``formset serve``: the page and the API that analyze an uploaded video.

- ``POST /api/analyze`` (multipart: ``video``, optional ``exercise`` and ``view``) checks the
  upload (size, that it is a video that decodes, its length) and answers ``202`` with a job
  id; ``413`` too large or too long, ``415`` not a video, ``422`` empty or undecodable,
  ``503`` with ``Retry-After`` when every worker is busy and the queue is full.
- ``GET /api/jobs/{id}``: the status (``queued`` with the place in the queue, ``running``
  with the stage, ``done`` with the result and links, ``failed`` with the reason).
- ``GET /api/jobs/{id}/files/{name}``: one of the job's files (``SERVED_FILES`` only).
- ``GET /api/health``, ``GET /api/version`` (the dataset version and model figures in use).
- ``GET /``: the page.

The client's file name is never used as a path: an upload is stored as ``upload<suffix>``
in its job's folder, the suffix only when it is a known video suffix.
"""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from formset.analyze import load_version
from formset.config import Project
from formset.quarantine import SampleError
from formset.serve.jobs import DONE, FAILED, QUEUED, SERVED_FILES, JobPool, QueueFull
from formset.tasks.readers.video import probe

#: Suffixes kept on an upload (OpenCV / FFmpeg guess the container by content anyway).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
COPY_CHUNK_BYTES = 1 << 20
#: Room for the multipart boundaries and form fields around the video, bytes.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: Seconds a client is told to wait when the queue is full.
RETRY_AFTER_S = 30


class Refused(HTTPException):
    """An upload refused with a status, a reason code and a sentence."""
    def __init__(self, status_code: int, reason: str, detail: str, headers: dict | None = None):
        super().__init__(status_code, {"reason": reason, "detail": detail}, headers)


def stored_name(client_name: str | None) -> str:
    """The name an upload is stored under: ``upload`` plus the client's suffix when it is a
    known video suffix (so nothing of the client's name reaches the file system)."""
    suffix = Path(client_name or "").suffix.lower()
    return "upload" + (suffix if suffix in VIDEO_SUFFIXES else "")


def save_upload(upload: UploadFile, target: Path, max_bytes: int) -> int:
    """Copy the upload to ``target`` in chunks; refuse (413) past ``max_bytes``, (422) when empty."""
    size = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(COPY_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise Refused(413, "upload_too_large", f"the upload is larger than {max_bytes / 2**20:.0f} MB (serve.max_upload_mb)")
            out.write(chunk)
    if size == 0:
        raise Refused(422, "empty_video", "the uploaded file is empty (0 bytes)")
    return size


def check_video(path: Path, max_seconds: float) -> None:
    """Refuse what is not a decodable video (415 / 422) or runs longer than ``max_seconds`` (413)."""
    try:
        info = probe(path)
    except SampleError as error:
        status = 415 if error.reason == "unreadable_video" and not _looks_like_video(path) else 422
        raise Refused(status, error.reason, error.detail) from error
    if info.duration_s > max_seconds:
        raise Refused(413, "video_too_long", f"the video runs {info.duration_s:.1f} s; at most {max_seconds:.0f} s are analyzed (serve.max_seconds)")


def _looks_like_video(path: Path) -> bool:
    """Whether the file starts like a video container (MP4/MOV, Matroska/WebM, AVI): a file
    that does not is 'not a video' (415); one that does but does not decode, a bad codec (422)."""
    head = path.open("rb").read(12)
    return head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3" or head[:4] == b"RIFF"


def job_view(job, pool: JobPool) -> dict:
    """What ``GET /api/jobs/{id}`` answers."""
    body = {"id": job.id, "status": job.status}
    if job.status == QUEUED:
        body["queue_position"] = pool.position(job)
    elif job.status == DONE:
        body["result"] = job.result
        names = [*job.result["files"].get("overlay", []), job.result["files"]["report"], "result.json"]
        body["links"] = {name: f"/api/jobs/{job.id}/files/{name}" for name in names}
    elif job.status == FAILED:
        body["error"] = job.error
    else:
        body["stage"] = job.stage()
    return body


def create_app(project: Project, rev: str | None = None, version=None) -> FastAPI:
    """The service for ``project``, judging with the published version ``rev`` (or ``version``, loaded)."""
    params = project.params()
    settings = params.serve

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.project_root = project.root
        state.version = version if version is not None else load_version(rev, str(project.root))
        state.pool = JobPool(project.state_dir / "serve" / "jobs", params, state.version)
        state.pool.remove_expired()
        yield
        state.pool.shutdown()

    app = FastAPI(title="formset", lifespan=lifespan)
    max_bytes = int(settings.max_upload_mb * 2**20)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        return JSONResponse(error.detail, status_code=error.status_code, headers=error.headers)

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):
        # Before the body is read: a declared length past the limit is refused at once.
        declared = request.headers.get("content-length", "")
        if request.url.path == "/api/analyze" and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD_BYTES:
            detail = f"the upload is larger than {max_bytes / 2**20:.0f} MB (serve.max_upload_mb)"
            return JSONResponse({"reason": "upload_too_large", "detail": detail}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return files("formset.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/api/health")
    def health(request: Request) -> dict:
        pool: JobPool = request.app.state.pool
        return {"status": "ok", "workers": pool.workers, "pending": pool.pending(), "max_queue": pool.max_queue}

    @app.get("/api/version")
    def version_info(request: Request) -> dict:
        return {**request.app.state.version.summary(), "exercises": params.exercises, "views": ["front", "diagonal", "side"]}

    @app.post("/api/analyze", status_code=202)
    def submit(
        request: Request,
        video: UploadFile = File(...),
        exercise: str = Form("auto"),
        view: str = Form("front"),
    ) -> JSONResponse:
        pool: JobPool = request.app.state.pool
        pool.remove_expired()
        if exercise not in (*params.exercises, "auto"):
            raise Refused(422, "unknown_exercise", f"{exercise!r} is not one of {', '.join(params.exercises)}")
        if view not in ("front", "diagonal", "side"):
            raise Refused(422, "unknown_view", f"{view!r} is not one of front, diagonal, side")
        try:
            job_id, folder = pool.new_folder()
        except QueueFull as full:
            raise Refused(503, "queue_full", f"{full}: try again later", {"Retry-After": str(RETRY_AFTER_S)}) from full
        name = stored_name(video.filename)
        try:
            save_upload(video, folder / name, max_bytes)
            check_video(folder / name, float(settings.max_seconds))
            job = pool.submit(job_id, folder, name, exercise, view)
        except QueueFull as full:
            raise Refused(503, "queue_full", f"{full}: try again later", {"Retry-After": str(RETRY_AFTER_S)}) from full
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse({"id": job.id, "status": job.status, "url": f"/api/jobs/{job.id}"}, status_code=202)

    @app.get("/api/jobs/{job_id}")
    def job_status(request: Request, job_id: str) -> dict:
        job = request.app.state.pool.get(job_id)
        if job is None:
            raise Refused(404, "no_such_job", "no such job (or its results were removed after serve.keep_hours)")
        return job_view(job, request.app.state.pool)

    @app.get("/api/jobs/{job_id}/files/{name}")
    def job_file(request: Request, job_id: str, name: str) -> FileResponse:
        job = request.app.state.pool.get(job_id)
        if job is None or job.status != DONE or name not in SERVED_FILES or not (job.folder / name).is_file():
            raise Refused(404, "no_such_file", "no such file for this job")
        return FileResponse(job.folder / name, media_type=SERVED_FILES[name])

    return app
