"""The album database's connection: SQLite (the default, a file in the data directory) or PostgreSQL
(`HEIRLOOM_DATABASE_URL=postgresql://…`), behind one small interface that app/album/metadata.py,
app/album/batch_index.py and app/album/schema.py write their SQL against.

Plain psycopg 3 and the stdlib's sqlite3, not SQLAlchemy: the album's SQL is a few dozen statements
that are already plain, portable SQL; what differs between the two is small and said here (`?`
placeholders, case-insensitive matching and ordering, `REAL` being 4 bytes in PostgreSQL, the
schema version's home), so a wrapper of a hundred lines is less to learn and to ship than an ORM.

Both connections are used the same way: autocommit, with explicit `BEGIN`/`COMMIT` for each write
(`with db.transaction():`), one connection per process shared by threads behind the caller's lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

SQLITE, POSTGRESQL = "sqlite", "postgresql"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


class Row(tuple[Any, ...]):
    """A result row read by position (`row[0]`) or by column name (`row["id"]`), as sqlite3.Row is."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self.names)


def _row_factory(cursor: Any) -> Any:
    names = {d.name: i for i, d in enumerate(cursor.description or [])}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row.names = names
        return row

    return make


class Database:
    """One connection: `execute` takes `?` placeholders on both; `dialect` says which it is."""

    def __init__(self, conn: Any, dialect: str, url: str | None = None):
        self.conn, self.dialect, self.url = conn, dialect, url
        self.read_only = False  # PostgreSQL: every session (a reopened one too) only reads
        self._in_transaction = False

    @property
    def postgres(self) -> bool:
        return self.dialect == POSTGRESQL

    @classmethod
    def sqlite(cls, conn: sqlite3.Connection) -> Database:
        return cls(conn, SQLITE)

    @classmethod
    def connect(cls, url: str) -> Database:
        return cls(cls._pg_connect(url), POSTGRESQL, url)

    @staticmethod
    def _pg_connect(url: str) -> Any:
        import psycopg  # only a PostgreSQL album needs it

        return psycopg.connect(url, autocommit=True, row_factory=_row_factory)

    def set_read_only(self) -> None:
        if self.postgres:
            self.read_only = True
            self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    def _live(self) -> Any:
        """The connection; a PostgreSQL one that broke (server restarted, network cut) is opened again before
        the next transaction or statement outside one, so the failure costs the requests made while it was
        down, not every one after. Inside a transaction the error stands (it was rolled back with the link)."""
        if self.postgres and self.url and not self._in_transaction and (self.conn.broken or self.conn.closed):
            self.conn = self._pg_connect(self.url)
            if self.read_only:
                self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return self.conn

    def _sql(self, sql: str) -> str:
        # psycopg's placeholders are %s; a literal % must be doubled. The album's SQL has no '?' or '%'
        # inside string literals (values always travel as parameters).
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """-> a cursor (fetchone, fetchall, rowcount, iteration)."""
        return self._live().execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.postgres:
            with self._live().cursor() as cur:
                cur.executemany(self._sql(sql), rows)
        else:
            self.conn.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self, begin: str = "BEGIN") -> Iterator[Database]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        self._live().execute(begin)
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            if not (self.postgres and self.conn.broken):
                self.conn.execute("ROLLBACK")
            raise
        self._in_transaction = False
        self.conn.execute("COMMIT")

    # Where the dialects' SQL differs:

    def real(self, sql: str) -> str:
        """DDL: SQLite's REAL is 8 bytes, PostgreSQL's 4 (Unix times need the 8)."""
        return sql.replace(" REAL", " DOUBLE PRECISION") if self.postgres else sql

    def like(self) -> str:
        """Case-insensitive substring match (SQLite's LIKE is, for ASCII; PostgreSQL's is not)."""
        return "ILIKE" if self.postgres else "LIKE"

    def nocase(self, column: str) -> str:
        """An ORDER BY term that ignores ASCII case, in byte order on both."""
        return f'lower({column}) COLLATE "C"' if self.postgres else f"{column} COLLATE NOCASE"

    def columns(self, table: str) -> set[str]:
        if self.postgres:
            rows = self.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ?",
                (table,),
            )
            return {r[0] for r in rows}
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self.conn.close()


def open_sqlite(path: Path | str) -> sqlite3.Connection:
    return sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
