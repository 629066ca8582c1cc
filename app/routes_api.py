"""The REST API: one-shot `/colorize` for curl, and `/api/photos` for the album. Errors are typed
and turned into JSON by app.errors; the OpenAPI schema at /docs documents every route."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from model import ColorizeOptions, formats
from model.job_store import Request as Asked
from model.options import MAX_SATURATION, POLICIES

from .metadata import CAPTION_FIELDS, MAX_CAPTION, Record
from .photos import Runtime, colorize_upload, create_photo, rerun_photo, runtime
from .queue_routes import accepted, colorize_and_wait, enqueue_rerun, enqueue_upload
from .storage import THUMB_FORMAT

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


def photo_json(rec: Record) -> dict[str, Any]:
    base = f"/api/photos/{rec.id}"
    flat = {k: v for k, v in rec.to_dict().items() if not k.startswith("caption_")}
    return {
        **flat,
        "caption": rec.caption,
        "label": rec.label,
        "url": base,
        "page_url": f"/photos/{rec.id}",
        "original_url": f"{base}/original",
        "result_url": f"{base}/result",
        "thumbnail_url": f"{base}/thumbnail",
    }


@router.get("/healthz", tags=["service"], summary="Is the model loaded (or, in queue mode, is Redis reachable)?")
def healthz(request: Request) -> JSONResponse:
    rt = runtime(request)
    storage = "read-only" if rt.storage.read_only else "ok"
    if rt.queue is not None:  # the model is the workers' business; this side needs Redis
        body: dict[str, Any] = {"status": "ok", "mode": "queue", "model_loaded": False, "storage": storage}
        body["queue"] = rt.queue.health()  # 503 queue_unavailable when Redis is away
        return JSONResponse(body)
    body = {
        "status": "ok" if rt.colorizer else "error",
        "model_loaded": rt.colorizer is not None,
        "queue": {"pending": rt.pool.pending, "capacity": rt.pool.capacity},
        "storage": storage,
    }
    if rt.colorizer is None:
        body["error"] = rt.model_error
    else:
        body["device"] = str(rt.colorizer.device)
    return JSONResponse(body, 200 if rt.colorizer else 503)


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
async def add_photo(request: Request, file: UploadFile = FILE, asked: Asked = OPTIONS) -> JSONResponse:
    """201 + the photo; in queue mode 202 + the job (its `page_url` once it is done)."""
    rt = runtime(request)
    if rt.queue is not None:
        return accepted(rt, await enqueue_upload(rt, file, asked, "add"))
    rec = await create_photo(rt, file, model_options(rt, asked))
    return JSONResponse(photo_json(rec), 201, headers={"Location": f"/api/photos/{rec.id}"})


@router.get("/api/photos", tags=["album"], summary="The album, newest first")
def list_photos(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    q: str = Query("", max_length=MAX_CAPTION, description="Only photos whose name or caption contains this text"),
) -> dict[str, Any]:
    storage = runtime(request).storage
    if q.strip():
        total, records = storage.search(q.strip(), limit, offset)
        return {"total": total, "photos": [photo_json(r) for r in records]}
    return {"total": storage.count(), "photos": [photo_json(r) for r in storage.newest_first(limit, offset)]}


@router.get("/api/photos/{photo_id}", tags=["album"], responses={404: {"description": "No such photo"}})
def get_photo(request: Request, photo_id: str) -> dict[str, Any]:
    return photo_json(runtime(request).storage.get(photo_id))


class CaptionChange(BaseModel):
    """The caption fields to change; a field left out stays as it is, "" clears it."""

    model_config = ConfigDict(extra="forbid")
    who: str | None = Field(None, description=f"Who is in the photo (at most {MAX_CAPTION} characters)")
    where: str | None = Field(None, description="Where it was taken")
    when: str | None = Field(None, description='When it was taken, in any words ("summer 1952")')


@router.patch(
    "/api/photos/{photo_id}",
    tags=["album"],
    responses={404: {"description": "No such photo"}, 422: {"description": "A caption field too long"}},
    summary="Change the photo's caption (who, where, when)",
)
async def change_photo(request: Request, photo_id: str, change: CaptionChange) -> dict[str, Any]:
    fields = {f: getattr(change, f) for f in CAPTION_FIELDS}
    rec = await run_in_threadpool(lambda: runtime(request).storage.set_caption(photo_id, **fields))
    return photo_json(rec)


@router.post(
    "/api/photos/{photo_id}/rerun",
    tags=["album"],
    responses={**QUEUED, **ERRORS},
    summary="Colorize the stored original again with other options (replaces the result)",
)
async def rerun(request: Request, photo_id: str, asked: Asked = OPTIONS) -> Any:
    rt = runtime(request)
    if rt.queue is not None:
        return accepted(rt, await enqueue_rerun(rt, photo_id, asked))
    return photo_json(await rerun_photo(rt, photo_id, model_options(rt, asked)))


def _file(request: Request, photo_id: str, kind: str, download: bool) -> FileResponse:
    storage = runtime(request).storage
    rec = storage.get(photo_id)
    fmt = {"original": rec.original_format, "result": rec.result_format, "thumbnail": THUMB_FORMAT.name}[kind]
    stem = rec.name.rsplit(".", 1)[0] or "photo"
    name = f"{stem}{'-color' if kind == 'result' else ''}.{formats.extension(fmt)}"
    return FileResponse(
        storage.path(rec, kind),
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


@router.delete("/api/photos/{photo_id}", status_code=204, tags=["album"], response_class=Response)
async def delete_photo(request: Request, photo_id: str) -> Response:
    await run_in_threadpool(runtime(request).storage.delete, photo_id)
    return Response(status_code=204)
