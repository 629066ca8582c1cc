"""Issue 9 in the web layer: storage errors, the connection after a 500, headers on every response."""

from __future__ import annotations

import errno
import http.client
import socket
import sqlite3
import threading
import time

import pytest
from local_process import free_port

import app.album.storage
from app.limits import SECURITY_HEADERS

from app_helpers import client_for, image_bytes, settings_for


def post(c, url, data, **fields):
    return c.post(url, files={"file": ("scan.png", data, "application/octet-stream")}, data=fields)


def stored_nothing(c) -> bool:
    s = c.app.state.runtime.storage
    return s.count() == 0 and not any(s.photos.iterdir()) and not any(s.tmp.iterdir())


# --- storage errors ----------------------------------------------------------------------------


def test_disk_full_is_507_with_a_message_and_stores_nothing(tmp_path, tiny_weights, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        monkeypatch.setattr(app.album.storage, "write_synced", full)
        r = post(c, "/api/photos", image_bytes())
        assert r.status_code == 507 and r.json()["error"] == "storage_full", r.text
        assert "disk" in r.json()["message"] and "full" in r.json()["message"]
        assert stored_nothing(c)
        monkeypatch.undo()
        index = c.app.state.runtime.storage.index
        monkeypatch.setattr(
            index, "insert", lambda rec: (_ for _ in ()).throw(sqlite3.OperationalError("database or disk is full"))
        )
        r = post(c, "/api/photos", image_bytes())
        assert r.status_code == 507 and stored_nothing(c)
        monkeypatch.undo()
        assert post(c, "/api/photos", image_bytes()).status_code == 201  # space again: works again


def test_read_only_data_dir_starts_read_only(tmp_path, tiny_weights, monkeypatch):
    s = settings_for(tmp_path / "d", tiny_weights)
    with client_for(s) as c:
        rec = post(c, "/api/photos", image_bytes()).json()

    def read_only(root):
        raise OSError(errno.EROFS, "Read-only file system", str(root))

    monkeypatch.setattr(app.album.storage, "probe_writable", read_only)  # as a read-only mount answers (root too)
    with client_for(s) as c:  # the server starts
        assert c.get("/healthz").json()["storage"] == "read-only"
        assert [p["id"] for p in c.get("/api/photos").json()["photos"]] == [rec["id"]]
        assert c.get(rec["original_url"]).status_code == 200 and c.get(f"/photos/{rec['id']}").status_code == 200
        r = post(c, "/api/photos", image_bytes())
        assert r.status_code == 503 and r.json()["error"] == "read_only" and "read-only" in r.json()["message"]
        assert c.delete(rec["url"]).status_code == 503
        assert c.post(f"{rec['url']}/rerun", data={}).status_code == 503
        page = post(c, "/photos", image_bytes())
        assert page.status_code == 503 and "read-only" in page.text
        assert post(c, "/colorize", image_bytes()).status_code == 200  # nothing stored: still works
    with client_for(settings_for(tmp_path / "empty", tiny_weights)) as c:
        assert c.get("/api/photos").json()["total"] == 0  # no album yet: an empty one


# --- a 500 keeps the connection; every response has the headers --------------------------------


@pytest.fixture
def live_app(tmp_path):
    """The app under uvicorn in a thread (no model), with one route that fails unexpectedly."""
    import uvicorn

    from app.main import create_app

    application = create_app(settings_for(tmp_path / "d", None, load_model=False))

    @application.get("/boom")
    def boom():
        raise RuntimeError("an unexpected bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="critical"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield port
    server.should_exit = True
    t.join(10)


def test_a_500_keeps_the_connection_for_the_next_request(live_app):
    conn = http.client.HTTPConnection("127.0.0.1", live_app, timeout=10)
    conn.request("GET", "/boom")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 500 and b"Traceback" not in body and b"unexpected bug" not in body
    assert (r.getheader("connection") or "").lower() != "close"
    assert r.getheader("x-content-type-options") == "nosniff"
    conn.request("GET", "/api/photos")  # same connection
    r = conn.getresponse()
    assert r.status == 200 and r.read()
    conn.close()


def test_security_headers_on_refusals_and_errors(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights, token="a-long-enough-token", max_upload_bytes=1000)
    with client_for(s) as c:
        auth = {"Authorization": "Bearer a-long-enough-token"}
        responses = {
            401: c.get("/api/photos"),
            413: c.post("/api/photos", content=b"\0" * 200_000, headers={**auth, "content-type": "image/png"}),
            404: c.get("/api/photos/nope-nope-nope-nope-nope", headers=auth),
        }
        for status, r in responses.items():
            assert r.status_code == status
            for k in SECURITY_HEADERS:
                assert k.lower() in r.headers, (status, k)


# --- hardening round two: a full or read-only disk everywhere ---------------------------------


def test_zips_on_a_full_album_disk_fall_back_to_the_system_disk_then_answer_507(tmp_path, tiny_weights, monkeypatch):
    import tempfile as tf

    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        storage = c.app.state.runtime.storage
        rec = post(c, "/api/photos", image_bytes()).json()
        real_mkstemp = tf.mkstemp
        full_dirs = {str(storage.tmp)}

        def mkstemp(suffix="", prefix="", dir=None):  # the album's disk is full; the system's may not be
            if str(dir if dir is not None else tf.gettempdir()) in full_dirs:
                raise OSError(errno.ENOSPC, "No space left on device", str(dir))
            return real_mkstemp(suffix, prefix, dir)

        monkeypatch.setattr(tf, "mkstemp", mkstemp)
        r = c.get("/api/album.zip?all=true")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"  # from the system's tmp
        full_dirs.add(tf.gettempdir())  # both full: the same answer as every other write
        for url in ("/api/album.zip?all=true", f"/api/album.zip?id={rec['id']}"):
            r = c.get(url)
            assert r.status_code == 507 and r.json()["error"] == "storage_full", r.text
        ro = {"err": errno.EROFS}

        def read_only(suffix="", prefix="", dir=None):
            raise OSError(ro["err"], "Read-only file system", str(dir))

        monkeypatch.setattr(tf, "mkstemp", read_only)
        r = c.get("/api/album.zip?all=true")
        assert r.status_code == 503 and r.json()["error"] == "read_only", r.text
        assert not list(storage.tmp.iterdir())


def test_a_full_disk_can_be_cleared_from_the_app(tmp_path, tiny_weights, monkeypatch):
    """At 0 bytes free the database cannot record a change until files are gone: deleting for good and
    emptying the trash remove the files first, then the record fits (simulated: the index refuses to
    write while the photo's files are still on disk)."""
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        storage = c.app.state.runtime.storage
        recs = [post(c, "/api/photos", image_bytes(40 + i, 30)).json() for i in range(3)]
        for r in recs:
            assert c.delete(r["url"]).status_code == 204  # to the trash, while there was space
        index_delete = storage.index.delete

        def delete_when_room(photo_id):
            if any(storage.photos.glob(f"{photo_id}/*")):  # the disk is full until these bytes are freed
                raise sqlite3.OperationalError("database or disk is full")
            return index_delete(photo_id)

        monkeypatch.setattr(storage.index, "delete", delete_when_room)
        monkeypatch.setattr(app.album.storage, "write_synced", lambda p, d: (_ for _ in ()).throw(OSError(28, "full")))
        r = post(c, "/api/photos", image_bytes())
        assert r.status_code == 507 and "empty the trash" in r.json()["message"]
        assert c.delete(f"/api/trash/{recs[0]['id']}").status_code == 204  # for good, on a full disk
        assert c.delete("/api/trash").json() == {"deleted": 2}
        assert c.get("/api/trash").json()["total"] == 0 and not any(storage.photos.iterdir())


def test_the_login_limiter_evicts_the_oldest_not_the_locked_out():
    from app.auth import LoginLimiter

    limiter = LoginLimiter(attempts=3, window_s=60)
    limiter.MAX_CLIENTS = 100
    for _ in range(3):
        limiter.failed("victim-of-a-guess")
    assert limiter.retry_after("victim-of-a-guess") is not None
    for i in range(1000):  # one-off failures from many addresses
        limiter.failed(f"10.0.{i // 250}.{i % 250}")
    assert limiter.retry_after("victim-of-a-guess") is not None, "a locked-out address stays locked out"
    assert len(limiter._failures) <= 100


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        ("choose-a-secret", True),
        ("aaaaaaaaaaaa", False),
        ("aaaabbbbcccc", False),
        ("sécret-ünicode-1", False),
        ("has a space!", False),
        ("short-1", False),
        ("abcdefgh1234", True),
    ],
)
def test_tokens_are_printable_ascii_with_enough_distinct_characters(token, ok):
    from app.settings import Settings

    if ok:
        assert Settings(token=token).checked().token == token
    else:
        with pytest.raises(ValueError, match="printable ASCII|at least 12|distinct"):
            Settings(token=token).checked()


def test_a_data_dir_that_turns_read_only_while_running_is_read_only_everywhere(tmp_path, tiny_weights, monkeypatch):
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        storage = c.app.state.runtime.storage
        rec = post(c, "/api/photos", image_bytes()).json()
        monkeypatch.setattr(app.album.storage, "RECHECK_S", 0.0)

        def read_only(root):
            raise OSError(errno.EROFS, "Read-only file system", str(root))

        monkeypatch.setattr(app.album.storage, "still_writable", read_only)  # the mount turned read-only
        assert c.get("/healthz").json()["storage"] == "read-only"
        r = c.patch(rec["url"], json={"who": "Grandfather"})
        assert r.status_code == 503 and r.json()["error"] == "read_only", r.text
        assert c.delete(rec["url"]).status_code == 503
        assert c.get(rec["url"]).json()["caption"]["who"] == "" and storage.count() == 1  # nothing changed
        monkeypatch.undo()
        monkeypatch.setattr(app.album.storage, "RECHECK_S", 0.0)
        assert c.get("/healthz").json()["storage"] == "ok"  # writable again: changes work again
        assert c.patch(rec["url"], json={"who": "Grandfather"}).json()["caption"]["who"] == "Grandfather"


def test_versions_are_capped_per_photo_before_any_work(tmp_path, tiny_weights, monkeypatch):
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        rec = post(c, "/api/photos", image_bytes()).json()
        assert c.post(f"{rec['url']}/rerun", data={"saturation": "1.2"}).status_code == 201
        monkeypatch.setattr(app.album.storage, "MAX_VERSIONS", 2)
        r = c.post(f"{rec['url']}/rerun", data={"saturation": "1.4"})
        assert r.status_code == 409 and r.json()["error"] == "too_many_versions" and "2 versions" in r.json()["message"]
        assert len(c.get(f"{rec['url']}/versions").json()["versions"]) == 2


def test_the_same_batch_place_uploaded_twice_makes_one_photo(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights)) as c:
        storage = c.app.state.runtime.storage
        batch = c.post("/api/batches", json={"names": ["a.png", "b.png"]}).json()
        first = post(c, "/api/photos", image_bytes(), batch=batch["id"], position="0")
        assert first.status_code == 201
        again = post(c, "/api/photos", image_bytes(), batch=batch["id"], position="0")
        assert again.status_code == 409 and again.json()["error"] == "already_stored", again.text
        assert storage.count() == 1
        # Two uploads of one place at once: both pass the check; the one stored second gives way.
        winner = post(c, "/api/photos", image_bytes(50, 40)).json()["id"]
        real_settle = storage.settle

        def raced(batch_id, position, photo_id, error=""):
            real_settle(batch_id, position, winner)  # the other upload got there first
            return real_settle(batch_id, position, photo_id, error)

        storage.settle = raced
        r = post(c, "/api/photos", image_bytes(60, 40), batch=batch["id"], position="1")
        storage.settle = real_settle
        assert r.status_code == 201 and r.json()["id"] == winner
        assert storage.count() == 2  # the first photo and the winner: the loser's copy is gone
        items = c.get(f"/api/batches/{batch['id']}").json()["items"]
        assert [i["status"] for i in items] == ["done", "done"] and items[1]["photo"]["id"] == winner


# --- slow clients (the protocol layer: app/slow_clients.py) ------------------------------------


@pytest.fixture
def guarded_server(tmp_path, monkeypatch):
    """The app behind uvicorn with the guarded protocol, its clocks shortened for the test."""
    import uvicorn

    import app.slow_clients as sc
    from app.main import create_app
    from app.settings import Settings

    monkeypatch.setattr(sc, "HEADERS_S", 0.5)
    monkeypatch.setattr(sc, "BODY_GRACE_S", 0.5)
    monkeypatch.setattr(sc, "BODY_MIN_RATE", 1 << 30)
    port = free_port()
    settings = Settings(data_dir=tmp_path / "d", load_model=False, port=port)
    config = uvicorn.Config(create_app(settings), port=port, log_level="warning", http=sc.GuardedH11Protocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            if sock.recv(4096) == b"":
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_headers_and_bodies_are_cut_off_and_the_server_keeps_answering(guarded_server):
    port = guarded_server
    slow = []
    for _ in range(200):  # slowloris: connections that never finish their headers
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        slow.append(s)
    t = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status in (200, 503) and time.monotonic() - t < 2  # answers beside them
    assert all(_closed_within(s, 3) for s in slow[:5]), "incomplete headers are closed after the clock"
    body = socket.create_connection(("127.0.0.1", port))
    body.sendall(b"POST /colorize HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
    assert _closed_within(body, 3), "a body that stops coming is cut off"
    quick = socket.create_connection(("127.0.0.1", port))  # a complete request is answered, not cut
    quick.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    quick.settimeout(3)
    assert quick.recv(100).startswith(b"HTTP/1.1 ")
    for s in [*slow, body, quick]:
        s.close()
