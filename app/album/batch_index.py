"""Batches in the album database: the photos chosen together in one upload, each item waiting, stored
(naming its photo) or failed (with the reason a person reads). Shares `PhotoIndex`'s connection and lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .db import Database

MAX_BATCH = 500  # files in one batch


@dataclass(frozen=True)
class BatchItem:
    position: int  # 0-based, in the order the files were chosen
    name: str
    photo_id: str | None = None
    error: str = ""

    @property
    def status(self) -> str:
        return "failed" if self.error else "done" if self.photo_id else "waiting"


@dataclass(frozen=True)
class Batch:
    id: str
    created: float
    items: list[BatchItem]


class BatchIndex:
    def __init__(self, db: Database, lock: threading.Lock):
        self._db, self._lock = db, lock

    def create(self, batch: Batch) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("INSERT INTO batches (id, created) VALUES (?, ?)", (batch.id, batch.created))
            self._db.executemany(
                "INSERT INTO batch_items (batch_id, position, name) VALUES (?, ?, ?)",
                [(batch.id, i.position, i.name) for i in batch.items],
            )

    def settle(self, batch_id: str, position: int, photo_id: str | None, error: str = "") -> bool:
        """Record an item's outcome; a stored item stays stored (a failed one may be retried). -> whether the
        row changed: False when the place already held a photo."""
        with self._lock, self._db.transaction():
            cur = self._db.execute(
                "UPDATE batch_items SET photo_id = ?, error = ? "
                "WHERE batch_id = ? AND position = ? AND photo_id IS NULL",
                (photo_id, error, batch_id, position),
            )
            return bool(cur.rowcount)

    def get(self, batch_id: str) -> Batch | None:
        with self._lock:
            row = self._db.execute("SELECT id, created FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                return None
            items = self._db.execute(
                "SELECT position, name, photo_id, error FROM batch_items WHERE batch_id = ? ORDER BY position",
                (batch_id,),
            ).fetchall()
        return Batch(row[0], row[1], [BatchItem(*i) for i in items])
