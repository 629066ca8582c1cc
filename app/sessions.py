"""Login sessions: each login gets its own random session, kept server-side in the album's database (so every
web server sees it and a logout ends it everywhere), rotated at each login, ended at logout, and expired
after `session_days` without use (renewed as it is used) or 30 days after the login, whatever happens.
The cookie holds the random value; the database holds only its SHA-256."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time

from .album.storage import Storage

log = logging.getLogger("heirloom.app")
MAX_AGE_S = 30 * 86400  # a login never lasts longer, however often it is used
RENEW_EVERY_S = 3600.0  # a used session's last_seen is written at most this often (one write an hour, not a request)
TRUST_S = 5.0  # a checked session is trusted this long without asking the database again


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    def __init__(self, storage: Storage, idle_s: float):
        self.storage, self.idle_s = storage, idle_s
        self._memory: dict[str, tuple[float, float]] = {}  # where the album cannot be written (read-only)
        self._trusted: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        """A new session; -> the cookie's value."""
        value, now = secrets.token_urlsafe(32), time.time()
        try:
            with self.storage.writing():
                self.storage.index.sessions.add(_key(value), now)
        except Exception as e:  # a read-only or full album still lets its owner in: this server remembers it
            log.warning("session kept in this server's memory only (%s)", e)
            with self._lock:
                self._memory[_key(value)] = (now, now)
        return value

    def check(self, value: str | None) -> tuple[bool, bool]:
        """-> (valid, renewed): renewed says the cookie's lifetime should slide too."""
        if not value:
            return False, False
        key, now = _key(value), time.time()
        with self._lock:
            if now - self._trusted.get(key, 0.0) < TRUST_S:
                return True, False
            found = self._memory.get(key)
        if found is None:
            found = self.storage.index.sessions.get(key)
        if found is None:
            return False, False
        created, last_seen = found
        if now - last_seen > self.idle_s or now - created > MAX_AGE_S:
            self.end(value)
            return False, False
        renewed = now - last_seen > RENEW_EVERY_S
        if renewed:
            self._touch(key, created, now)
        with self._lock:
            self._trusted[key] = now
            if len(self._trusted) > 10_000:
                self._trusted.clear()  # a cache only: the database answers again
        return True, renewed

    def _touch(self, key: str, created: float, now: float) -> None:
        with self._lock:
            if key in self._memory:
                self._memory[key] = (created, now)
                return
        try:
            with self.storage.writing():
                self.storage.index.sessions.touch(key, now)
        except Exception as e:  # not renewed this time; it still expires on its old clock
            log.warning("session not renewed (%s)", e)

    def end(self, value: str | None) -> None:
        if not value:
            return
        key = _key(value)
        with self._lock:
            self._trusted.pop(key, None)
            self._memory.pop(key, None)
        try:
            with self.storage.writing():
                self.storage.index.sessions.remove(key)
        except Exception as e:
            log.warning("session not removed from the database (%s)", e)

    def expire(self) -> None:
        """Drop the sessions that can no longer be used (at start-up)."""
        now = time.time()
        try:
            with self.storage.writing():
                self.storage.index.sessions.expire(now - self.idle_s, now - MAX_AGE_S)
        except Exception as e:
            log.warning("expired sessions not removed (%s)", e)
