"""A bounded job queue with worker threads, deadlines and retention cleanup.

Every job owns a folder under the server's work directory, named by a random
id the server generates; uploads and results live there and nowhere else. A
job moves ``queued -> running -> done | error``. The queue holds at most
``queue_size`` waiting jobs: a submission beyond that is refused at once
(``QueueFull``) instead of piling up. Each job has a deadline (``timeout``
seconds after submission); a task checks it every time it reports progress,
so a long classification stops at the next window once its time is up, and a
job still waiting when its deadline passes is never started. Finished jobs
and their folders are deleted ``retention`` seconds after they finish.
"""

from __future__ import annotations

import concurrent.futures
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "error")


class QueueFull(Exception):
    """The job queue is at capacity."""


class JobTimeout(Exception):
    """A job ran past its deadline."""


class JobFailed(Exception):
    """A task's own failure with an HTTP status to report (422: bad input)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class Job:
    id: str
    kind: str
    dir: Path
    deadline: float
    name: str = ""
    state: str = "queued"
    progress: float = 0.0
    message: str = "waiting in the queue"
    error: str | None = None
    status_code: int = 200  # what a waiting request answers with once the job ends
    result: dict | None = None
    files: dict[str, Path] = field(default_factory=dict)  # name -> file inside ``dir``
    params: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    _task: Callable[[Job], dict] | None = None

    def report(self, progress: float, message: str | None = None) -> None:
        """Called by tasks: record progress and stop the job if its time is up."""
        self.progress = float(min(max(progress, 0.0), 1.0))
        if message:
            self.message = message
        if time.monotonic() > self.deadline:
            raise JobTimeout()

    @property
    def finished_state(self) -> bool:
        return self.state in ("done", "error")


class JobManager:
    """Runs tasks on ``workers`` threads from a queue of at most ``queue_size`` jobs."""

    def __init__(self, root: Path, *, workers: int = 1, queue_size: int = 8, timeout: float = 300.0,
                 retention: float = 3600.0, sweep_every: float | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.queue_size = queue_size
        self.timeout = timeout
        self.retention = retention
        self.sweep_every = sweep_every if sweep_every is not None else max(1.0, min(60.0, retention / 4))
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.completed = 0
        self.failed = 0

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"vidlab-job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._sweep_loop, name="vidlab-job-janitor", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for _ in range(self.workers):
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        with self._lock:
            for job in self._jobs.values():
                if not job.finished_state:
                    self._finish(job, error="the server is shutting down", status=503)

    # -- jobs ----------------------------------------------------------------------
    def new(self, kind: str, name: str = "") -> Job:
        """A job with its own folder (not queued yet: save the upload, then ``submit``)."""
        job_id = uuid.uuid4().hex
        d = self.root / job_id
        d.mkdir(mode=0o700)
        job = Job(id=job_id, kind=kind, dir=d, name=name, deadline=time.monotonic() + self.timeout)
        with self._lock:
            self._jobs[job_id] = job
        return job

    def submit(self, job: Job, task: Callable[[Job], dict]) -> Job:
        """Queue ``job`` to run ``task(job) -> result dict``; ``QueueFull`` when at capacity."""
        job._task = task
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.discard(job)
            raise QueueFull() from None
        return job

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def queue_position(self, job: Job) -> int | None:
        """1-based place among the waiting jobs, or None when not waiting."""
        if job.state != "queued":
            return None
        with self._queue.mutex:
            waiting = [j for j in self._queue.queue if j is not None]
        for i, j in enumerate(waiting):
            if j is job:
                return i + 1
        return None

    def stats(self) -> dict:
        with self._lock:
            states = [j.state for j in self._jobs.values()]
        return {
            "queued": states.count("queued"), "running": states.count("running"),
            "capacity": self.queue_size, "workers": self.workers,
            "completed": self.completed, "failed": self.failed,
        }

    # -- workers -------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            if job.finished_state:
                continue
            if time.monotonic() > job.deadline:
                self._finish(job, error="timed out while waiting in the queue", status=504)
                continue
            job.state, job.started, job.message = "running", time.time(), "starting"
            try:
                result = job._task(job)
            except JobTimeout:
                self._finish(job, error=f"timed out: the job took longer than {self.timeout:g} s", status=504)
            except JobFailed as e:
                self._finish(job, error=str(e), status=e.status)
            except Exception as e:  # noqa: BLE001  (a worker must survive any task failure)
                from vidlab.errors import VidlabError

                if isinstance(e, VidlabError):
                    self._finish(job, error=str(e), status=422)
                else:
                    self._finish(job, error=f"internal error: {type(e).__name__}: {e}", status=500)
            else:
                job.result = result
                job.progress = 1.0
                self._finish(job, message="done")

    def _finish(self, job: Job, *, message: str | None = None, error: str | None = None, status: int = 200) -> None:
        job.finished = time.time()
        if error is None:
            job.state, job.status_code, job.message = "done", 200, message or "done"
            self.completed += 1
        else:
            job.state, job.status_code, job.error, job.message = "error", status, error, "failed"
            self.failed += 1
            # inputs are of no use once a job failed; keep the folder only for its record
            for p in job.dir.glob("input*"):
                p.unlink(missing_ok=True)
        job._task = None
        if not job.future.done():
            job.future.set_result(job)

    # -- retention -----------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Delete finished jobs older than ``retention`` and stray folders; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished_state and now - (j.finished or now) > self.retention]
            for j in old:
                del self._jobs[j.id]
            known = set(self._jobs)
        for j in old:
            shutil.rmtree(j.dir, ignore_errors=True)
            removed += 1
        # folders no job record points to (left by an earlier crash), once old enough
        for d in self.root.iterdir():
            if d.name in known:
                continue
            try:
                age = now - d.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > self.retention:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
                removed += 1
        return removed

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every):
            try:
                self.sweep()
            except OSError:
                pass
