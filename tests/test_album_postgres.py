"""The album in PostgreSQL (HEIRLOOM_DATABASE_URL): the same migrations as SQLite's, run once even when
several servers start together, an old album upgraded, and a SQLite album moved over by export/import.
The API and page tests themselves run on both databases (modules marked `both_databases`)."""

from __future__ import annotations

import threading
import time

import pytest

from app_helpers import client_for, image_bytes, settings_for


@pytest.fixture
def pg_url(postgres_server):
    from pg_helpers import create_database, drop_database

    url = create_database(postgres_server)
    yield url
    drop_database(url)


def connect(url):
    from app.album.db import Database

    return Database.connect(url)


def test_the_album_lives_in_postgresql_when_a_url_is_set(tmp_path, tiny_weights, pg_url):
    settings = settings_for(tmp_path / "data", tiny_weights, database_url=pg_url)
    with client_for(settings) as client:
        assert client.app.state.runtime.storage.index.dialect == "postgresql"
        r = client.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")})
        assert r.status_code == 201
        created = r.json()["created"]
    assert not (tmp_path / "data" / "heirloom.sqlite3").exists()  # the files stay in the data directory
    db = connect(pg_url)
    try:
        from app.album.schema import VERSION, version_of

        assert version_of(db) == VERSION
        # Unix times keep their fractions (PostgreSQL's REAL would round them to ~2 minutes).
        assert db.execute("SELECT created FROM photos").fetchone()[0] == created
    finally:
        db.close()
    # Another server on the same database (and data directory) sees the same album.
    with client_for(settings) as client:
        assert client.get("/api/photos").json()["total"] == 1


def test_an_old_album_in_postgresql_is_upgraded_step_by_step(pg_url):
    """A database left at step 1 (photos with their result inline) gets versions, batches and trash."""
    from app.album.schema import STEPS, VERSION, _set_version, migrate, version_of

    db = connect(pg_url)
    try:
        with db.transaction():
            for sql in STEPS[0](db):
                db.execute(db.real(sql))
            _set_version(db, 1)
        db.execute(
            "INSERT INTO photos (id, created, name, original_file, original_format, original_bytes, result_file,"
            " result_format, width, height, render_size, policy, saturation, caption_who)"
            " VALUES ('p1', 1700000000.25, 'a.png', 'original.png', 'PNG', 10, 'result-0a1b2c3d.png', 'PNG', 4, 3,"
            " 256, 'pad-reflect', 1.5, 'Ann')"
        )
        migrate(db)
        assert version_of(db) == VERSION
        row = db.execute("SELECT favorite, deleted, caption_who FROM photos WHERE id = 'p1'").fetchone()
        assert (row["favorite"], row["deleted"], row["caption_who"]) == ("0a1b2c3d", None, "Ann")
        v = db.execute("SELECT id, result_file, saturation, created FROM versions").fetchone()
        assert tuple(v) == ("0a1b2c3d", "result-0a1b2c3d.png", 1.5, 1700000000.25)
        assert "result_file" not in db.columns("photos")
    finally:
        db.close()


def test_servers_starting_together_upgrade_once(pg_url):
    from app.album.schema import VERSION, migrate, version_of

    errors: list[BaseException] = []

    def start():
        db = connect(pg_url)
        try:
            migrate(db)
        except BaseException as e:
            errors.append(e)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    db = connect(pg_url)
    try:
        assert version_of(db) == VERSION
        assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    finally:
        db.close()


def test_a_newer_album_is_refused(pg_url):
    from app.album.schema import VERSION, SchemaError, _set_version, migrate

    db = connect(pg_url)
    try:
        migrate(db)
        _set_version(db, VERSION + 1)
        with pytest.raises(SchemaError, match="newer Heirloom"):
            migrate(db)
    finally:
        db.close()


def test_a_sqlite_album_moves_to_postgresql_by_export_and_import(tmp_path, tiny_weights, pg_url):
    from app.album.archive import export_album, import_album

    old, new = tmp_path / "old", tmp_path / "new"
    with client_for(settings_for(old, tiny_weights)) as client:
        first = client.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
        client.patch(first["url"], json={"who": "Ann", "where": "Lyon"})
        time.sleep(0.01)
        assert client.post(f"{first['url']}/rerun", data={"saturation": "2"}).status_code == 201
        client.post("/api/photos", files={"file": ("b.png", image_bytes(30, 20), "image/png")})
        before = client.get(f"{first['url']}/versions").json()
    assert export_album(old, tmp_path / "album.zip") == 2
    assert import_album(tmp_path / "album.zip", new, pg_url) == 2
    with client_for(settings_for(new, tiny_weights, database_url=pg_url)) as client:
        assert client.get("/api/photos").json()["total"] == 2
        photo = client.get(first["url"]).json()
        assert photo["caption"] == {"who": "Ann", "where": "Lyon", "when": ""}
        assert client.get(f"{first['url']}/versions").json() == before
        assert client.get(photo["result_url"]).status_code == 200
    assert not (new / "heirloom.sqlite3").exists()
    # …and back: an export reads the PostgreSQL album.
    assert export_album(new, tmp_path / "again.zip", pg_url) == 2


def test_a_broken_connection_is_opened_again(tmp_path, pg_url, postgres_server):
    """PostgreSQL restarted (here: our session ended by the server): the request in flight fails, the next
    ones work."""
    import psycopg

    from app.album.metadata import PhotoIndex

    index = PhotoIndex(tmp_path / "unused.sqlite3", url=pg_url)
    try:
        pid = index._db.conn.info.backend_pid
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            index.count()
        assert index.count() == 0 and index._db.conn.info.backend_pid != pid
    finally:
        index.close()
    assert not (tmp_path / "unused.sqlite3").exists()


def test_with_a_shared_database_start_up_sweeps_only_old_leftovers(tmp_path, tiny_weights, pg_url):
    """Several servers share the data directory: a young folder without a record, or a young temp file, may
    be another server's write in progress, so a starting server leaves it; an hour-old one is a crash's."""
    import os

    s = settings_for(tmp_path / "d", tiny_weights, database_url=pg_url)
    with client_for(s):
        pass
    photos, tmp = tmp_path / "d" / "photos", tmp_path / "d" / "tmp"
    young, old = photos / ("A" * 24), photos / ("B" * 24)
    young.mkdir()
    old.mkdir()
    (tmp / "in-progress").write_bytes(b"\0")
    (tmp / "crashed").write_bytes(b"\0")
    hours_ago = time.time() - 2 * 3600
    for p in (old, tmp / "crashed"):
        os.utime(p, (hours_ago, hours_ago))
    with client_for(s):
        assert sorted(p.name for p in photos.iterdir()) == [young.name]
        assert sorted(p.name for p in tmp.iterdir()) == ["in-progress"]


def test_the_api_says_503_while_postgresql_is_away_then_carries_on(tmp_path, tiny_weights, pg_url, postgres_server):
    import psycopg

    # retention_days=0: no background sweep that could meet the cut connection before this request does
    with client_for(settings_for(tmp_path / "d", tiny_weights, database_url=pg_url, retention_days=0)) as client:
        db = client.app.state.runtime.storage.index._db
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (db.conn.info.backend_pid,))
        r = client.get("/api/photos")
        assert r.status_code == 503 and r.json()["error"] == "database_unavailable"
        assert r.headers["retry-after"] == "5"
        assert client.get("/api/photos").status_code == 200


def test_a_database_not_in_utf8_is_refused_at_start_with_a_clear_message(postgres_server, tmp_path):
    import psycopg

    from app.album.metadata import PhotoIndex
    from app.album.schema import SchemaError

    name = "album_ascii_" + str(int(time.time() * 1000) % 10**9)
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    url = f"{postgres_server}/{name}"
    try:
        with pytest.raises(SchemaError, match="SQL_ASCII encoding; Heirloom needs UTF8"):
            PhotoIndex(tmp_path / "unused.sqlite3", url=url)
        with psycopg.connect(url) as conn:  # nothing was created in it
            assert conn.execute("SELECT to_regclass('photos')").fetchone()[0] is None
    finally:
        from pg_helpers import drop_database

        drop_database(url)
