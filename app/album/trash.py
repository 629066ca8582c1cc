"""The trash: a deleted photo leaves the album but keeps its files for TRASH_DAYS, so a slip can be undone.
It can be restored or deleted for good; older ones are purged at start-up and whenever the trash changes."""

from __future__ import annotations

import logging
import time

from ..errors import NotFound
from .metadata import Record
from .storage import Storage

log = logging.getLogger("heirloom.app")
TRASH_DAYS = 30
KEEP_S = TRASH_DAYS * 86400


def purge_at(rec: Record) -> float:
    """When a photo in the trash will be deleted for good."""
    return (rec.deleted or 0.0) + KEEP_S


def move_to_trash(storage: Storage, photo_id: str, now: float | None = None) -> None:
    storage.folder(photo_id)  # validates the id's shape
    with storage.writing():
        if not storage.index.trash(photo_id, time.time() if now is None else now):
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            )
    purge(storage)


def trashed(storage: Storage, limit: int = 100, offset: int = 0) -> tuple[int, list[Record]]:
    return storage.index.trashed(limit, offset)


def restore(storage: Storage, photo_id: str) -> Record:
    storage.folder(photo_id)
    with storage.writing():
        rec = storage.index.restore(photo_id)
    if rec is None:
        raise NotFound("There is no photo with this id in the trash.")
    return rec


def in_trash(storage: Storage, photo_id: str) -> Record:
    storage.folder(photo_id)
    rec = storage.index.get(photo_id, trashed=True)
    if rec is None:
        raise NotFound("There is no photo with this id in the trash.")
    return rec


def delete_forever(storage: Storage, photo_id: str) -> None:
    in_trash(storage, photo_id)  # a photo still in the album is never deleted this way
    storage.delete(photo_id)


def empty(storage: Storage) -> int:
    """Delete everything in the trash for good; -> how many photos."""
    return _delete(storage, storage.index.trashed_before(float("inf")))


def purge(storage: Storage, now: float | None = None) -> int:
    """Delete for good what has been in the trash longer than TRASH_DAYS; -> how many photos."""
    if storage.read_only:
        return 0
    return _delete(storage, storage.index.trashed_before((time.time() if now is None else now) - KEEP_S))


def _delete(storage: Storage, ids: list[str]) -> int:
    for photo_id in ids:
        try:
            storage.delete(photo_id)
        except NotFound:
            pass  # deleted meanwhile by another request
    if ids:
        log.info("trash: %d photo(s) deleted for good", len(ids))
    return len(ids)
