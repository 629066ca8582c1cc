"""The REST API: one-shot `/colorize` for curl, and `/api/photos` for the album. Errors are typed
and turned into JSON by app.errors; the OpenAPI schema at /docs documents every route."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions, InvalidOption, formats
from model.job_store import Request as Asked
from model.options import MAX_SATURATION, POLICIES

from .batches import create_in_batch
from .metadata import CAPTION_FIELDS, MAX_CAPTION, SORTS, Record
from .photos import Runtime, colorize_upload, create_photo, rerun_photo, runtime
from .queue_routes import accepted, colorize_and_wait, enqueue_rerun, enqueue_upload
from .storage import THUMB_FORMAT
from .trash import TRASH_DAYS, move_to_trash
from .versions import Version

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "File over the byte limit, or image over the pixel limit (decompression bombs too)"},
    415: {"description": "Not an image, truncated, or an image mode we cannot colorize"},
    422: {"description": "An option out of range; the JSON names the `field`"},
    503: {"description": "Queue full (see Retry-After), model not loaded, or (queue mode) Redis unreachable"},
}
QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queue mode: the job was queued; follow it at `Location` (/api/jobs/{id})"}
}
# Options are validated once, by ColorizeOptions (a 422 naming the field); the enums document them.
FILE = File(..., description=f"The scan: {', '.join(formats.FORMATS)}")
RENDER_SIZE = Form(None, description="Size the network sees (a multiple of the model's); default: the model's own")
POLICY = Form(None, description="Aspect policy", json_schema_extra={"enum": list(POLICIES)})
SATURATION = Form(None, description=f"Multiply the predicted colour: 0 (gray) to {MAX_SATURATION:g}; default 1")
FORMAT = Form(
    None,
    description="Output format; default: the upload's own where it can be written",
    json_schema_extra={"enum": list(formats.CHOICES)},
)


def form_fields(
    render_size: int | None = RENDER_SIZE,
    policy: str | None = POLICY,
    saturation: float | None = SATURATION,
    format: str | None = FORMAT,
) -> Asked:
    """The option fields of a form, as given; `model_options` validates them for the loaded model."""
    return Asked(render_size, policy, saturation, format)


def model_options(rt: Runtime, asked: Asked) -> ColorizeOptions:
    """Validated options for the loaded model (or a 503, 422)."""
    return rt.require_model().options(asked.render_size, asked.policy, asked.saturation, asked.format)


OPTIONS = Depends(form_fields)


def version_json(photo_id: str, v: Version, favorite: str) -> dict[str, Any]:
    base = f"/api/photos/{photo_id}/versions/{v.id}"
    return {
        **asdict(v),
        "favorite": v.id == favorite,
        "url": base,
        "result_url": f"{base}/result",
        "thumbnail_url": f"{base}/thumbnail",
    }


def photo_json(rec: Record, versions: list[Version] | None = None) -> dict[str, Any]:
    """The photo with its favourite version's result and settings at the top level (as before versions);
    with `versions`, all of them."""
    base = f"/api/photos/{rec.id}"
    flat = {f.name: getattr(rec, f.name) for f in fields(rec) if f.name != "favorite" and "caption_" not in f.name}
    fav = {k: v for k, v in asdict(rec.favorite).items() if k not in ("id", "created")}
    body = {
        **flat,
        **fav,
        "favorite": rec.favorite.id,
        "caption": rec.caption,
        "label": rec.label,
        "url": base,
        "page_url": f"/photos/{rec.id}",
        "original_url": f"{base}/original",
        "result_url": f"{base}/result",
        "thumbnail_url": f"{base}/thumbnail",
        "versions_url": f"{base}/versions",
    }
    if versions is not None:
        body["versions"] = [version_json(rec.id, v, rec.favorite.id) for v in versions]
    return body


@router.get("/healthz", tags=["service"], summary="Is the model loaded (or, in queue mode, is Redis reachable)?")
def healthz(request: Request) -> JSONResponse:
    rt = runtime(request)
    storage = "read-only" if rt.storage.read_only else "ok"
    if rt.queue is not None:  # the model is the workers' business; this side needs Redis
        body: dict[str, Any] = {"status": "ok", "mode": "queue", "model_loaded": False, "storage": storage}
        body["queue"] = rt.queue.health()  # 503 queue_unavailable when Redis is away
        return JSONResponse(body)
    body = {
        "status": "ok" if rt.profile else "error",
        "model_loaded": rt.profile is not None,
        "queue": {"pending": rt.pool.pending, "capacity": rt.pool.capacity},
        "storage": storage,
    }
    if rt.profile is None:
        body["error"] = rt.model_error
    else:
        body["device"] = rt.profile.device
        body["precision"] = rt.profile.precision
    return JSONResponse(body, 200 if rt.profile else 503)


IMAGES: dict[int | str, dict[str, Any]] = {200: {"content": {f.media_type: {} for f in formats.WRITABLE}}}


@router.post(
    "/colorize",
    tags=["colorize"],
    responses={**IMAGES, **ERRORS},
    response_class=Response,
    summary="Colorize one scan and answer with the image",
)
async def colorize(request: Request, file: UploadFile = FILE, asked: Asked = OPTIONS) -> Response:
    """Same pixel size and aspect ratio as the upload; nothing is stored. In queue mode the job is queued
    and the request waits for it (at most `HEIRLOOM_WAIT_TIMEOUT` s, then 504).
    `curl -F file=@scan.jpg http://127.0.0.1:8000/colorize -o color.jpg`"""
    rt = runtime(request)
    if rt.queue is not None:
        return await colorize_and_wait(rt, file, asked)
    _, out = await colorize_upload(rt, file, model_options(rt, asked), with_thumb=False)
    return Response(
        out.data,
        media_type=formats.media_type(out.format),
        headers={"Content-Disposition": f'inline; filename="colorized.{formats.extension(out.format)}"'},
    )


@router.post(
    "/api/photos",
    status_code=201,
    tags=["album"],
    responses={**QUEUED, **ERRORS},
    summary="Colorize a scan and keep original and result in the album",
)
async def add_photo(
    request: Request,
    file: UploadFile = FILE,
    asked: Asked = OPTIONS,
    batch: str | None = Form(None, description="A batch from `POST /api/batches` this photo belongs to"),
    position: int | None = Form(None, description="The photo's index in the batch's `names`"),
) -> JSONResponse:
    """201 + the photo; in queue mode 202 + the job (its `page_url` once it is done; a batch's page shows
    its status too)."""
    rt = runtime(request)
    if rt.queue is not None:
        return accepted(rt, await enqueue_upload(rt, file, asked, "add", batch, position))
    opts = model_options(rt, asked)
    rec = await (create_in_batch(rt, file, opts, batch, position) if batch else create_photo(rt, file, opts))
    return JSONResponse(photo_json(rec), 201, headers={"Location": f"/api/photos/{rec.id}"})


@router.get("/api/photos", tags=["album"], summary="The album, one page at a time")
def list_photos(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    q: str = Query("", max_length=MAX_CAPTION, description="Only photos whose name or caption contains this text"),
    sort: str = Query("newest", description="Order of the photos", json_schema_extra={"enum": list(SORTS)}),
) -> dict[str, Any]:
    if sort not in SORTS:
        raise InvalidOption("sort", f"sort must be one of {', '.join(SORTS)}.")
    total, records = runtime(request).storage.listing(q.strip(), sort, limit, offset)
    return {"total": total, "photos": [photo_json(r) for r in records]}


NO_PHOTO: dict[int | str, dict[str, Any]] = {404: {"description": "No such photo (or version)"}}


@router.get("/api/photos/{photo_id}", tags=["album"], responses=NO_PHOTO, summary="A photo and all its versions")
def get_photo(request: Request, photo_id: str) -> dict[str, Any]:
    storage = runtime(request).storage
    return photo_json(storage.get(photo_id), storage.versions(photo_id))


@router.get("/api/photos/{photo_id}/versions", tags=["versions"], responses=NO_PHOTO, summary="A photo's versions")
def list_versions(request: Request, photo_id: str) -> dict[str, Any]:
    """Every colorization of the photo, oldest first, each with its options and the model (file name and
    SHA-256) that made it; `favorite` marks the one the album and the downloads use."""
    storage = runtime(request).storage
    rec = storage.get(photo_id)
    return {
        "favorite": rec.favorite.id,
        "versions": [version_json(rec.id, v, rec.favorite.id) for v in storage.versions(photo_id)],
    }


class PhotoChange(BaseModel):
    """The caption fields to change, and/or the favourite version; a field left out stays as it is,
    "" clears a caption field."""

    model_config = ConfigDict(extra="forbid")
    who: str | None = Field(None, description=f"Who is in the photo (at most {MAX_CAPTION} characters)")
    where: str | None = Field(None, description="Where it was taken")
    when: str | None = Field(None, description='When it was taken, in any words ("summer 1952")')
    favorite: str | None = Field(None, description="The id of the version the album and the downloads use")


@router.patch(
    "/api/photos/{photo_id}",
    tags=["album"],
    responses={**NO_PHOTO, 422: {"description": "A caption field too long"}},
    summary="Change the photo's caption (who, where, when) or its favourite version",
)
async def change_photo(request: Request, photo_id: str, change: PhotoChange) -> dict[str, Any]:
    storage = runtime(request).storage
    caption = {f: getattr(change, f) for f in CAPTION_FIELDS}

    def apply() -> Record:
        rec = storage.set_caption(photo_id, **caption)
        return rec if change.favorite is None else storage.set_favorite(photo_id, change.favorite)

    rec = await run_in_threadpool(apply)
    return photo_json(rec, storage.versions(photo_id))


@router.post(
    "/api/photos/{photo_id}/rerun",
    status_code=201,
    tags=["versions"],
    responses={**QUEUED, **ERRORS, **NO_PHOTO},
    summary="Colorize the stored original again with other options: adds a version",
)
async def rerun(request: Request, photo_id: str, asked: Asked = OPTIONS) -> JSONResponse:
    """The earlier versions stay; the new one (its options and the loaded model recorded) becomes the
    favourite. The answer is the photo with all its versions; `Location` is the new version. In queue
    mode: 202 + the job, which adds the version when a worker has made it."""
    rt = runtime(request)
    if rt.queue is not None:
        return accepted(rt, await enqueue_rerun(rt, photo_id, asked))
    rec = await rerun_photo(rt, photo_id, model_options(rt, asked))
    body = photo_json(rec, rt.storage.versions(photo_id))
    return JSONResponse(body, 201, headers={"Location": f"/api/photos/{photo_id}/versions/{rec.favorite.id}"})


@router.delete(
    "/api/photos/{photo_id}/versions/{version_id}",
    status_code=204,
    tags=["versions"],
    response_class=Response,
    responses={**NO_PHOTO, 409: {"description": "The photo's only version (delete the photo instead)"}},
    summary="Delete one version (not the last); a deleted favourite passes to the newest left",
)
async def delete_version(request: Request, photo_id: str, version_id: str) -> Response:
    await run_in_threadpool(runtime(request).storage.delete_version, photo_id, version_id)
    return Response(status_code=204)


def _file(request: Request, photo_id: str, kind: str, download: bool, version_id: str | None = None) -> FileResponse:
    storage = runtime(request).storage
    rec, v = storage.version(photo_id, version_id) if version_id else (storage.get(photo_id), None)
    version = v or rec.favorite
    fmt = {"original": rec.original_format, "result": version.result_format, "thumbnail": THUMB_FORMAT.name}[kind]
    stem = rec.name.rsplit(".", 1)[0] or "photo"
    suffix = "-color" if kind == "result" else ""
    if v is not None and kind == "result":
        suffix += f"-{v.id}"
    name = f"{stem}{suffix}.{formats.extension(fmt)}"
    return FileResponse(
        storage.path(rec, kind, version),
        media_type=formats.media_type(fmt),
        filename=name,
        content_disposition_type="attachment" if download else "inline",
        headers={"Cache-Control": "private, no-cache"},
    )


@router.get(
    "/api/photos/{photo_id}/original", tags=["album"], response_class=FileResponse, summary="The upload, byte for byte"
)
def get_original(request: Request, photo_id: str, download: bool = False) -> FileResponse:
    return _file(request, photo_id, "original", download)


@router.get(
    "/api/photos/{photo_id}/result",
    tags=["album"],
    response_class=FileResponse,
    summary="The colorized photo at full resolution",
)
def get_result(request: Request, photo_id: str, download: bool = False) -> FileResponse:
    return _file(request, photo_id, "result", download)


@router.get("/api/photos/{photo_id}/thumbnail", tags=["album"], response_class=FileResponse)
def get_thumbnail(request: Request, photo_id: str) -> FileResponse:
    return _file(request, photo_id, "thumbnail", False)


@router.get(
    "/api/photos/{photo_id}/versions/{version_id}/result",
    tags=["versions"],
    response_class=FileResponse,
    responses=NO_PHOTO,
    summary="One version's colorized photo",
)
def get_version_result(request: Request, photo_id: str, version_id: str, download: bool = False) -> FileResponse:
    return _file(request, photo_id, "result", download, version_id)


@router.get("/api/photos/{photo_id}/versions/{version_id}/thumbnail", tags=["versions"], response_class=FileResponse)
def get_version_thumbnail(request: Request, photo_id: str, version_id: str) -> FileResponse:
    return _file(request, photo_id, "thumbnail", False, version_id)


@router.delete(
    "/api/photos/{photo_id}",
    status_code=204,
    tags=["album"],
    response_class=Response,
    responses=NO_PHOTO,
    summary=f"Move a photo to the trash (restorable for {TRASH_DAYS} days; see /api/trash)",
)
async def delete_photo(request: Request, photo_id: str) -> Response:
    await run_in_threadpool(move_to_trash, runtime(request).storage, photo_id)
    return Response(status_code=204)
