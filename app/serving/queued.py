"""The queue backend (`--broker redis://…`): an upload gets the cheap checks (size, format, pixels from
the header), is stored as a job on the shared data directory and queued for `heirloom worker`s
(`queue_client.QueueClient`); this process loads no model. POST /colorize waits for its job (bounded);
album photos and versions are stored when their jobs are collected."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions

from ..album.storage import Storage
from ..errors import NotAvailable, NotFound, QueueUnavailable
from ..settings import Settings
from . import broker as jq
from . import pause
from .backend import PREVIEW_SIDE, Colorized, Queued, in_batch, read_upload
from .contract import ModelId
from .contract import Request as Asked
from .figures import Figures
from .job_store import DONE, FAILED, JobStore
from .queue_client import QueueClient, job_failure, running


class QueueBackend:
    def __init__(self, settings: Settings, storage: Storage, client: QueueClient) -> None:
        self.settings, self.storage, self.client = settings, storage, client

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: Settings, storage: Storage) -> AsyncIterator[QueueBackend]:
        async with running(settings, storage) as client:
            yield cls(settings, storage, client)

    def form_defaults(self) -> ColorizeOptions | None:
        return self.client.form_defaults()

    def model(self) -> ModelId:
        try:
            p = self.client.profile()
        except QueueUnavailable:
            return ModelId()
        return p.model_id if p else ModelId()

    def render_sizes(self, width: int, height: int, deep: bool = False) -> list[int]:
        try:
            p = self.client.profile()
        except QueueUnavailable:
            return []
        return p.render_sizes_that_fit(width, height, deep) if p else []

    def takes_hints(self) -> bool:
        try:
            p = self.client.profile()
        except QueueUnavailable:
            return False
        return bool(p and p.hints)

    def problem(self) -> str | None:
        return None  # the model is the workers'; an unreachable Redis is told where it matters

    def check(self, asked: Asked) -> None:
        self._request(asked)

    def _request(self, asked: Asked) -> Asked:
        return self.client.options(asked)

    async def _submit(
        self, upload: UploadFile, asked: Asked, kind: str, batch: str | None = None, position: int | None = None
    ) -> str:
        request = self._request(asked)

        async def enqueue() -> str:
            data = await read_upload(upload, self.settings.max_upload_bytes)
            name = upload.filename or "photo"
            job = await run_in_threadpool(
                lambda: self.client.submit(kind, data, request, name=name, batch=batch, position=position)
            )
            return job.id

        return await in_batch(self.storage, batch, position, enqueue)  # the job settles its item when collected

    async def colorize(self, upload: UploadFile, asked: Asked) -> Colorized:
        """Queue, wait (bounded), answer with the bytes, forget the job."""
        return await self._answer(await self._submit(upload, asked, "colorize"))

    async def _answer(self, job_id: str) -> Colorized:
        q = self.client
        rec = await q.wait(job_id, self.settings.wait_timeout_s)
        if rec.status == FAILED:
            await run_in_threadpool(q.jobs.delete, rec.id)
            raise job_failure(rec)
        assert rec.result is not None
        data = await run_in_threadpool(q.jobs.result_path(rec).read_bytes)
        await run_in_threadpool(q.jobs.delete, rec.id)
        return Colorized(data, rec.result.format)

    async def add(
        self, upload: UploadFile, asked: Asked, batch: str | None = None, position: int | None = None
    ) -> Queued:
        job_id = await self._submit(upload, asked, "add", batch, position)
        return Queued(self.client.status(job_id))

    async def rerun(self, photo_id: str, asked: Asked) -> Queued:
        request = self._request(asked)
        rec = self.storage.get(photo_id)
        self.storage.require_writable()
        self.storage.require_version_room(photo_id)
        data = await run_in_threadpool(self.storage.path(rec, "original").read_bytes)
        job = await run_in_threadpool(
            lambda: self.client.submit("rerun", data, request, name=rec.name, photo_id=photo_id)
        )
        return Queued(self.client.status(job.id))

    async def preview(self, photo_id: str, asked: Asked) -> Colorized:
        """A colorize job on the stored original; the worker makes it full size, this side shrinks the JPEG."""
        request = replace(self._request(asked), format="JPEG")
        rec = self.storage.get(photo_id)
        data = await run_in_threadpool(self.storage.path(rec, "original").read_bytes)
        job = await run_in_threadpool(lambda: self.client.submit("colorize", data, request, name=rec.name))
        full = await self._answer(job.id)
        return Colorized(await run_in_threadpool(shrink_jpeg, full.data, PREVIEW_SIDE), "JPEG")

    async def suggest(self, photo_id: str, x: float, y: float) -> list[str]:
        raise NotAvailable(
            "Colour suggestions need the model in the web server; in queue mode it runs on the workers. "
            "Choose any colour instead."
        )

    def health(self) -> tuple[dict[str, Any], int]:
        """The model is the workers' business; this side needs Redis (503 queue_unavailable when away). A queue
        without a live worker, or full, is `degraded` with the reason, and still 200: a container health check
        must not restart the web side for a missing worker."""
        queue = self.client.health()
        problems = []
        if queue["workers"] == 0:
            problems.append(
                f"no colorizing worker has reported in the last {self.settings.redelivery_s:g} s: "
                "photos wait until one starts"
            )
        if queue["waiting"] >= self.settings.max_queued:
            problems.append(f"the queue is full ({queue['waiting']} waiting): uploads get 503 until it drains")
        paused = self._paused()
        if paused:
            problems.append("the operator paused the queue: photos wait until `heirloom jobs resume`")
        body: dict[str, Any] = {"status": "degraded" if problems else "ok", "mode": "queue", "model_loaded": False}
        body["queue"] = {**queue, "paused": True} if paused else queue
        if problems:
            body["problems"] = problems
        return body, 200

    def _paused(self) -> bool:
        try:
            return pause.paused_since(self.client.broker) is not None
        except jq.BrokerUnavailable as e:
            raise QueueUnavailable(f"The job queue cannot be reached ({e}).") from e

    def figures(self) -> Figures:
        counts = self.client.jobs.tally.read()
        b, s = self.client.broker, self.settings
        try:
            return Figures(
                counts,
                waiting=jq.waiting(b),
                running=jq.unacknowledged(b),
                dead_lettered=jq.dead_lettered(b),
                capacity=s.max_queued,
                workers=jq.live_workers(b, s.redelivery_s),
                paused=pause.paused_since(b) is not None,
                broker_up=True,
            )
        except (jq.BrokerUnavailable, redis.RedisError):  # told as heirloom_broker_up 0, not a failed scrape
            return Figures(counts, capacity=s.max_queued, broker_up=False)

    def worker_jobs(self) -> JobStore:
        if not self.settings.worker_token:
            raise NotFound("This server has no worker API: set HEIRLOOM_WORKER_TOKEN to open it.")
        return self.client.jobs

    def job(self, job_id: str) -> dict[str, Any]:
        return self.client.status(job_id)

    def job_result(self, job_id: str) -> tuple[Path, str]:
        q = self.client
        rec = q.get(job_id)
        if rec.status != DONE or rec.result is None or not q.jobs.result_path(rec).exists():
            raise NotFound("This job has no result (yet, or any more: album photos are under /api/photos).")
        return q.jobs.result_path(rec), rec.result.format


def shrink_jpeg(data: bytes, side: int) -> bytes:
    """A worker's JPEG result (ours, not an upload) with its long side at most `side`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if max(im.size) <= side:
            return data
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=88)
        return buf.getvalue()
