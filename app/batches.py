"""Batches: several photos chosen together. Each upload names its batch and position; its outcome (the
stored photo, or the reason it failed) is recorded so the batch page shows every photo's status."""

from __future__ import annotations

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions, HeirloomError, InvalidOption

from .errors import describe
from .metadata import Record
from .photos import Runtime, create_photo


async def create_in_batch(
    rt: Runtime, upload: UploadFile, opts: ColorizeOptions, batch_id: str, position: int | None
) -> Record:
    """`create_photo`, recorded as item `position` of the batch (checked before any work)."""
    batch = await run_in_threadpool(rt.storage.batch, batch_id)
    if position is None or not 0 <= position < len(batch.items):
        raise InvalidOption("position", f"The batch has photos 0 to {len(batch.items) - 1}; say which this is.")
    try:
        rec = await create_photo(rt, upload, opts)
    except HeirloomError as e:
        message = describe(e)[1]["message"]
        await run_in_threadpool(rt.storage.settle, batch_id, position, None, message)
        raise
    await run_in_threadpool(rt.storage.settle, batch_id, position, rec.id)
    return rec
