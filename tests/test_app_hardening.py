"""Issue 9 in the web layer: storage errors, the connection after a 500, headers on every response."""

from __future__ import annotations

import errno
import http.client
import socket
import sqlite3
import threading
import time

import pytest

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(tmp_path):
    """The app under uvicorn in a thread (no model), with one route that fails unexpectedly."""
    import uvicorn

    from app.main import create_app

    application = create_app(settings_for(tmp_path / "d", None, load_model=False))

    @application.get("/boom")
    def boom():
        raise RuntimeError("an unexpected bug")

    port = _free_port()
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
