"""The local backend: photos run in this machine's worker processes (serving/processes.py), each holding the
model; this process never loads it (nor imports torch). Admission is bounded (`admission.WorkerPool`):
a full queue is a 503 with Retry-After. A missing or broken weights file leaves the album usable and
is reported in /healthz."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions, HeirloomError

from ..album.metadata import Record
from ..album.storage import Storage
from ..album.versions import Rendering
from ..errors import ModelUnavailable, NotFound
from ..settings import Settings
from .admission import WorkerPool
from .backend import PREVIEW_SIDE, Colorized, in_batch, read_upload
from .contract import Job, ModelId, ModelProfile, Outcome
from .contract import Request as Asked
from .figures import Figures
from .job_work import WorkerSpec
from .processes import ProcessPool
from .tally import Tally

log = logging.getLogger("heirloom.app")


def worker_spec(settings: Settings) -> WorkerSpec:
    return WorkerSpec(
        str(settings.weights) if settings.weights else None,
        settings.device,
        settings.max_pixels,
        settings.work_bytes,
        settings.threads,
        precision=settings.precision,
    )


class LocalBackend:
    def __init__(
        self, settings: Settings, storage: Storage, processes: ProcessPool | None, problem: str | None
    ) -> None:
        self.settings, self.storage = settings, storage
        self.processes, self.problem_text = processes, problem
        self.pool = WorkerPool(settings.workers, settings.queue_size)
        self.tally = Tally(settings.data_dir)

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: Settings, storage: Storage) -> AsyncIterator[LocalBackend]:
        processes, problem = await cls._start_engine(settings)
        backend = cls(settings, storage, processes, problem)
        try:
            yield backend
        finally:
            backend.pool.shutdown()
            if processes is not None:
                processes.close()

    @staticmethod
    async def _start_engine(settings: Settings) -> tuple[ProcessPool | None, str | None]:
        if not settings.load_model:
            return None, "model loading is switched off"
        processes = ProcessPool(worker_spec(settings), settings.workers, settings.request_timeout_s)
        try:
            await run_in_threadpool(processes.start)
        except HeirloomError as e:
            log.error("Heirloom cannot colorize: %s", e)
            processes.close()
            return None, str(e)
        p = processes.profile
        log.info("Heirloom model loaded on %s (render size %d), running in %s", p.device, p.render_size, p.precision)
        return processes, None

    # --- the model ------------------------------------------------------------------------------

    @property
    def profile(self) -> ModelProfile | None:
        return self.processes.profile if self.processes is not None else None

    def _model(self) -> ModelProfile:
        if self.profile is None:
            raise ModelUnavailable(f"The colorization model is not loaded: {self.problem_text}")
        return self.profile

    def _options(self, asked: Asked) -> ColorizeOptions:
        return self._model().resolve(asked)

    def form_defaults(self) -> ColorizeOptions | None:
        return self.profile.options() if self.profile else None

    def model(self) -> ModelId:
        return self.profile.model_id if self.profile else ModelId()

    def render_sizes(self, width: int, height: int, deep: bool = False) -> list[int]:
        return self.profile.render_sizes_that_fit(width, height, deep) if self.profile else []

    def takes_hints(self) -> bool:
        return bool(self.profile and self.profile.hints)

    def problem(self) -> str | None:
        return None if self.profile else self.problem_text

    def check(self, asked: Asked) -> None:
        self._options(asked)

    async def _run(self, job: Job) -> Outcome:
        """One job in a worker process, admitted by the bounded queue (503 when full)."""
        self._model()
        return await self.pool.run(self._engine, job, time.monotonic())

    def _engine(self, job: Job, admitted: float) -> Outcome:
        """The engine call in the pool's thread, counted in the tally (a call refused by the full queue is no job)."""
        assert self.processes is not None
        started, outcome = time.monotonic(), "failed"
        try:
            out = self.processes.run(job)
            outcome = "done"
            return out
        finally:
            self.tally.record(outcome, time.monotonic() - started, started - admitted)

    def _rendering(self, out: Outcome, opts: ColorizeOptions) -> Rendering:
        return Rendering(out.data, out.format, out.thumb, opts, self.model(), out.previews)

    # --- the work -------------------------------------------------------------------------------

    async def colorize(self, upload: UploadFile, asked: Asked) -> Colorized:
        opts = self._options(asked)
        data = await read_upload(upload, self.settings.max_upload_bytes)
        out = await self._run(Job(data, opts, False))
        return Colorized(out.data, out.format)

    async def add(
        self, upload: UploadFile, asked: Asked, batch: str | None = None, position: int | None = None
    ) -> Record:
        opts = self._options(asked)

        async def store() -> Record:
            self.storage.require_writable()  # before the work, not after it
            data = await read_upload(upload, self.settings.max_upload_bytes)
            out = await self._run(Job(data, opts, True))
            name, r = upload.filename or "photo", self._rendering(out, opts)
            return await run_in_threadpool(
                lambda: self.storage.add(
                    name=name,
                    original=data,
                    original_format=out.source_format,
                    width=out.width,
                    height=out.height,
                    r=r,
                )
            )

        rec = await in_batch(self.storage, batch, position, store)
        if batch is not None and position is not None:
            if not await run_in_threadpool(self.storage.settle, batch, position, rec.id):
                # The same place uploaded twice at once: the first stored keeps it, this copy goes.
                await run_in_threadpool(self.storage.delete, rec.id)
                found = await run_in_threadpool(self.storage.batch, batch)
                winner = found.items[position].photo_id
                assert winner is not None
                return await run_in_threadpool(self.storage.get, winner)
        return rec

    async def rerun(self, photo_id: str, asked: Asked) -> Record:
        opts = self._options(asked)
        self.storage.require_writable()
        rec = self.storage.get(photo_id)
        self.storage.require_version_room(photo_id)  # before the work, not after it
        data = await run_in_threadpool(self.storage.path(rec, "original").read_bytes)
        out = await self._run(Job(data, opts))
        return await run_in_threadpool(self.storage.add_version, photo_id, self._rendering(out, opts))

    async def _stored_original(self, photo_id: str) -> bytes:
        rec = self.storage.get(photo_id)
        return await run_in_threadpool(self.storage.path(rec, "original").read_bytes)

    async def preview(self, photo_id: str, asked: Asked) -> Colorized:
        opts = replace(self._options(asked), format="JPEG")
        data = await self._stored_original(photo_id)
        out = await self._run(Job(data, opts, False, max_side=PREVIEW_SIDE))
        return Colorized(out.data, out.format)

    async def suggest(self, photo_id: str, x: float, y: float) -> list[str]:
        opts = self._model().options()
        data = await self._stored_original(photo_id)
        out = await self._run(Job(data, opts, False, max_side=PREVIEW_SIDE, suggest_at=(x, y)))
        return list(out.colors)

    # --- the service ----------------------------------------------------------------------------

    def health(self) -> tuple[dict[str, Any], int]:
        body: dict[str, Any] = {
            "status": "ok" if self.profile else "error",
            "model_loaded": self.profile is not None,
            "queue": {"pending": self.pool.pending, "capacity": self.pool.capacity},
        }
        if self.profile is None:
            body["error"] = self.problem_text
        else:
            body["device"] = self.profile.device
            body["precision"] = self.profile.precision
        return body, 200 if self.profile else 503

    def figures(self) -> Figures:
        pending, workers = self.pool.pending, self.pool.workers
        return Figures(
            self.tally.read(),
            waiting=max(0, pending - workers),  # the pool runs `workers` calls at once; the rest wait
            running=min(pending, workers),
            capacity=self.pool.capacity - workers,
            workers=len(self.processes.pids()) if self.processes else 0,
            engine_restarts=self.processes.restarts if self.processes else 0,
        )

    def worker_jobs(self) -> Any:
        raise NotFound("This server colorizes in its own process; it has no worker API.")

    def job(self, job_id: str) -> dict[str, Any]:
        raise NotFound("This server colorizes in its own process; it has no job queue.")

    def job_result(self, job_id: str) -> tuple[Any, str]:
        raise NotFound("This server colorizes in its own process; it has no job queue.")
