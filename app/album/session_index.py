"""Login sessions in the album's database: what `app.sessions` keeps, shared by every web server. Shares
`PhotoIndex`'s connection and lock, as `BatchIndex` does."""

from __future__ import annotations

import threading

from .db import Database


class SessionIndex:
    def __init__(self, db: Database, lock: threading.Lock):
        self._db, self._lock = db, lock

    def add(self, key: str, now: float) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("INSERT INTO sessions (id, created, last_seen) VALUES (?, ?, ?)", (key, now, now))

    def get(self, key: str) -> tuple[float, float] | None:
        """-> (created, last_seen), or None."""
        with self._lock:
            row = self._db.execute("SELECT created, last_seen FROM sessions WHERE id = ?", (key,)).fetchone()
        return None if row is None else (float(row[0]), float(row[1]))

    def touch(self, key: str, now: float) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (now, key))

    def remove(self, key: str) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM sessions WHERE id = ?", (key,))

    def expire(self, seen_before: float, created_before: float) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM sessions WHERE last_seen < ? OR created < ?", (seen_before, created_before))
