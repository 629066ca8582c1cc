"""Idempotency-Key: an upload sent again with the same key (a retry after a connection error, a page that
came back) gets the first answer instead of storing a second photo. Kept in the album's database, so every
web server sees it, for KEEP_S. Shares `PhotoIndex`'s connection and lock, as `BatchIndex` does."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from model import InvalidOption

from .db import Database

KEEP_S = 24 * 3600
PENDING = 0  # the first request is still being answered
KEY = re.compile(r"^[\x21-\x7e]{8,200}$")  # printable ASCII, as a UUID or any client's token


@dataclass(frozen=True)
class Answer:
    status: int  # PENDING while the first request runs
    body: dict[str, Any]
    location: str


def checked_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not KEY.match(key):
        raise InvalidOption("Idempotency-Key", "The Idempotency-Key header must be 8 to 200 printable characters.")
    return key


class IdempotencyIndex:
    def __init__(self, db: Database, lock: threading.Lock):
        self._db, self._lock = db, lock

    def claim(self, key: str, now: float | None = None) -> Answer | None:
        """None: this request is the first with the key (now recorded as pending); else the answer so far."""
        now = time.time() if now is None else now
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM idempotency WHERE created < ?", (now - KEEP_S,))
            row = self._db.execute("SELECT status, body, location FROM idempotency WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return Answer(int(row[0]), json.loads(row[1]) if row[1] else {}, row[2])
            self._db.execute(
                "INSERT INTO idempotency (key, created, status, body) VALUES (?, ?, ?, '')", (key, now, PENDING)
            )
            return None

    def answer(self, key: str, status: int, body: dict[str, Any], location: str = "") -> None:
        with self._lock, self._db.transaction():
            self._db.execute(
                "UPDATE idempotency SET status = ?, body = ?, location = ? WHERE key = ?",
                (status, json.dumps(body), location, key),
            )

    def release(self, key: str) -> None:
        """The first request failed in a way worth retrying (the server was busy): the key is free again."""
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM idempotency WHERE key = ?", (key,))
