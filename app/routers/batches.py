"""Batches and ZIP downloads: a batch's gallery page and status, and archives of a batch, a selection
or the whole album."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from model import InvalidOption

from ..album.batch_index import Batch
from ..album.disk import storage_error
from ..album.metadata import Record
from ..album.storage import Storage
from ..album.zips import write_zip
from ..errors import NotFound
from ..runtime import RuntimeDep
from ..templating import render
from .shapes import photo_json

router = APIRouter()
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such batch or photo"}}
ZIP: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}}}}
ORIGINALS = Query(False, description="Also put each original scan in the archive, under originals/")
MAX_SELECTION = 1000


class NewBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[str] = Field(..., description="The files' names, in the order they will be uploaded")


def _records(storage: Storage, batch: Batch) -> dict[int, Record]:
    """The batch's stored photos by position (one deleted since is left out)."""
    found = {}
    for item in batch.items:
        if item.photo_id:
            try:
                found[item.position] = storage.get(item.photo_id)
            except NotFound:
                pass
    return found


def _before_url(storage: Storage, rec: Record) -> str | None:
    """The scan itself, small (its JPEG preview); None for photos from before previews."""
    return f"/api/photos/{rec.id}/original/preview/480" if storage.preview_path(rec, 480) else None


def _slug(text: str) -> str:
    """A caption or file name as part of a file name: letters, digits and dashes (any script), at most 40."""
    words = re.findall(r"\w+", re.sub(r"\.(jpe?g|png|tiff?|webp|bmp|gif|heic|heif|mpo)$", "", text, flags=re.I))
    return "-".join(words)[:40].strip("-").lower() or "photos"


def zip_name(records: list[Record], when: float | None = None, whole: bool = False) -> str:
    """heirloom-album-2026-12-03.zip, heirloom-grandma-rose.zip, heirloom-grandma-rose-and-4-more.zip…"""
    day = time.strftime("%Y-%m-%d", time.gmtime(when if when is not None else time.time()))
    if whole:
        return f"heirloom-album-{day}.zip"
    if not records:
        return f"heirloom-{day}.zip"
    first = _slug(records[0].label)
    more = f"-and-{len(records) - 1}-more" if len(records) > 1 else ""
    return f"heirloom-{first}{more}-{day}.zip"


def batch_json(storage: Storage, batch: Batch) -> dict[str, Any]:
    records = _records(storage, batch)
    now = time.time()
    items = [
        {
            "position": i.position,
            "name": i.name,
            "status": batch.status_at(i, now) if i.status != "done" or i.position in records else "deleted",
            "error": i.error or None,
            "photo": photo_json(records[i.position]) if i.position in records else None,
            "before_url": _before_url(storage, records[i.position]) if i.position in records else None,
        }
        for i in batch.items
    ]
    counts = {s: sum(1 for i in items if i["status"] == s) for s in ("waiting", "working", "done", "failed", "missing")}
    counts["waiting"] += counts.pop("working")  # still to come or still colorizing: the page keeps watching
    url = f"/api/batches/{batch.id}"
    return {
        "id": batch.id,
        "created": batch.created,
        "total": len(items),
        **counts,
        "settled": counts["waiting"] == 0,
        "items": items,
        "url": url,
        "page_url": f"/batches/{batch.id}",
        "zip_url": f"{url}/zip",
    }


class Missing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions: list[int] = Field(..., description="The files the page could not send (their places in the batch)")


@router.post(
    "/api/batches/{batch_id}/missing",
    tags=["batches"],
    responses=NOT_FOUND,
    summary="Declare files the page could not send: the batch settles without them",
)
def declare_missing(rt: RuntimeDep, batch_id: str, missing: Missing) -> dict[str, Any]:
    """Files that arrived after all are left alone. The server declares a file missing by itself when it has
    not arrived 10 minutes after the batch last moved."""
    storage = rt.storage
    storage.declare_missing(batch_id, missing.positions)
    return batch_json(storage, storage.batch(batch_id))


@router.post("/api/batches", status_code=201, tags=["batches"], summary="Start a batch of uploads")
def create_batch(rt: RuntimeDep, batch: NewBatch) -> JSONResponse:
    """Then upload each file to `POST /api/photos` with the form fields `batch` (this id) and `position`
    (its index in `names`); the batch's page shows each photo's status. At most 500 names."""
    storage = rt.storage
    created = storage.create_batch(batch.names)
    return JSONResponse(batch_json(storage, created), 201, headers={"Location": f"/api/batches/{created.id}"})


@router.get("/api/batches/{batch_id}", tags=["batches"], responses=NOT_FOUND, summary="A batch and each photo's status")
def get_batch(rt: RuntimeDep, batch_id: str) -> dict[str, Any]:
    storage = rt.storage
    return batch_json(storage, storage.batch(batch_id))


def _zip_in(folder: Path | None, storage: Storage, records: list[Record], originals: bool) -> tuple[Path, int]:
    """The archive in a temporary file in `folder` (None: the system's); nothing left behind on failure."""
    fd, name = tempfile.mkstemp(".zip", "zip-", dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        return path, write_zip(storage, records, path, originals)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_zip(storage: Storage, records: list[Record], originals: bool) -> tuple[Path, int]:
    """On the album's disk, else (full, read-only) on the system's; where neither can hold it, the same
    507 / 503 `read_only` as every other write."""
    if not storage.read_only:
        try:
            return _zip_in(storage.tmp, storage, records, originals)
        except OSError as e:
            if storage_error(e) is None:
                raise
    try:
        return _zip_in(None, storage, records, originals)
    except OSError as e:
        typed = storage_error(e)
        if typed is None:
            raise
        raise typed from e


async def _zip(storage: Storage, records: Iterable[Record], name: str, originals: bool) -> Response:
    path, count = await run_in_threadpool(_write_zip, storage, list(records), originals)
    if count == 0:
        path.unlink(missing_ok=True)
        raise NotFound("There are no photos to put in the archive.")
    return FileResponse(
        path, media_type="application/zip", filename=name, background=BackgroundTask(path.unlink, missing_ok=True)
    )


@router.get(
    "/api/batches/{batch_id}/zip",
    tags=["batches"],
    response_class=FileResponse,
    responses={**ZIP, **NOT_FOUND},
    summary="The batch's colorized photos as one ZIP",
)
async def batch_zip(rt: RuntimeDep, batch_id: str, originals: bool = ORIGINALS) -> Response:
    storage = rt.storage
    batch = storage.batch(batch_id)
    records = list(_records(storage, batch).values())
    return await _zip(storage, records, zip_name(records, batch.created), originals)


def _whole_album(storage: Storage) -> Iterator[Record]:
    offset = 0
    while page := storage.newest_first(500, offset):
        yield from page
        offset += len(page)


@router.get(
    "/api/album.zip",
    tags=["album"],
    response_class=FileResponse,
    responses={**ZIP, **NOT_FOUND, 422: {"description": "Neither photos chosen nor `all`"}},
    summary="Chosen photos, or the whole album, as one ZIP",
)
async def album_zip(
    rt: RuntimeDep,
    ids: list[str] = Query([], alias="id", description=f"The photos to include (at most {MAX_SELECTION})"),
    everything: bool = Query(False, alias="all", description="Every photo in the album (then `id` is not needed)"),
    originals: bool = ORIGINALS,
) -> Response:
    storage = rt.storage
    if everything:
        return await _zip(storage, _whole_album(storage), zip_name([], whole=True), originals)
    chosen = list(dict.fromkeys(ids))
    if not chosen:
        raise InvalidOption("id", "Choose at least one photo (or ask for all of them).")
    if len(chosen) > MAX_SELECTION:
        raise InvalidOption("id", f"At most {MAX_SELECTION} photos at once; use all=true for the whole album.")
    records = [storage.get(i) for i in chosen]
    return await _zip(storage, records, zip_name(records), originals)


@router.get("/batches", include_in_schema=False)
def batches_page(request: Request, rt: RuntimeDep) -> Response:
    storage = rt.storage
    return render(request, "batches.html", {"batches": [batch_json(storage, b) for b in storage.recent_batches()]})


@router.get("/batches/{batch_id}", include_in_schema=False)
def batch_page(request: Request, rt: RuntimeDep, batch_id: str) -> Response:
    storage = rt.storage
    return render(request, "batch.html", {"batch": batch_json(storage, storage.batch(batch_id))})
