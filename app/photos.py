"""What the routes do with an upload, shared by the JSON API and the HTML pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request, UploadFile
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions
from model.model_profile import ModelProfile
from model.worker import Job, Outcome, ProcessPool

from .errors import ModelUnavailable, UploadTooLarge
from .jobs import WorkerPool
from .metadata import Record
from .settings import Settings, human_size
from .storage import Storage
from .versions import ModelId, Rendering

if TYPE_CHECKING:
    from .queue import QueueClient

CHUNK = 1 << 20


@dataclass
class Runtime:
    """Everything built once at start-up and shared by all requests (kept on app.state.runtime)."""

    settings: Settings
    storage: Storage
    pool: WorkerPool
    model_error: str | None = None
    processes: ProcessPool | None = None  # started, each with the model; None when it could not load
    queue: QueueClient | None = None  # queue mode: jobs go to `heirloom worker`s; no model here

    @property
    def profile(self) -> ModelProfile | None:
        """The model the worker processes loaded: options and health (no torch in this process)."""
        return self.processes.profile if self.processes is not None else None

    @property
    def model(self) -> ModelId:
        """The loaded weights, recorded with every version they make."""
        p = self.profile
        return ModelId(p.model_name, p.model_sha256) if p else ModelId()

    def require_model(self) -> ModelProfile:
        if self.profile is None:
            raise ModelUnavailable(f"The colorization model is not loaded: {self.model_error}")
        return self.profile

    async def run(self, job: Job) -> Outcome:
        """One job in a worker process, admitted by the bounded queue (503 when full)."""
        self.require_model()
        assert self.processes is not None
        return await self.pool.run(self.processes.run, job)

    def rendering(self, out: Outcome, opts: ColorizeOptions) -> Rendering:
        return Rendering(out.data, out.format, out.thumb, opts, self.model)


def runtime(request: Request) -> Runtime:
    """The app's `Runtime` (built at start-up, kept on app.state)."""
    rt: Runtime = request.app.state.runtime
    return rt


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's exact bytes, refusing more than `limit` without reading them all."""
    parts, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"The file is larger than the limit of {human_size(limit)}.")
        parts.append(chunk)
    return b"".join(parts)


async def colorize_upload(
    rt: Runtime, upload: UploadFile, opts: ColorizeOptions, with_thumb: bool
) -> tuple[bytes, Outcome]:
    rt.require_model()
    data = await read_upload(upload, rt.settings.max_upload_bytes)
    return data, await rt.run(Job(data, opts, with_thumb))


async def create_photo(rt: Runtime, upload: UploadFile, opts: ColorizeOptions) -> Record:
    """Colorize, then store original and result together; a rejected upload stores nothing."""
    rt.storage.require_writable()  # before the work, not after it
    data, out = await colorize_upload(rt, upload, opts, with_thumb=True)
    name, r = upload.filename or "photo", rt.rendering(out, opts)
    return await run_in_threadpool(
        lambda: rt.storage.add(
            name=name, original=data, original_format=out.source_format, width=out.width, height=out.height, r=r
        )
    )


async def rerun_photo(rt: Runtime, photo_id: str, opts: ColorizeOptions) -> Record:
    """Colorize the stored original again with other options: a new version, which becomes the favourite."""
    rt.storage.require_writable()
    rt.require_model()
    rec = rt.storage.get(photo_id)
    data = await run_in_threadpool(rt.storage.path(rec, "original").read_bytes)
    out = await rt.run(Job(data, opts))
    return await run_in_threadpool(rt.storage.add_version, photo_id, rt.rendering(out, opts))
