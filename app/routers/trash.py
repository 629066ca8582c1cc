"""The trash, as REST routes and a page: deleted photos stay TRASH_DAYS, can be restored or deleted for good."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from model import formats

from ..album import trash
from ..album.metadata import Record
from ..runtime import RuntimeDep
from ..templating import render
from .shapes import NO_PHOTO, photo_json

router = APIRouter()


def trashed_json(rec: Record) -> dict[str, Any]:
    base = f"/api/trash/{rec.id}"
    return {
        **photo_json(rec),
        "deleted": rec.deleted,
        "purge_at": trash.purge_at(rec),
        "restore_url": f"{base}/restore",
        "url": base,
        "thumbnail_url": f"{base}/thumbnail",
    }


@router.get("/api/trash", tags=["trash"], summary=f"Photos in the trash (kept {trash.TRASH_DAYS} days)")
def list_trash(rt: RuntimeDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    total, records = trash.trashed(rt.storage, limit, offset)
    return {"days": trash.TRASH_DAYS, "total": total, "photos": [trashed_json(r) for r in records]}


@router.post("/api/trash/{photo_id}/restore", tags=["trash"], responses=NO_PHOTO, summary="Put a photo back")
async def restore(rt: RuntimeDep, photo_id: str) -> dict[str, Any]:
    return photo_json(await run_in_threadpool(trash.restore, rt.storage, photo_id))


@router.delete(
    "/api/trash/{photo_id}",
    status_code=204,
    tags=["trash"],
    response_class=Response,
    responses=NO_PHOTO,
    summary="Delete a photo in the trash for good",
)
async def delete_forever(rt: RuntimeDep, photo_id: str) -> Response:
    await run_in_threadpool(trash.delete_forever, rt.storage, photo_id)
    return Response(status_code=204)


@router.delete("/api/trash", tags=["trash"], summary="Empty the trash: delete everything in it for good")
async def empty(rt: RuntimeDep) -> dict[str, int]:
    return {"deleted": await run_in_threadpool(trash.empty, rt.storage)}


@router.get("/api/trash/{photo_id}/thumbnail", tags=["trash"], response_class=FileResponse, responses=NO_PHOTO)
def thumbnail(rt: RuntimeDep, photo_id: str) -> FileResponse:
    storage = rt.storage
    rec = trash.in_trash(storage, photo_id)
    return FileResponse(storage.path(rec, "thumbnail"), media_type=formats.THUMBNAIL.media_type)


# --- the page (forms work without JavaScript) --------------------------------------------


@router.get("/trash", include_in_schema=False)
def trash_page(request: Request, rt: RuntimeDep) -> Response:
    total, records = trash.trashed(rt.storage, 500)
    photos = [trashed_json(r) for r in records]
    return render(request, "trash.html", {"photos": photos, "total": total, "days": trash.TRASH_DAYS})


@router.post("/trash/{photo_id}/restore", include_in_schema=False)
async def restore_form(rt: RuntimeDep, photo_id: str, to: str = Form("trash")) -> Response:
    """Back to the trash page, or (`to=photo`: an Undo, or Restore on the photo's own link) to the photo."""
    await run_in_threadpool(trash.restore, rt.storage, photo_id)
    return RedirectResponse(f"/photos/{photo_id}" if to == "photo" else "/trash", 303)


@router.post("/trash/{photo_id}/delete", include_in_schema=False)
async def delete_form(rt: RuntimeDep, photo_id: str) -> Response:
    await run_in_threadpool(trash.delete_forever, rt.storage, photo_id)
    return RedirectResponse("/trash", 303)


@router.post("/trash/empty", include_in_schema=False)
async def empty_form(rt: RuntimeDep) -> Response:
    await run_in_threadpool(trash.empty, rt.storage)
    return RedirectResponse("/trash", 303)
