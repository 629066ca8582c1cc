"""The album's photos over REST: add (colorize and keep), list, read, caption, delete to the trash, and
their stored files. Errors are typed and turned into JSON by app.errors; /docs documents every route."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Header, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from model import InvalidOption

from ..album.idempotency import PENDING, Answer, checked_key
from ..album.metadata import CAPTION_FIELDS, MAX_CAPTION, SORTS, Record
from ..album.trash import TRASH_DAYS, move_to_trash
from ..errors import describe
from ..runtime import BackendDep, OptionsDep, StorageDep
from ..serving.backend import Queued
from .shapes import ERRORS, FILE, NO_PHOTO, QUEUED, accepted, photo_json, preview_file, stored_file

router = APIRouter(prefix="/api/photos", tags=["album"])


@router.post(
    "",
    status_code=201,
    responses={**QUEUED, **ERRORS},
    summary="Colorize a scan and keep original and result in the album",
)
async def add_photo(
    backend: BackendDep,
    storage: StorageDep,
    asked: OptionsDep,
    file: UploadFile = FILE,
    batch: str | None = Form(None, description="A batch from `POST /api/batches` this photo belongs to"),
    position: int | None = Form(None, description="The photo's index in the batch's `names`"),
    idempotency_key: str | None = Header(
        None, description="Any unique string per file (a UUID): the same upload sent again gets the first answer"
    ),
) -> JSONResponse:
    """201 + the photo; in queue mode 202 + the job (its `page_url` once it is done; a batch's page shows
    its status too). With `Idempotency-Key`, a repeat within 24 hours answers as the first did (409 while the
    first is still being answered) and stores nothing."""
    key = checked_key(idempotency_key)
    if key is not None:
        earlier = await run_in_threadpool(storage.claim_key, key)
        if earlier is not None:
            return _repeat(earlier)
    try:
        result = await backend.add(file, asked, batch, position)
    except BaseException as e:
        if key is not None:
            status, body, _ = describe(e) if isinstance(e, Exception) else (503, {}, {})
            if status >= 500:  # worth retrying: the key is free again
                await run_in_threadpool(storage.release_key, key)
            else:
                await run_in_threadpool(storage.answer_key, key, status, body)
        raise
    response = (
        accepted(result)
        if isinstance(result, Queued)
        else JSONResponse(photo_json(result), 201, headers={"Location": f"/api/photos/{result.id}"})
    )
    if key is not None:
        body = json.loads(bytes(response.body))
        await run_in_threadpool(
            storage.answer_key, key, response.status_code, body, response.headers.get("location", "")
        )
    return response


def _repeat(earlier: Answer) -> JSONResponse:
    if earlier.status == PENDING:
        return JSONResponse(
            {"error": "in_progress", "message": "This upload is still being colorized; ask again in a moment."},
            409,
            headers={"Retry-After": "2"},
        )
    headers = {"Idempotent-Replay": "true"}
    if earlier.location:
        headers["Location"] = earlier.location
    return JSONResponse(earlier.body, earlier.status, headers=headers)


@router.get("", summary="The album, one page at a time")
def list_photos(
    storage: StorageDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    q: str = Query("", max_length=MAX_CAPTION, description="Only photos whose name or caption contains this text"),
    sort: str = Query("newest", description="Order of the photos", json_schema_extra={"enum": list(SORTS)}),
) -> dict[str, Any]:
    if sort not in SORTS:
        raise InvalidOption("sort", f"sort must be one of {', '.join(SORTS)}.")
    total, records = storage.listing(q.strip(), sort, limit, offset)
    return {"total": total, "photos": [photo_json(r) for r in records]}


@router.get("/{photo_id}", responses=NO_PHOTO, summary="A photo and all its versions")
def get_photo(storage: StorageDep, photo_id: str) -> dict[str, Any]:
    return photo_json(storage.get(photo_id), storage.versions(photo_id))


class PhotoChange(BaseModel):
    """The caption fields to change, and/or the favourite version; a field left out stays as it is,
    "" clears a caption field."""

    model_config = ConfigDict(extra="forbid")
    who: str | None = Field(None, description=f"Who is in the photo (at most {MAX_CAPTION} characters)")
    where: str | None = Field(None, description="Where it was taken")
    when: str | None = Field(None, description='When it was taken, in any words ("summer 1952")')
    favorite: str | None = Field(None, description="The id of the version the album and the downloads use")


@router.patch(
    "/{photo_id}",
    responses={**NO_PHOTO, 422: {"description": "A caption field too long"}},
    summary="Change the photo's caption (who, where, when) or its favourite version",
)
async def change_photo(storage: StorageDep, photo_id: str, change: PhotoChange) -> dict[str, Any]:
    caption = {f: getattr(change, f) for f in CAPTION_FIELDS}

    def apply() -> Record:
        rec = storage.set_caption(photo_id, **caption)
        return rec if change.favorite is None else storage.set_favorite(photo_id, change.favorite)

    rec = await run_in_threadpool(apply)
    return photo_json(rec, storage.versions(photo_id))


@router.get("/{photo_id}/original", response_class=FileResponse, summary="The upload, byte for byte")
def get_original(storage: StorageDep, photo_id: str, download: bool = False) -> FileResponse:
    return stored_file(storage, photo_id, "original", download)


@router.get(
    "/{photo_id}/original/preview/{side}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NO_PHOTO},
    summary="The original as a JPEG any browser shows, its long side 480, 960 or 1920 px",
)
def get_original_preview(storage: StorageDep, photo_id: str, side: int) -> FileResponse:
    """Made when the photo was colorized (a TIFF or HEIC scan too); 404 for photos from before previews."""
    rec = storage.get(photo_id)
    return preview_file(storage.preview_path(rec, side))


@router.get(
    "/{photo_id}/result",
    response_class=FileResponse,
    summary="The colorized photo at full resolution",
)
def get_result(storage: StorageDep, photo_id: str, download: bool = False) -> FileResponse:
    return stored_file(storage, photo_id, "result", download)


@router.get("/{photo_id}/thumbnail", response_class=FileResponse)
def get_thumbnail(storage: StorageDep, photo_id: str) -> FileResponse:
    return stored_file(storage, photo_id, "thumbnail", False)


@router.delete(
    "/{photo_id}",
    status_code=204,
    response_class=Response,
    responses=NO_PHOTO,
    summary=f"Move a photo to the trash (restorable for {TRASH_DAYS} days; see /api/trash)",
)
async def delete_photo(storage: StorageDep, photo_id: str) -> Response:
    await run_in_threadpool(move_to_trash, storage, photo_id)
    return Response(status_code=204)
