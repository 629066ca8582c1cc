"""The one interface between the web side and the colorizing: routes and pages call a `Backend` and never
ask which one it is. Chosen once, at start (`factory.open_backend`): `LocalBackend` runs photos in this machine's
worker processes; `QueueBackend` (`--broker redis://…`) stores them as jobs for `heirloom worker`s.

A photo added to the album comes back either stored (a `Record`, now) or `Queued` (a job to follow,
stored when a worker has made it); a batch's item is settled either way, or at once when refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions, HeirloomError, InvalidOption

from ..album.metadata import Record
from ..album.storage import Storage
from ..errors import AlreadyStored, UploadTooLarge, describe
from ..settings import human_size
from .contract import ModelId
from .contract import Request as Asked
from .figures import Figures

CHUNK = 1 << 20
T = TypeVar("T")

PREVIEW_SIDE = 1024  # "Fix a colour" previews: enough for a laptop screen, about a second on 2 cores


@dataclass(frozen=True)
class Queued:
    """Accepted for later: the job's status as `GET /api/jobs/{id}` shows it."""

    status: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.status["url"])

    @property
    def page(self) -> str:
        return f"/jobs/{self.status['id']}"


@dataclass(frozen=True)
class Colorized:
    """POST /colorize's answer: the result's bytes and their format."""

    data: bytes
    format: str


class Backend(Protocol):
    def form_defaults(self) -> ColorizeOptions | None:
        """The model's own options for the forms; None while unknown."""
        ...

    def model(self) -> ModelId:
        """The weights that make the results (file name and SHA-256; empty while unknown)."""
        ...

    def render_sizes(self, width: int, height: int, deep: bool = False) -> list[int]:
        """The detail levels a photo of this size fits at on this server (ModelProfile.render_sizes_that_fit);
        [] while the model is unknown."""
        ...

    def takes_hints(self) -> bool:
        """Whether the model takes colour hints (the photo page offers "Fix a colour"); False while unknown."""
        ...

    def problem(self) -> str | None:
        """Why photos cannot be colorized here at all, in words (the pages' banner); None: they can."""
        ...

    def check(self, asked: Asked) -> None:
        """Refuse bad options (422) or an absent model (503) before any file is read."""
        ...

    async def colorize(self, upload: UploadFile, asked: Asked) -> Colorized: ...

    async def add(
        self, upload: UploadFile, asked: Asked, batch: str | None = None, position: int | None = None
    ) -> Record | Queued:
        """A new album photo from the upload; with `batch`, as item `position` of it."""
        ...

    async def rerun(self, photo_id: str, asked: Asked) -> Record | Queued:
        """A new version of the photo from its stored original; it becomes the favourite."""
        ...

    async def preview(self, photo_id: str, asked: Asked) -> Colorized:
        """The photo colorized with these options (hints), as a JPEG of at most PREVIEW_SIDE: nothing stored."""
        ...

    async def suggest(self, photo_id: str, x: float, y: float) -> list[str]:
        """The colours ("#rrggbb") the model finds plausible at (x, y) of the photo, most likely first."""
        ...

    def health(self) -> tuple[dict[str, Any], int]:
        """/healthz's body (beside the storage) and status."""
        ...

    def figures(self) -> Figures:
        """What /metrics reports, read now (blocking: call from a thread)."""
        ...

    def job(self, job_id: str) -> dict[str, Any]:
        """A queued job's status (NotFound where there are no jobs)."""
        ...

    def worker_jobs(self) -> Any:
        """Queue mode with HEIRLOOM_WORKER_TOKEN: the JobStore that workers on other machines reach through the
        worker API (app/routers/worker_api.py); else NotFound."""
        ...

    def job_result(self, job_id: str) -> tuple[Any, str]:
        """A finished /colorize job's result file and its format."""
        ...


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's exact bytes, refusing more than `limit` without reading them all."""
    parts, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"The file is larger than the limit of {human_size(limit)}.")
        parts.append(chunk)
    return b"".join(parts)


async def in_batch(storage: Storage, batch: str | None, position: int | None, work: Callable[[], Awaitable[T]]) -> T:
    """`work`, as item `position` of `batch` (checked before any work): an error settles the item with its
    sentence, then propagates. Settling a success is the caller's (a queued job settles when collected)."""
    if batch is None:
        return await work()
    found = await run_in_threadpool(storage.batch, batch)
    if position is None or not 0 <= position < len(found.items):
        raise InvalidOption("position", f"The batch has photos 0 to {len(found.items) - 1}; say which this is.")
    if found.items[position].status == "done":
        raise AlreadyStored(f"Photo {position + 1} of this batch ({found.items[position].name}) is already stored.")
    await run_in_threadpool(storage.arrived, batch, position)  # from here it is finished whatever the browser does
    try:
        return await work()
    except HeirloomError as e:
        await run_in_threadpool(storage.settle, batch, position, None, describe(e)[1]["message"])
        raise
