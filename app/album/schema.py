"""The album database's schema, as numbered migrations, the same list for SQLite and PostgreSQL
(app/album/db.py says where their SQL differs). Which have run: SQLite's `PRAGMA user_version` (as albums have
always recorded it), PostgreSQL's one-row table `schema_version`.

An album opened by a newer Heirloom is upgraded in place, one migration per transaction (PostgreSQL's
DDL is transactional too), so a crash leaves it at the last complete step; on PostgreSQL an advisory
lock lets several web servers start at once, the first upgrading, the others finding it done. No
Alembic: seven steps of plain SQL and a version number are all it does, and Alembic would bring
SQLAlchemy with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import AppError
from .db import Database

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
_OLD_ID_PG = "split_part(substr(result_file, 8), '.', 1)"


def _versions(db: Database) -> list[str]:
    old_id = _OLD_ID_PG if db.postgres else _OLD_ID
    return [s.replace(_OLD_ID, old_id) for s in _VERSIONS]


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


# Step 5, sessions: one row per login (the SHA-256 of its random cookie value, never the value itself), in the
# database every web server shares, so that a logout or an expiry ends it on all of them.
_SESSIONS = ["CREATE TABLE sessions (id TEXT PRIMARY KEY, created REAL NOT NULL, last_seen REAL NOT NULL)"]


# Step 6, hints: the colour hints a version was made with, as their JSON ("" = none).
_HINTS = ["ALTER TABLE versions ADD COLUMN hints TEXT NOT NULL DEFAULT ''"]


# Step 7, nothing lost: when each batch file arrived and the batch last moved (the settling rule), and each
# upload's Idempotency-Key with the answer it got (a retry gets the same answer: no duplicate).
_SETTLING = [
    "ALTER TABLE batch_items ADD COLUMN received REAL",
    "ALTER TABLE batches ADD COLUMN active REAL",
    "UPDATE batches SET active = created",
    """CREATE TABLE idempotency (
        key TEXT PRIMARY KEY, created REAL NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
        location TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX idempotency_created ON idempotency (created)",
]


def _step1(db: Database) -> list[str]:
    db.execute(db.real(_PHOTOS_V1))
    have = db.columns("photos")
    return [
        *(f"ALTER TABLE photos ADD COLUMN {c} TEXT NOT NULL DEFAULT ''" for c in _CAPTIONS if c not in have),
        "CREATE INDEX IF NOT EXISTS photos_created ON photos (created DESC)",
    ]


class SchemaError(AppError):
    """This Heirloom cannot open the album: a newer one wrote it (opening it here could lose what this one does
    not know), or its upgrade needs a newer SQLite."""


# Each step gives the statements to run (they may depend on what an old album holds, and on the dialect).
STEPS: list[Callable[[Database], list[str]]] = [
    _step1,
    _versions,
    lambda _db: _BATCHES,
    lambda _db: _TRASH,
    lambda _db: _SESSIONS,
    lambda _db: _HINTS,
    lambda _db: _SETTLING,
]
VERSION = len(STEPS)
_PG_LOCK = 0x4865_6972  # "Heir": the advisory lock that serializes upgrades of one PostgreSQL database


def version_of(db: Database | sqlite3.Connection) -> int:
    if isinstance(db, sqlite3.Connection):
        db = Database.sqlite(db)
    if db.postgres:
        if not db.execute("SELECT to_regclass('schema_version')").fetchone()[0]:
            return 0
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])
    found: int = db.execute("PRAGMA user_version").fetchone()[0]
    return found


def _set_version(db: Database, number: int) -> None:
    if db.postgres:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
    else:
        db.execute(f"PRAGMA user_version = {number}")


def migrate(db: Database | sqlite3.Connection) -> None:
    """Bring the database (autocommit connection) up to VERSION; a newer album than this code is refused."""
    if isinstance(db, sqlite3.Connection):
        db = Database.sqlite(db)
    if db.postgres:
        found = db.execute("SHOW server_encoding").fetchone()[0]
        encoding = found.decode() if isinstance(found, bytes) else str(found)  # SQL_ASCII hands back bytes
        if encoding.upper() not in ("UTF8", "UTF-8"):
            raise SchemaError(
                f"The album's PostgreSQL database uses the {encoding} encoding; Heirloom needs UTF8 (names and "
                "captions are Unicode). Create it with: CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0"
            )
    current = version_of(db)
    if current > VERSION:
        raise SchemaError(
            f"The album's database has schema version {current}; this Heirloom knows up to {VERSION}. "
            "Use a newer Heirloom."
        )
    if not db.postgres and current < 2 and sqlite3.sqlite_version_info < (3, 35, 0):  # step 2 drops columns
        raise SchemaError(f"Upgrading this album needs SQLite 3.35 or newer; this Python has {sqlite3.sqlite_version}.")
    for number in range(current + 1, VERSION + 1):
        with db.transaction("BEGIN" if db.postgres else "BEGIN IMMEDIATE"):
            if db.postgres:  # another server may be upgrading: wait for it, then see what is left
                db.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
                if version_of(db) >= number:
                    continue
            for sql in STEPS[number - 1](db):
                db.execute(db.real(sql))
            _set_version(db, number)
