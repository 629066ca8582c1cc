"""What the API's answers look like, shared by its routers: a photo and its versions as JSON, a stored file
as a download, a queued job's 202, and the documented error responses."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from fastapi import File
from fastapi.responses import FileResponse, JSONResponse

from model import formats

from ..album.metadata import Record
from ..album.storage import THUMB_FORMAT, Storage
from ..album.versions import Version
from ..errors import NotFound
from ..serving.backend import Queued

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "File over the byte limit, or image over the pixel limit (decompression bombs too)"},
    415: {"description": "Not an image, truncated, or an image mode we cannot colorize"},
    422: {"description": "An option out of range; the JSON names the `field`"},
    503: {"description": "Queue full (see Retry-After), model not loaded, or (queue mode) Redis unreachable"},
}
QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queue mode: the job was queued; follow it at `Location` (/api/jobs/{id})"}
}
NO_PHOTO: dict[int | str, dict[str, Any]] = {404: {"description": "No such photo (or version)"}}
IMAGES: dict[int | str, dict[str, Any]] = {200: {"content": {f.media_type: {} for f in formats.WRITABLE}}}
FILE = File(..., description=f"The scan: {', '.join(formats.FORMATS)}")


def _settings(v: Version) -> dict[str, Any]:
    """A version's fields; its hints as the list the API takes (stored as their JSON)."""
    return {**asdict(v), "hints": json.loads(v.hints) if v.hints else []}


def version_json(photo_id: str, v: Version, favorite: str) -> dict[str, Any]:
    base = f"/api/photos/{photo_id}/versions/{v.id}"
    return {
        **_settings(v),
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
    fav = {k: v for k, v in _settings(rec.favorite).items() if k not in ("id", "created")}
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


def preview_file(path: Path | None) -> FileResponse:
    if path is None:
        raise NotFound("There is no preview of this size (photos colorized before previews have none).")
    # Named by content that never changes (a version's files are written once): cache for a day.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def stored_file(
    storage: Storage, photo_id: str, kind: str, download: bool, version_id: str | None = None
) -> FileResponse:
    """The original, a result or a thumbnail of the photo (its favourite version, unless one is named)."""
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


def accepted(job: Queued) -> JSONResponse:
    """202 + the job's status and where to follow it: the answer where a worker will make the photo."""
    return JSONResponse(job.status, 202, headers={"Location": job.url})
