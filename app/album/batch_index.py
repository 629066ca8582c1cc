"""Batches in the album database: the photos chosen together in one upload, each item waiting, stored
(naming its photo) or failed (with the reason a person reads). Shares `PhotoIndex`'s connection and lock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .db import Database

MAX_BATCH = 500  # files in one batch
# The one settling rule (shared with queue mode): a batch is settled when each file has arrived and finished,
# or been declared missing: by the page, for files it could not send, or here, for files not received
# within MISSING_AFTER_S of the batch's last activity.
MISSING_AFTER_S = 600.0
NOT_RECEIVED = "This file was not received: add it again."


@dataclass(frozen=True)
class BatchItem:
    position: int  # 0-based, in the order the files were chosen
    name: str
    photo_id: str | None = None
    error: str = ""
    received: float | None = None  # when its upload arrived (then it is finished whatever the browser does)

    @property
    def status(self) -> str:
        """done | failed | missing (declared) | working (arrived, being colorized) | waiting (not yet arrived)."""
        if self.photo_id:
            return "done"
        if self.error:
            return "missing" if self.error == NOT_RECEIVED else "failed"
        return "working" if self.received is not None else "waiting"


@dataclass(frozen=True)
class Batch:
    id: str
    created: float
    items: list[BatchItem]
    active: float | None = None  # the last time a file arrived or settled

    def status_at(self, item: BatchItem, now: float) -> str:
        """The item's status by the settling rule: a file still not received long after the batch last moved
        is missing, though nobody declared it."""
        status = item.status
        if status == "waiting" and now - (self.active or self.created) > MISSING_AFTER_S:
            return "missing"
        return status


class BatchIndex:
    def __init__(self, db: Database, lock: threading.Lock):
        self._db, self._lock = db, lock

    def create(self, batch: Batch) -> None:
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO batches (id, created, active) VALUES (?, ?, ?)", (batch.id, batch.created, batch.created)
            )
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
            self._touch(batch_id)
            return bool(cur.rowcount)

    def arrived(self, batch_id: str, position: int, now: float) -> None:
        """The item's upload is here: from now on it is finished server-side whatever the browser does."""
        with self._lock, self._db.transaction():
            self._db.execute(
                "UPDATE batch_items SET received = ?, error = CASE WHEN error = ? THEN '' ELSE error END "
                "WHERE batch_id = ? AND position = ? AND photo_id IS NULL",
                (now, NOT_RECEIVED, batch_id, position),
            )
            self._touch(batch_id, now)

    def declare_missing(self, batch_id: str, positions: list[int]) -> int:
        """The page could not send these: settled as missing (those that arrived after all are left alone)."""
        with self._lock, self._db.transaction():
            n = 0
            for p in positions:
                cur = self._db.execute(
                    "UPDATE batch_items SET error = ? WHERE batch_id = ? AND position = ? AND photo_id IS NULL "
                    "AND received IS NULL AND error = ''",
                    (NOT_RECEIVED, batch_id, p),
                )
                n += cur.rowcount
            self._touch(batch_id)
            return n

    def _touch(self, batch_id: str, now: float | None = None) -> None:
        self._db.execute("UPDATE batches SET active = ? WHERE id = ?", (now or time.time(), batch_id))

    def delete_abandoned(self, before: float, keep: set[str]) -> int:
        """Retention: remove the batches last active before `before` that never had every photo stored (a file
        failed, went missing or never arrived), except those in `keep` (a job of theirs may still settle an item).
        Only these rows go: photos the batch stored stay in the album. -> how many batches."""
        with self._lock, self._db.transaction():
            rows = self._db.execute(
                "SELECT id FROM batches WHERE COALESCE(active, created) < ? AND EXISTS "
                "(SELECT 1 FROM batch_items WHERE batch_id = batches.id AND photo_id IS NULL)",
                (before,),
            ).fetchall()
            gone = [(r[0],) for r in rows if r[0] not in keep]
            if gone:
                self._db.executemany("DELETE FROM batch_items WHERE batch_id = ?", gone)
                self._db.executemany("DELETE FROM batches WHERE id = ?", gone)
            return len(gone)

    def recent(self, limit: int = 50) -> list[Batch]:
        """The newest batches, for the list of batches."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM batches ORDER BY created DESC LIMIT ?", (limit,))]
        return [b for i in ids if (b := self.get(i)) is not None]

    def get(self, batch_id: str) -> Batch | None:
        with self._lock:
            row = self._db.execute("SELECT id, created, active FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                return None
            items = self._db.execute(
                "SELECT position, name, photo_id, error, received FROM batch_items WHERE batch_id = ? "
                "ORDER BY position",
                (batch_id,),
            ).fetchall()
        return Batch(row[0], row[1], [BatchItem(*i) for i in items], row[2])
