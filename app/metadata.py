"""Photo records in SQLite (stdlib). The rest of the app sees only `PhotoIndex` and `Record`,
so another database can replace this module without touching routes or file storage."""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from model import InvalidOption

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
    id: str
    created: float  # Unix time
    name: str  # the upload's display name; never used as a path
    original_file: str  # file names inside the photo's folder, chosen by us
    original_format: str  # e.g. JPEG, PNG
    original_bytes: int
    result_file: str
    result_format: str
    width: int
    height: int
    render_size: int | None
    policy: str
    saturation: float
    caption_who: str = ""
    caption_where: str = ""
    caption_when: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def caption(self) -> dict[str, str]:
        return {f: getattr(self, f"caption_{f}") for f in CAPTION_FIELDS}

    @property
    def label(self) -> str:
        """What the photo is, for alt texts and titles: its caption, else its file name."""
        return ", ".join(v for v in self.caption.values() if v) or self.name


_COLUMNS = [f.name for f in fields(Record)]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    id TEXT PRIMARY KEY, created REAL NOT NULL, name TEXT NOT NULL,
    original_file TEXT NOT NULL, original_format TEXT NOT NULL, original_bytes INTEGER NOT NULL,
    result_file TEXT NOT NULL, result_format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    render_size INTEGER, policy TEXT NOT NULL, saturation REAL NOT NULL,
    caption_who TEXT NOT NULL DEFAULT '', caption_where TEXT NOT NULL DEFAULT '',
    caption_when TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS photos_created ON photos (created DESC);
"""
# Columns added after the first release: an older album gains them (empty) when it is opened.
_ADDED = {f"caption_{f}": "TEXT NOT NULL DEFAULT ''" for f in CAPTION_FIELDS}


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


class PhotoIndex:
    """One connection shared by threads behind a lock; each write is one transaction."""

    def __init__(self, path: Path, read_only: bool = False):
        self._lock = threading.Lock()
        if read_only:
            self._db = self._open_read_only(path)
            self._db.row_factory = sqlite3.Row
            return
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            self._db.execute("PRAGMA synchronous=FULL")  # a committed record survives power loss
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(photos)")}
            for column, kind in _ADDED.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE photos ADD COLUMN {column} {kind}")

    @staticmethod
    def _open_read_only(path: Path) -> sqlite3.Connection:
        """A read-only data directory: the album as it is (WAL needs its -shm file; `immutable` does without);
        no database yet: an empty album."""
        if path.exists():
            for flags in ("mode=ro", "immutable=1"):
                try:
                    db = sqlite3.connect(
                        f"{path.resolve().as_uri()}?{flags}", uri=True, check_same_thread=False, isolation_level=None
                    )
                    db.execute("SELECT COUNT(*) FROM photos").fetchone()
                    return db
                except sqlite3.Error:
                    continue
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.executescript(_SCHEMA)
        return db

    @staticmethod
    def _record(row: sqlite3.Row) -> Record:
        have = row.keys()  # a read-only album from before captions lacks their columns
        return Record(**{k: row[k] for k in _COLUMNS if k in have})

    def insert(self, rec: Record) -> None:
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                f"INSERT INTO photos ({', '.join(_COLUMNS)}) VALUES ({marks})", [getattr(rec, k) for k in _COLUMNS]
            )

    def update(self, rec: Record) -> None:
        """Everything but the caption, which changes only through `set_caption`: a re-run that read the
        record before a caption was saved cannot undo it."""
        columns = [k for k in _COLUMNS if k != "id" and k not in _ADDED]
        sets = ", ".join(f"{k} = ?" for k in columns)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(f"UPDATE photos SET {sets} WHERE id = ?", [getattr(rec, k) for k in columns] + [rec.id])

    def set_caption(self, photo_id: str, caption: dict[str, str]) -> Record | None:
        """Change the given caption fields (already cleaned) in one transaction; None if there is no such photo."""
        sets = ", ".join(f"caption_{k} = ?" for k in caption if k in CAPTION_FIELDS)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            if sets:
                self._db.execute(
                    f"UPDATE photos SET {sets} WHERE id = ?",
                    [caption[k] for k in caption if k in CAPTION_FIELDS] + [photo_id],
                )
            row = self._db.execute("SELECT * FROM photos WHERE id = ?", (photo_id,)).fetchone()
        return None if row is None else self._record(row)

    def get(self, photo_id: str) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM photos WHERE id = ?", (photo_id,)).fetchone()
        return None if row is None else self._record(row)

    def newest_first(self, limit: int = 100, offset: int = 0) -> list[Record]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM photos ORDER BY created DESC, id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [self._record(r) for r in rows]

    def count(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
        return count

    def search(self, text: str, limit: int = 100, offset: int = 0) -> tuple[int, list[Record]]:
        """Photos whose name or caption contains `text` (case-insensitive for ASCII), newest first, and
        how many there are in all."""
        with self._lock:
            have = {r[1] for r in self._db.execute("PRAGMA table_info(photos)")}
            columns = [c for c in ("name", *_ADDED) if c in have]
            where = " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)
            args = [_like(text)] * len(columns)
            total: int = self._db.execute(f"SELECT COUNT(*) FROM photos WHERE {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM photos WHERE {where} ORDER BY created DESC, id LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return total, [self._record(r) for r in rows]

    def ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM photos")}

    def delete(self, photo_id: str) -> bool:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            return self._db.execute("DELETE FROM photos WHERE id = ?", (photo_id,)).rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
