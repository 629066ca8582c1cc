"""Photo records in SQLite (stdlib; the default) or PostgreSQL (app/album/db.py). The rest of the app sees only
`PhotoIndex`, `Record` and `Version`, so routes and file storage do not know which."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from model import InvalidOption

from ..errors import LastVersion, NotFound
from .batch_index import BatchIndex
from .db import Database, is_postgres_url, open_sqlite
from .idempotency import IdempotencyIndex
from .schema import VERSION, migrate, version_of
from .session_index import SessionIndex
from .versions import Version

# A caption says who is in the photo, where and when it was taken, in the family's own words.
CAPTION_FIELDS = ("who", "where", "when")
MAX_CAPTION = 200  # characters per caption field
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_caption(field: str, value: str) -> str:
    """One caption field as stored: one line, trimmed, at most MAX_CAPTION characters (else a 422 naming it)."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    if len(text) > MAX_CAPTION:
        raise InvalidOption(
            field, f"The caption's '{field}' is {len(text)} characters long; at most {MAX_CAPTION} are allowed."
        )
    return text


@dataclass(frozen=True)
class Record:
    """A photo: its original, its caption, and its favourite version (the one the album shows)."""

    id: str
    created: float  # Unix time
    name: str  # the upload's display name; never used as a path
    original_file: str  # file name inside the photo's folder, chosen by us
    original_format: str  # e.g. JPEG, PNG
    original_bytes: int
    width: int
    height: int
    favorite: Version
    caption_who: str = ""
    caption_where: str = ""
    caption_when: str = ""
    deleted: float | None = None  # Unix time it went to the trash; None while in the album

    @property
    def caption(self) -> dict[str, str]:
        return {f: getattr(self, f"caption_{f}") for f in CAPTION_FIELDS}

    @property
    def label(self) -> str:
        """What the photo is, for alt texts and titles: its caption, else its file name."""
        return ", ".join(v for v in self.caption.values() if v) or self.name


_PHOTO = [f.name for f in fields(Record) if f.name != "favorite"]
_VERSION = [f.name for f in fields(Version)]
# A photo row joined with its favourite version; the version's columns are prefixed with v_.
_SELECT = (
    f"SELECT p.*, {', '.join(f'v.{c} AS v_{c}' for c in _VERSION)} FROM photos p "
    "JOIN versions v ON v.photo_id = p.id AND v.id = p.favorite"
)
IN_ALBUM, IN_TRASH = "p.deleted IS NULL", "p.deleted IS NOT NULL"
_SEARCHED = ("name", *(f"caption_{f}" for f in CAPTION_FIELDS))
# The album's orders. By caption: captioned photos first, by who, where, when, then by file name.
SORTS = ("newest", "oldest", "caption")


def _order(db: Database, sort: str) -> str:
    if sort == "newest":
        return "p.created DESC, p.id"
    if sort == "oldest":
        return "p.created, p.id"
    return (
        "(p.caption_who || p.caption_where || p.caption_when) = '', "
        + ", ".join(db.nocase(f"p.{c}") for c in (*_SEARCHED[1:], "name"))
        + ", p.id"
    )


NO_PHOTO = "There is no photo with this id: it may have been deleted for good. The album lists every photo."


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _version(row: Any, prefix: str = "") -> Version:
    return Version(**{c: row[prefix + c] for c in _VERSION})


def _record(row: Any) -> Record:
    return Record(**{k: row[k] for k in _PHOTO}, favorite=_version(row, "v_"))


class PhotoIndex:
    """One connection shared by threads behind a lock; each write is one transaction."""

    def __init__(self, path: Path, read_only: bool = False, url: str | None = None):
        """`url`: a PostgreSQL album (`path` is then not used); else the SQLite file at `path`."""
        self._lock = threading.Lock()
        if is_postgres_url(url):
            assert url is not None
            self._db = Database.connect(url)
            migrate(self._db)  # the database is not on the data directory: upgraded (or created) as a server would
            if read_only:  # then, as the read-only data directory asks, look and change nothing
                self._db.set_read_only()
        else:
            if read_only:
                conn = self._open_read_only(path)
            else:
                conn = open_sqlite(path)
                conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
                conn.execute("PRAGMA synchronous=FULL")  # a committed record survives power loss
                migrate(conn)
            conn.row_factory = sqlite3.Row
            self._db = Database.sqlite(conn)
        self.batches = BatchIndex(self._db, self._lock)
        self.sessions = SessionIndex(self._db, self._lock)
        self.idempotency = IdempotencyIndex(self._db, self._lock)

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @staticmethod
    def _open_read_only(path: Path) -> sqlite3.Connection:
        """A read-only data directory: the album as it is (WAL needs its -shm file; `immutable` does without);
        an older album is upgraded in a copy in memory; no database yet: an empty album."""
        memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        if path.exists():
            for flags in ("mode=ro", "immutable=1"):
                try:
                    db = sqlite3.connect(
                        f"{path.resolve().as_uri()}?{flags}", uri=True, check_same_thread=False, isolation_level=None
                    )
                    if version_of(db) == VERSION:
                        db.execute("SELECT COUNT(*) FROM photos").fetchone()
                        return db
                    db.backup(memory)
                    break
                except sqlite3.Error:
                    continue
        migrate(memory)
        return memory

    def _write(self) -> contextlib.AbstractContextManager[Database]:
        """Inside `with self._lock, self._write() as db:` one transaction (committed, or rolled back on error)."""
        return self._db.transaction()

    def _get(self, photo_id: str, where: str = IN_ALBUM) -> Record | None:
        row = self._db.execute(f"{_SELECT} WHERE p.id = ? AND {where}", (photo_id,)).fetchone()
        return None if row is None else _record(row)

    def _insert_version(self, photo_id: str, version: Version) -> None:
        marks = ", ".join("?" for _ in _VERSION)
        self._db.execute(
            f"INSERT INTO versions (photo_id, {', '.join(_VERSION)}) VALUES (?, {marks})",
            [photo_id, *(getattr(version, c) for c in _VERSION)],
        )

    def insert(self, rec: Record, versions: list[Version] | None = None) -> None:
        """A new photo and its versions (by default just its favourite), in one transaction."""
        marks = ", ".join("?" for _ in _PHOTO)
        with self._lock, self._write() as db:
            db.execute(
                f"INSERT INTO photos ({', '.join(_PHOTO)}, favorite) VALUES ({marks}, ?)",
                [*(getattr(rec, k) for k in _PHOTO), rec.favorite.id],
            )
            for version in versions or [rec.favorite]:
                self._insert_version(rec.id, version)

    def add_version(self, photo_id: str, version: Version) -> Record:
        """Add a version and make it the favourite (a re-run shows what was asked for)."""
        with self._lock, self._write() as db:
            if db.execute(f"SELECT 1 FROM photos p WHERE id = ? AND {IN_ALBUM}", (photo_id,)).fetchone() is None:
                raise NotFound(NO_PHOTO)
            self._insert_version(photo_id, version)
            db.execute("UPDATE photos SET favorite = ? WHERE id = ?", (version.id, photo_id))
            rec = self._get(photo_id)
        assert rec is not None
        return rec

    def versions(self, photo_id: str) -> list[Version]:
        """The photo's versions, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_VERSION)} FROM versions WHERE photo_id = ? ORDER BY created, id", (photo_id,)
            ).fetchall()
        return [_version(r) for r in rows]

    def set_favorite(self, photo_id: str, version_id: str) -> Record:
        with self._lock, self._write() as db:
            found = db.execute("SELECT 1 FROM versions WHERE photo_id = ? AND id = ?", (photo_id, version_id))
            if found.fetchone() is None:
                raise NotFound("This photo has no version with this id.")
            db.execute("UPDATE photos SET favorite = ? WHERE id = ?", (version_id, photo_id))
            rec = self._get(photo_id)
        assert rec is not None
        return rec

    def delete_version(self, photo_id: str, version_id: str) -> tuple[Record, Version]:
        """Remove one version (never the last); a deleted favourite passes to the newest one left.
        -> (the photo now, the version removed)."""
        with self._lock, self._write() as db:
            rows = db.execute(
                f"SELECT {', '.join(_VERSION)} FROM versions WHERE photo_id = ? ORDER BY created DESC, id DESC",
                (photo_id,),
            ).fetchall()
            gone = next((_version(r) for r in rows if r["id"] == version_id), None)
            if gone is None:
                raise NotFound("This photo has no version with this id.")
            if len(rows) == 1:
                raise LastVersion("This is the photo's only version; delete the photo instead.")
            db.execute("DELETE FROM versions WHERE photo_id = ? AND id = ?", (photo_id, version_id))
            newest_left = next(r["id"] for r in rows if r["id"] != version_id)
            db.execute(
                "UPDATE photos SET favorite = ? WHERE id = ? AND favorite = ?", (newest_left, photo_id, version_id)
            )
            rec = self._get(photo_id)
        assert rec is not None
        return rec, gone

    def set_caption(self, photo_id: str, caption: dict[str, str]) -> Record | None:
        """Change the given caption fields (already cleaned) in one transaction; None if there is no such photo."""
        sets = ", ".join(f"caption_{k} = ?" for k in caption if k in CAPTION_FIELDS)
        with self._lock, self._write() as db:
            if sets:
                db.execute(
                    f"UPDATE photos SET {sets} WHERE id = ? AND deleted IS NULL",
                    [caption[k] for k in caption if k in CAPTION_FIELDS] + [photo_id],
                )
            return self._get(photo_id)

    def get(self, photo_id: str, trashed: bool = False) -> Record | None:
        """A photo in the album (or, with `trashed`, one in the trash)."""
        with self._lock:
            return self._get(photo_id, IN_TRASH if trashed else IN_ALBUM)

    def listing(
        self, text: str = "", sort: str = "newest", limit: int = 100, offset: int = 0
    ) -> tuple[int, list[Record]]:
        """One page of the album in `sort` order (a key of SORTS), only photos whose name or caption contains
        `text` (case-insensitive for ASCII) if given, and how many there are in all."""
        where, args = IN_ALBUM, []
        if text:
            like = self._db.like()
            where += " AND (" + " OR ".join(f"p.{c} {like} ? ESCAPE '\\'" for c in _SEARCHED) + ")"
            args = [_like(text)] * len(_SEARCHED)
        with self._lock:
            total: int = self._db.execute(f"SELECT COUNT(*) FROM photos p WHERE {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"{_SELECT} WHERE {where} ORDER BY {_order(self._db, sort)} LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return total, [_record(r) for r in rows]

    def newest_first(self, limit: int = 100, offset: int = 0) -> list[Record]:
        return self.listing(limit=limit, offset=offset)[1]

    def ping(self) -> None:
        """One trivial query: raises when the database cannot be reached (/healthz)."""
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def count(self) -> int:
        with self._lock:
            count: int = self._db.execute(f"SELECT COUNT(*) FROM photos p WHERE {IN_ALBUM}").fetchone()[0]
        return count

    def ids(self) -> set[str]:
        """Every photo's id, the trash's included."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM photos")}

    def trash(self, photo_id: str, when: float) -> bool:
        with self._lock, self._write() as db:
            sql = "UPDATE photos SET deleted = ? WHERE id = ? AND deleted IS NULL"
            return bool(db.execute(sql, (when, photo_id)).rowcount > 0)

    def restore(self, photo_id: str) -> Record | None:
        with self._lock, self._write() as db:
            sql = "UPDATE photos SET deleted = NULL WHERE id = ? AND deleted IS NOT NULL"
            return self._get(photo_id) if db.execute(sql, (photo_id,)).rowcount else None

    def trashed(self, limit: int = 100, offset: int = 0) -> tuple[int, list[Record]]:
        """Photos in the trash, most recently deleted first, and how many there are."""
        with self._lock:
            total: int = self._db.execute(f"SELECT COUNT(*) FROM photos p WHERE {IN_TRASH}").fetchone()[0]
            rows = self._db.execute(
                f"{_SELECT} WHERE {IN_TRASH} ORDER BY p.deleted DESC, p.id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return total, [_record(r) for r in rows]

    def everything(self) -> list[tuple[Record, list[Version]]]:
        """Every photo (the trash's too, oldest first) with all its versions: what an album export holds."""
        with self._lock:
            rows = self._db.execute(f"{_SELECT} ORDER BY p.created, p.id").fetchall()
        return [(r, self.versions(r.id)) for r in map(_record, rows)]

    def trashed_before(self, when: float) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM photos WHERE deleted < ?", (when,))]

    def delete(self, photo_id: str) -> bool:
        with self._lock, self._write() as db:
            db.execute("DELETE FROM versions WHERE photo_id = ?", (photo_id,))
            return bool(db.execute("DELETE FROM photos WHERE id = ?", (photo_id,)).rowcount > 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()
