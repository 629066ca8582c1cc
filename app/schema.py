"""The album database's schema, as numbered migrations; `PRAGMA user_version` says which have run.

An album opened by a newer Heirloom is upgraded in place, one migration per transaction, so a crash
leaves it at the last complete step. Plain SQL only, each statement on its own: a PostgreSQL
backend can keep the same steps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .errors import AppError

# Step 1 is the album as it was before schema versions: databases from then already have the table
# (some without the caption columns, added by step 1 too); a new database is created by the same steps.
_PHOTOS_V1 = """CREATE TABLE IF NOT EXISTS photos (
    id TEXT PRIMARY KEY, created REAL NOT NULL, name TEXT NOT NULL,
    original_file TEXT NOT NULL, original_format TEXT NOT NULL, original_bytes INTEGER NOT NULL,
    result_file TEXT NOT NULL, result_format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    render_size INTEGER, policy TEXT NOT NULL, saturation REAL NOT NULL)"""
_CAPTIONS = ("caption_who", "caption_where", "caption_when")

# Step 2, versions: each photo's result moves to a `versions` row (its id is what stands between
# "result-" and the extension, the same as in "thumb-<id>.jpg"), and the photo names its favourite.
_MOVED = ("result_file", "result_format", "render_size", "policy", "saturation")
_OLD_ID = "substr(result_file, 8, instr(substr(result_file, 8), '.') - 1)"
_VERSIONS = [
    """CREATE TABLE versions (
        photo_id TEXT NOT NULL, id TEXT NOT NULL, created REAL NOT NULL,
        result_file TEXT NOT NULL, result_format TEXT NOT NULL,
        render_size INTEGER, policy TEXT NOT NULL, saturation REAL NOT NULL,
        model_name TEXT NOT NULL DEFAULT '', model_sha256 TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (photo_id, id))""",
    f"""INSERT INTO versions (photo_id, id, created, result_file, result_format, render_size, policy, saturation)
        SELECT id, {_OLD_ID}, created, result_file, result_format, render_size, policy, saturation
        FROM photos""",
    "ALTER TABLE photos ADD COLUMN favorite TEXT NOT NULL DEFAULT ''",
    f"UPDATE photos SET favorite = {_OLD_ID}",
    *(f"ALTER TABLE photos DROP COLUMN {c}" for c in _MOVED),
]


# Step 3, batches: the photos chosen together in one upload, in the order chosen; an item names its
# photo once stored, or the reason it could not be.
_BATCHES = [
    "CREATE TABLE batches (id TEXT PRIMARY KEY, created REAL NOT NULL)",
    """CREATE TABLE batch_items (
        batch_id TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
        photo_id TEXT, error TEXT NOT NULL DEFAULT '', PRIMARY KEY (batch_id, position))""",
]


# Step 4, trash: a deleted photo keeps its files and rows for a while; `deleted` says since when.
_TRASH = [
    "ALTER TABLE photos ADD COLUMN deleted REAL",
    "CREATE INDEX photos_deleted ON photos (deleted)",
]


def _step1(db: sqlite3.Connection) -> list[str]:
    db.execute(_PHOTOS_V1)
    have = {r[1] for r in db.execute("PRAGMA table_info(photos)")}
    return [
        *(f"ALTER TABLE photos ADD COLUMN {c} TEXT NOT NULL DEFAULT ''" for c in _CAPTIONS if c not in have),
        "CREATE INDEX IF NOT EXISTS photos_created ON photos (created DESC)",
    ]


class SchemaError(AppError):
    """This Heirloom cannot open the album: a newer one wrote it (opening it here could lose what this one does
    not know), or its upgrade needs a newer SQLite."""


# Each step gives the statements to run (they may depend on what an old album holds).
STEPS: list[Callable[[sqlite3.Connection], list[str]]] = [
    _step1,
    lambda _db: _VERSIONS,
    lambda _db: _BATCHES,
    lambda _db: _TRASH,
]
VERSION = len(STEPS)


def version_of(db: sqlite3.Connection) -> int:
    found: int = db.execute("PRAGMA user_version").fetchone()[0]
    return found


def migrate(db: sqlite3.Connection) -> None:
    """Bring the database (autocommit connection) up to VERSION; a newer album than this code is refused."""
    current = version_of(db)
    if current > VERSION:
        raise SchemaError(
            f"The album's database has schema version {current}; this Heirloom knows up to {VERSION}. "
            "Use a newer Heirloom."
        )
    if current < 2 and sqlite3.sqlite_version_info < (3, 35, 0):  # step 2 drops columns
        raise SchemaError(f"Upgrading this album needs SQLite 3.35 or newer; this Python has {sqlite3.sqlite_version}.")
    for number in range(current + 1, VERSION + 1):
        step = STEPS[number - 1]
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql in step(db):
                db.execute(sql)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
