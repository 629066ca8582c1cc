"""A photo's versions over REST: list, colorize again (a new version), delete one, and each one's files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..runtime import OptionsDep, RuntimeDep, StorageDep
from ..serving.backend import Queued
from .shapes import ERRORS, NO_PHOTO, QUEUED, accepted, photo_json, preview_file, stored_file, version_json

router = APIRouter(prefix="/api/photos/{photo_id}", tags=["versions"])


@router.get("/versions", responses=NO_PHOTO, summary="A photo's versions")
def list_versions(storage: StorageDep, photo_id: str) -> dict[str, Any]:
    """Every colorization of the photo, oldest first, each with its options and the model (file name and
    SHA-256) that made it; `favorite` marks the one the album and the downloads use."""
    rec = storage.get(photo_id)
    return {
        "favorite": rec.favorite.id,
        "versions": [version_json(rec.id, v, rec.favorite.id) for v in storage.versions(photo_id)],
    }


@router.post(
    "/rerun",
    status_code=201,
    responses={**QUEUED, **ERRORS, **NO_PHOTO},
    summary="Colorize the stored original again with other options: adds a version",
)
async def rerun(rt: RuntimeDep, photo_id: str, asked: OptionsDep) -> JSONResponse:
    """The earlier versions stay; the new one (its options and the loaded model recorded) becomes the
    favourite. The answer is the photo with all its versions; `Location` is the new version. In queue
    mode: 202 + the job, which adds the version when a worker has made it."""
    result = await rt.backend.rerun(photo_id, asked)
    if isinstance(result, Queued):
        return accepted(result)
    body = photo_json(result, rt.storage.versions(photo_id))
    return JSONResponse(body, 201, headers={"Location": f"/api/photos/{photo_id}/versions/{result.favorite.id}"})


@router.post(
    "/preview",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS, **NO_PHOTO},
    summary="Preview other options (colour hints) on the stored original: a small JPEG, nothing stored",
)
async def preview(rt: RuntimeDep, photo_id: str, asked: OptionsDep) -> Response:
    """The photo as these options would make it, its long side at most 1024 px, for the "Fix a colour"
    page (about a second); "Colorize again" with the same options makes and keeps the full-size version."""
    out = await rt.backend.preview(photo_id, asked)
    return Response(out.data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/suggestions",
    responses={**NO_PHOTO, 501: {"description": "Queue mode: the model runs on the workers"}},
    summary="The colours the model finds plausible at one spot of the photo",
)
async def suggestions(
    rt: RuntimeDep,
    photo_id: str,
    x: Annotated[float, Query(ge=0, le=1, description="0-1 of the width as displayed, from the left")],
    y: Annotated[float, Query(ge=0, le=1, description="0-1 of the height as displayed, from the top")],
) -> dict[str, Any]:
    """From the model's own colour distribution there (its class head), most likely first: a family picks
    the one they remember, or any colour."""
    return {"x": x, "y": y, "colors": await rt.backend.suggest(photo_id, x, y)}


@router.delete(
    "/versions/{version_id}",
    status_code=204,
    response_class=Response,
    responses={**NO_PHOTO, 409: {"description": "The photo's only version (delete the photo instead)"}},
    summary="Delete one version (not the last); a deleted favourite passes to the newest left",
)
async def delete_version(storage: StorageDep, photo_id: str, version_id: str) -> Response:
    await run_in_threadpool(storage.delete_version, photo_id, version_id)
    return Response(status_code=204)


@router.get(
    "/versions/{version_id}/result",
    response_class=FileResponse,
    responses=NO_PHOTO,
    summary="One version's colorized photo",
)
def get_version_result(storage: StorageDep, photo_id: str, version_id: str, download: bool = False) -> FileResponse:
    return stored_file(storage, photo_id, "result", download, version_id)


@router.get(
    "/versions/{version_id}/preview/{side}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NO_PHOTO},
    summary="A version's result as a JPEG any browser shows, its long side 480, 960 or 1920 px",
)
def get_version_preview(storage: StorageDep, photo_id: str, version_id: str, side: int) -> FileResponse:
    rec, version = storage.version(photo_id, version_id)
    return preview_file(storage.preview_path(rec, side, version))


@router.get("/versions/{version_id}/thumbnail", response_class=FileResponse)
def get_version_thumbnail(storage: StorageDep, photo_id: str, version_id: str) -> FileResponse:
    return stored_file(storage, photo_id, "thumbnail", False, version_id)
