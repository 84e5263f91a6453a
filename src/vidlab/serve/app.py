"""The FastAPI app behind ``vidlab serve``: a page and a small JSON API.

Endpoints (the OpenAPI schema is at ``/openapi.json``, the docs at ``/docs``):

- ``GET  /api/health``: model, cartoon styles, queue state and limits.
- ``POST /api/classify``: a video (multipart field ``file``) -> a job that
  classifies it with sliding windows; ``wait=true`` answers with the finished
  job, otherwise ``202`` and the job to poll.
- ``POST /api/cartoonize``: a photo (field ``file``, ``style``) -> a job that
  cartoonizes it, same pattern.
- ``GET  /api/jobs/{id}``: a job's state, progress and result;
  ``/api/jobs/{id}/result.json``, ``/video``, ``/heatmap``, ``/image``, ``/original``: its files.

Limits: uploads larger than ``max_upload_bytes`` get 413 (checked while the
body arrives, before it is stored), media types outside the accepted lists get
415, files that do not decode get 422 with the reason, a full queue gets 503,
and a job past its deadline 504. Uploads are stored under the server's own
work directory, in a folder per job named by a random id, and deleted when the
job's retention time has passed; the client's file name is shown back but
never used to build a path.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidlab.serve.config import (
    IMAGE_TYPES,
    VIDEO_TYPES,
    ServeConfig,
    display_name,
    media_suffix,
)
from vidlab.serve.jobs import Job, JobManager, QueueFull
from vidlab.serve.tasks import cartoonize_task, classify_task, read_photo

# Room for the multipart framing around the file in the body-size limit.
_MULTIPART_SLACK = 64 * 1024
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_STYLE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# --------------------------------------------------------------------------------------
# Response schemas (they make the OpenAPI document)
class Score(BaseModel):
    label: str
    index: int
    score: float = Field(description="softmax probability; a multi-label model's: the class's sigmoid")


class Window(BaseModel):
    start_sec: float
    end_sec: float
    top: list[Score]


class Series(BaseModel):
    label: str
    scores: list[float] = Field(description="the class's score in each window")


class Timeline(BaseModel):
    times: list[float] = Field(description="centre of each window, seconds")
    series: list[Series] = Field(description="one per class of the video's top-k")


class ModelInfo(BaseModel):
    arch: str | None = None
    num_classes: int = 0


class ClassifyResult(BaseModel):
    name: str
    fps: float
    num_frames: int
    duration: float
    top: list[Score] = Field(description="whole-video top-k (mean of the window probabilities; multi-label: "
                                         "max of the window sigmoids)")
    activation: str = Field("softmax", description="softmax, or sigmoid for a multi-label model (Charades)")
    windows: list[Window]
    timeline: Timeline
    model: ModelInfo
    video_url: str | None = Field(None, description="the annotated video (H.264 mp4)")
    heatmap_url: str | None = Field(None, description="Grad-CAM of the top class on its best window (H.264 mp4)")
    heatmap: dict | None = Field(None, description="what the heat map shows: label, prob, layer, pathway, window")
    heatmap_error: str | None = Field(None, description="why there is no heat map (heatmap=true)")
    json_url: str


class CartoonResult(BaseModel):
    name: str
    style: str
    input_size: list[int] = Field(description="[width, height] of the photo")
    output_size: list[int] = Field(description="[width, height] of the cartoon")
    image_url: str
    original_url: str


class JobStatus(BaseModel):
    id: str
    kind: Literal["classify", "cartoonize"]
    state: Literal["queued", "running", "done", "error"]
    progress: float = Field(description="0..1")
    message: str
    error: str | None = None
    queue_position: int | None = None
    name: str = Field(description="the uploaded file's name, for display only")
    created: float
    elapsed: float | None = Field(None, description="seconds from start to finish (or until now)")
    status_url: str
    result: ClassifyResult | CartoonResult | None = None


class QueueInfo(BaseModel):
    queued: int
    running: int
    capacity: int
    workers: int
    completed: int
    failed: int


class CartoonInfo(BaseModel):
    available: bool
    styles: list[str]
    reason: str | None = None


class Limits(BaseModel):
    max_upload_bytes: int
    max_video_seconds: float
    max_image_pixels: int
    job_timeout_s: float
    retention_s: float
    video_types: list[str]
    image_types: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: ModelInfo | None = None
    model_reason: str | None = None
    labels: list[str] = []
    cartoon: CartoonInfo
    queue: QueueInfo
    limits: Limits


class ErrorBody(BaseModel):
    detail: str


_ERRORS = {
    413: {"model": ErrorBody, "description": "upload larger than the limit"},
    415: {"model": ErrorBody, "description": "media type not accepted"},
    422: {"model": ErrorBody, "description": "the file does not decode (the reason is given)"},
    503: {"model": ErrorBody, "description": "queue full, or the needed model is not loaded"},
    504: {"model": ErrorBody, "description": "the job ran past its time limit (wait=true)"},
}


# --------------------------------------------------------------------------------------
class _Cartoon:
    """The cartoonizer, found lazily so the app starts without it."""

    def __init__(self, weights: Path | None, fn: Callable | None = None, styles: Callable | None = None):
        self.weights = weights
        self._fn, self._styles = fn, styles
        self.reason: str | None = None
        if self._fn is None:
            try:
                from vidlab.cartoon import available_styles, cartoonize_image
            except ImportError as e:
                self.reason = f"vidlab.cartoon is not available ({e})"
            else:
                self._fn, self._styles = cartoonize_image, available_styles

    @property
    def available(self) -> bool:
        return self._fn is not None

    def file_style(self) -> str | None:
        """The style of a weights *file* given on the command line (``Hayao_net_G_float.pth`` -> Hayao)."""
        if self.weights is None or not self.weights.is_file():
            return None
        head = self.weights.stem.split("_")[0]
        try:
            from vidlab.cartoon import STYLES
        except ImportError:
            return head
        return next((s for s in STYLES if s.lower() == head.lower()), head)

    def styles(self) -> list[str]:
        """``classic`` first, then every style whose weights are found."""
        if not self.available:
            return []
        if self._styles is None:
            return ["classic"]
        weights_dir = self.weights if self.weights is not None and self.weights.is_dir() else None
        try:
            found = list(self._styles(weights_dir=weights_dir)) if self.weights is None or weights_dir else []
        except Exception:  # noqa: BLE001  (a broken weights folder must not break the page)
            found = []
        if self.file_style():
            found.append(self.file_style())
        return list(dict.fromkeys(["classic"] + found))

    def weights_for(self, style: str):
        """What to pass as ``weights=``: the weights file or folder given on the command
        line, or None (classic, or the cartoon module's default folders)."""
        if self.weights is None or style == "classic":
            return None
        return self.weights

    def __call__(self, rgb, **kw):
        return self._fn(rgb, **kw)


def _load_model(cfg: ServeConfig):
    if cfg.checkpoint is None:
        return None, ("no action model loaded: start the server with --checkpoint CKPT "
                      "(for example vidlab_demo/model.safetensors from `vidlab demo`)")
    from vidlab import models

    return models.load(cfg.checkpoint), None


def create_app(cfg: ServeConfig | None = None, *, model: Any = None, cartoonizer: Callable | None = None,
               cartoon_styles: Callable | None = None) -> FastAPI:
    """The web app. ``model`` (an nn.Module with ``.meta``) overrides ``cfg.checkpoint``;
    ``cartoonizer``/``cartoon_styles`` override ``vidlab.cartoon`` (tests)."""
    from vidlab import __version__

    cfg = cfg or ServeConfig()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own_dir = cfg.work_dir is None
        root = Path(tempfile.mkdtemp(prefix="vidlab-serve-")) if own_dir else Path(cfg.work_dir)
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        if model is not None:
            state["model"], state["model_reason"] = model, None
        else:
            state["model"], state["model_reason"] = _load_model(cfg)
        state["cartoon"] = _Cartoon(cfg.cartoon_weights, cartoonizer, cartoon_styles)
        jobs = JobManager(root / "jobs", workers=cfg.workers, queue_size=cfg.queue_size, timeout=cfg.job_timeout,
                          retention=cfg.retention)
        jobs.start()
        state["jobs"], state["root"] = jobs, root
        app.state.jobs = jobs
        app.state.work_dir = root
        try:
            yield
        finally:
            jobs.stop()
            if own_dir:
                shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(
        title="vidlab",
        version=__version__,
        summary="Action recognition on uploaded videos, cartoonization of photos.",
        lifespan=lifespan,
    )
    upload_limit = cfg.max_upload_bytes + _MULTIPART_SLACK

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    app.add_middleware(UploadLimit, limit=upload_limit, paths={"/api/classify", "/api/cartoonize"},
                       message=f"upload too large: the limit is {_mb(cfg.max_upload_bytes)}")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; "
                "frame-ancestors 'none'",
            )
        return response

    def jobs() -> JobManager:
        return state["jobs"]

    def status_of(job: Job) -> dict:
        end = job.finished or time.time()
        return {
            "id": job.id, "kind": job.kind, "state": job.state, "progress": round(job.progress, 4),
            "message": job.message, "error": job.error, "queue_position": jobs().queue_position(job),
            "name": job.name, "created": job.created,
            "elapsed": round(end - job.started, 3) if job.started else None,
            "status_url": f"/api/jobs/{job.id}", "result": job.result,
        }

    async def respond(job: Job, wait: bool):
        if not wait:
            return JSONResponse(status_of(job), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})
        remaining = max(job.deadline - time.monotonic(), 0.0) + 1.0
        try:
            # shield: a client giving up must not cancel the job's future
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)), timeout=remaining)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"timed out after {cfg.job_timeout:g} s") from None
        if job.state == "error":
            raise HTTPException(job.status_code, job.error)
        return status_of(job)

    async def save_upload(job: Job, file: UploadFile, suffix: str) -> Path:
        """Copy the upload into the job's folder under a generated name."""
        path = job.dir / f"input{suffix}"
        size = 0
        out = await asyncio.to_thread(open, path, "wb")
        try:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > cfg.max_upload_bytes:
                    raise HTTPException(413, f"upload too large: the limit is {_mb(cfg.max_upload_bytes)}")
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        if size == 0:
            raise HTTPException(422, "the uploaded file is empty")
        job.files["input"] = path
        return path

    # ---------------------------------------------------------------------------- pages
    static_dir = resources.files("vidlab.serve") / "static"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse((static_dir / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    # ---------------------------------------------------------------------------- API
    @app.get("/api/health", response_model=Health, tags=["service"])
    async def health():
        """Service state: the loaded model, the cartoon styles, the queue and the limits."""
        m = state.get("model")
        meta = (getattr(m, "meta", {}) or {}) if m is not None else {}
        cartoon: _Cartoon = state["cartoon"]
        return {
            "status": "ok", "version": __version__,
            "model": ({"arch": meta.get("arch") or getattr(m, "arch", None),
                       "num_classes": int(meta.get("num_classes") or len(meta.get("labels") or []))}
                      if m is not None else None),
            "model_reason": state.get("model_reason"),
            "labels": list(meta.get("labels") or []),
            "cartoon": {"available": cartoon.available, "styles": cartoon.styles(), "reason": cartoon.reason},
            "queue": jobs().stats(),
            "limits": {
                "max_upload_bytes": cfg.max_upload_bytes, "max_video_seconds": cfg.max_video_seconds,
                "max_image_pixels": cfg.max_image_pixels, "job_timeout_s": cfg.job_timeout,
                "retention_s": cfg.retention, "video_types": sorted(VIDEO_TYPES), "image_types": sorted(IMAGE_TYPES),
            },
        }

    @app.post("/api/classify", response_model=JobStatus, tags=["jobs"],
              responses={202: {"model": JobStatus, "description": "queued (wait=false)"}, **_ERRORS})
    async def classify(
        file: Annotated[UploadFile, File(description="a video (mp4, avi, mkv, webm, mov, gif, ...)")],
        topk: int = Query(cfg.default_topk, ge=1, le=50, description="classes to report"),
        stride: float | None = Query(None, gt=0, le=3600, description="seconds between windows (default: one span)"),
        wait: bool = Query(False, description="answer when the job has finished"),
        annotate: bool = Query(True, description="also draw the annotated video"),
        heatmap: bool = Query(True, description="also a Grad-CAM heat-map video of the top class's best window"),
    ):
        """Classify a video with sliding windows: whole-video and per-window top-k, a
        timeline of the top classes' scores, an annotated video and a JSON download."""
        m = state.get("model")
        if m is None:
            raise HTTPException(503, state.get("model_reason") or "no action model loaded")
        suffix = media_suffix(file.content_type, file.filename, "video")
        if suffix is None:
            raise HTTPException(415, f"not an accepted video type ({file.content_type or 'none'}); "
                                     f"accepted: {', '.join(sorted(VIDEO_TYPES))}")
        name = display_name(file.filename)
        job = jobs().new("classify", name)
        try:
            path = await save_upload(job, file, suffix)
            info = await asyncio.to_thread(_probe, path, name)
            if info.duration > cfg.max_video_seconds:
                raise HTTPException(422, f"{name}: video too long ({info.duration:.0f} s; at most "
                                         f"{cfg.max_video_seconds:g} s)")
            jobs().submit(job, lambda j: classify_task(j, m, topk=topk, stride=stride,
                                                        annotate=annotate and cfg.annotate_video,
                                                        max_side=cfg.annotate_max_side, heatmap=heatmap))
        except QueueFull:
            raise HTTPException(503, "the job queue is full; try again shortly", headers={"Retry-After": "5"}) from None
        except BaseException:
            jobs().discard(job)
            raise
        return await respond(job, wait)

    @app.post("/api/cartoonize", response_model=JobStatus, tags=["jobs"],
              responses={202: {"model": JobStatus, "description": "queued (wait=false)"}, **_ERRORS})
    async def cartoonize(
        file: Annotated[UploadFile, File(description="a photo (jpeg, png, webp, bmp, tiff)")],
        style: str = Form("classic", description="a style from /api/health (classic always works)"),
        wait: bool = Query(False, description="answer when the job has finished"),
    ):
        """Cartoonize a photo; the result links the cartoon (PNG) and the original."""
        cartoon: _Cartoon = state["cartoon"]
        if not cartoon.available:
            raise HTTPException(503, cartoon.reason or "cartoonization is not available")
        if not _STYLE.match(style) or style not in cartoon.styles():
            raise HTTPException(422, f"unknown style {style[:40]!r}; available: {', '.join(cartoon.styles())}")
        suffix = media_suffix(file.content_type, file.filename, "image")
        if suffix is None:
            raise HTTPException(415, f"not an accepted image type ({file.content_type or 'none'}); "
                                     f"accepted: {', '.join(sorted(IMAGE_TYPES))}")
        name = display_name(file.filename)
        job = jobs().new("cartoonize", name)
        try:
            path = await save_upload(job, file, suffix)
            await asyncio.to_thread(_check_photo, path, name, cfg.max_image_pixels)
            job.params["media_type"] = file.content_type if file.content_type in IMAGE_TYPES else None
            jobs().submit(job, lambda j: cartoonize_task(j, cartoon, style=style, weights=cartoon.weights_for(style),
                                                          load_size=cfg.cartoon_load_size,
                                                          max_pixels=cfg.max_image_pixels))
        except QueueFull:
            raise HTTPException(503, "the job queue is full; try again shortly", headers={"Retry-After": "5"}) from None
        except BaseException:
            jobs().discard(job)
            raise
        return await respond(job, wait)

    def find(job_id: str) -> Job:
        job = jobs().get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise HTTPException(404, "no such job (finished jobs are deleted after the retention time)")
        return job

    def job_file(job: Job, key: str) -> Path:
        path = job.files.get(key)
        if path is None or not path.is_file():
            raise HTTPException(404, f"this job has no {key}" if job.finished_state else "not ready yet")
        return path

    @app.get("/api/jobs/{job_id}", response_model=JobStatus, tags=["jobs"])
    async def job_status(job_id: str):
        """A job's state, progress and (when done) result."""
        return status_of(find(job_id))

    @app.get("/api/jobs/{job_id}/result.json", tags=["jobs"], response_class=FileResponse)
    async def job_json(job_id: str):
        job = find(job_id)
        stem = Path(job.name).stem or "video"
        return FileResponse(job_file(job, "json"), media_type="application/json",
                            filename=f"vidlab-{_safe_stem(stem)}.json")

    @app.get("/api/jobs/{job_id}/video", tags=["jobs"], response_class=FileResponse)
    async def job_video(job_id: str):
        return FileResponse(job_file(find(job_id), "video"), media_type="video/mp4")

    @app.get("/api/jobs/{job_id}/heatmap", tags=["jobs"], response_class=FileResponse)
    async def job_heatmap(job_id: str):
        return FileResponse(job_file(find(job_id), "heatmap"), media_type="video/mp4")

    @app.get("/api/jobs/{job_id}/image", tags=["jobs"], response_class=FileResponse)
    async def job_image(job_id: str):
        return FileResponse(job_file(find(job_id), "image"), media_type="image/png")

    @app.get("/api/jobs/{job_id}/original", tags=["jobs"], response_class=FileResponse)
    async def job_original(job_id: str):
        job = find(job_id)
        if job.kind != "cartoonize":
            raise HTTPException(404, "only photo jobs serve their input back")
        return FileResponse(job_file(job, "input"), media_type=job.params.get("media_type") or "image/png")

    return app


class UploadLimit:
    """Refuse request bodies over ``limit`` bytes on ``paths`` with 413: at once when the
    declared Content-Length is too large, else as soon as the bytes received pass it
    (chunked uploads), before the upload is parsed or stored."""

    def __init__(self, app, limit: int, paths: set[str], message: str):
        self.app, self.limit, self.paths, self.message = app, limit, paths, message

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await JSONResponse({"detail": "invalid Content-Length"}, status_code=400)(scope, receive, send)
                return
            if size > self.limit:
                await JSONResponse({"detail": self.message}, status_code=413,
                                   headers={"Connection": "close"})(scope, receive, send)
                return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited_receive, send)


def _probe(path: Path, name: str):
    from vidlab.io import VideoDecodeError, probe_video

    try:
        info = probe_video(path)
    except VideoDecodeError as e:
        raise HTTPException(422, f"{name}: {e.reason}") from None
    if info.num_frames < 1:
        raise HTTPException(422, f"{name}: the video has no frames")
    return info


def _check_photo(path: Path, name: str, max_pixels: int) -> None:
    from vidlab.serve.jobs import JobFailed

    try:
        read_photo(path, max_pixels)
    except JobFailed as e:
        raise HTTPException(e.status, f"{name}: {e}") from None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def _safe_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60] or "video"
