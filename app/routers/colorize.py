"""The one-shot `/colorize` for curl (nothing is stored) and `/healthz`."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile
from fastapi.responses import JSONResponse, Response

from model import formats

from ..errors import database_down
from ..runtime import BackendDep, OptionsDep, RuntimeDep
from .shapes import ERRORS, FILE, IMAGES

router = APIRouter()


@router.get("/healthz", tags=["service"], summary="Is the model loaded (or, in queue mode, is Redis reachable)?")
def healthz(rt: RuntimeDep) -> JSONResponse:
    body, status = rt.backend.health()
    body["storage"] = "ok" if rt.storage.writable() else "read-only"
    problems = list(body.get("problems", []))
    if body["storage"] != "ok":
        problems.append("the album is read-only: photos can be viewed, not added or changed")
    try:
        rt.storage.index.ping()
    except Exception as e:  # PostgreSQL away: degraded, not down (the queue and /colorize may still work)
        if not database_down(e):
            raise
        problems.append("the album's database cannot be reached")
        body["storage"] = "unreachable"
    if problems and body.get("status") == "ok":
        body["status"] = "degraded"
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status)


@router.post(
    "/colorize",
    tags=["colorize"],
    responses={**IMAGES, **ERRORS},
    response_class=Response,
    summary="Colorize one scan and answer with the image",
)
async def colorize(backend: BackendDep, asked: OptionsDep, file: UploadFile = FILE) -> Response:
    """Same pixel size and aspect ratio as the upload; nothing is stored. In queue mode the job is queued
    and the request waits for it (at most `HEIRLOOM_WAIT_TIMEOUT` s, then 504).
    `curl -F file=@scan.jpg http://127.0.0.1:8000/colorize -o color.jpg`"""
    out = await backend.colorize(file, asked)
    return Response(
        out.data,
        media_type=formats.media_type(out.format),
        headers={"Content-Disposition": f'inline; filename="colorized.{formats.extension(out.format)}"'},
    )
