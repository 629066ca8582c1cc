"""HTML pages (without JavaScript), the access token, and the address safety rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app_helpers import client_for, image_bytes, settings_for

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL

HTML = {"accept": "text/html"}


def upload_form(client, files, **fields):
    return client.post(
        "/photos",
        files=[("file", (n, b, "image/png")) for n, b in files],
        data=fields,
        headers=HTML,
        follow_redirects=False,
    )


def test_upload_page_has_labelled_form(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    for field in ("file", "render_size", "policy", "saturation"):
        assert re.search(rf'<label[^>]+for="{field}"', r.text), field
    assert 'enctype="multipart/form-data"' in r.text and "pad-reflect" in r.text
    assert 'src="/static/app.js"' in r.text and "https://" not in r.text  # no CDN
    assert client.get("/static/style.css").status_code == 200


def test_single_upload_without_js_lands_on_photo_page(client):
    r = upload_form(client, [("scan.png", image_bytes(30, 20))], policy="stretch", saturation="1.5", render_size="64")
    assert r.status_code == 303 and r.headers["location"].startswith("/photos/")
    page = client.get(r.headers["location"], headers=HTML)
    pid = r.headers["location"].rsplit("/", 1)[1]
    assert page.status_code == 200
    assert f"/api/photos/{pid}/result?download=true" in page.text and f"/api/photos/{pid}/original" in page.text
    assert 'id="slider"' in page.text and "30 × 20" in page.text


def test_several_files_go_to_their_batch_and_the_album(client):
    r = upload_form(client, [("a.png", image_bytes(20, 20)), ("b.png", image_bytes(24, 20))])
    assert r.status_code == 303 and r.headers["location"].startswith("/batches/")
    assert "Batch of 2 photos" in client.get(r.headers["location"], headers=HTML).text
    album = client.get("/album", headers=HTML).text
    assert album.index('alt="b.png') < album.index('alt="a.png')  # newest first (a result's hex name may end in "a")
    assert album.count("/thumbnail") == 2


def test_bad_upload_on_page_shows_message(client):
    r = upload_form(client, [("notes.txt", b"hello")])
    assert r.status_code == 415 and "not an image" in r.text and 'role="alert"' in r.text
    r = upload_form(client, [("a.png", image_bytes())], policy="squash")
    assert r.status_code == 422 and "policy must be one of" in r.text
    assert client.app.state.runtime.storage.count() == 0


def test_rerun_and_delete_forms(client):
    pid = upload_form(client, [("a.png", image_bytes())]).headers["location"].rsplit("/", 1)[1]
    r = client.post(f"/photos/{pid}/rerun", data={"policy": "center-crop", "saturation": "0.5"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/photos/{pid}").json()["policy"] == "center-crop"
    r = client.post(f"/photos/{pid}/rerun", data={"render_size": "7"}, headers=HTML)
    assert r.status_code == 422 and "render_size" in r.text
    r = client.post(f"/photos/{pid}/delete", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/album?deleted={pid}"
    assert "No photos yet" in client.get("/album").text


def test_unknown_photo_page_is_html_404(client):
    r = client.get("/photos/" + "x" * 24, headers=HTML)
    assert r.status_code == 404 and "<html" in r.text and "Traceback" not in r.text


def test_no_banner_when_the_workers_loaded_the_model(client):
    r = client.get("/", headers=HTML)
    assert r.status_code == 200 and "model is not loaded" not in r.text
    assert client.get("/healthz").json()["model_loaded"] is True  # from the workers' profile, not a model here


def test_missing_model_banner(tmp_path):
    with client_for(settings_for(tmp_path / "d", tmp_path / "none.safetensors")) as c:
        r = c.get("/", headers=HTML)
        assert r.status_code == 200 and "model is not loaded" in r.text
        r = upload_form(c, [("a.png", image_bytes())])
        assert r.status_code == 503 and "none.safetensors" in r.text


# --- access token ---------------------------------------------------------------------------


@pytest.fixture
def locked(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights, token="s3cret-token")) as c:
        yield c


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/photos"),
        ("post", "/colorize"),
        ("post", "/api/photos"),
        ("get", "/api/photos/" + "a" * 24),
        ("delete", "/api/photos/" + "a" * 24),
        ("get", "/api/photos/" + "a" * 24 + "/result"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("post", "/photos"),
        ("get", "/album"),
        ("get", "/api/photos/" + "a" * 24 + "/versions"),
        ("delete", "/api/photos/" + "a" * 24 + "/versions/0a1b2c3d"),
        ("post", "/api/batches"),
        ("get", "/api/batches/" + "a" * 24 + "/zip"),
        ("get", "/api/album.zip?all=true"),
        ("get", "/api/trash"),
        ("delete", "/api/trash"),
        ("post", "/api/trash/" + "a" * 24 + "/restore"),
        ("get", "/trash"),
        ("get", "/about"),
    ],
)
def test_token_protects_every_route(locked, method, url):
    r = getattr(locked, method)(url)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = getattr(locked, method)(url, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_pages_redirect_to_login_and_cookie_works(locked):
    r = locked.get("/album?x=1", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/album%3Fx%3D1"
    assert locked.get("/login").status_code == 200
    assert locked.get("/static/style.css").status_code == 200
    assert locked.get("/healthz").json()["model_loaded"] is True  # a probe needs no secret
    r = locked.post("/login", data={"token": "nope", "next": "/album"}, follow_redirects=False)
    assert r.status_code == 401 and "not right" in r.text
    r = locked.post("/login", data={"token": "s3cret-token", "next": "https://evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    assert "s3cret-token" not in r.headers["set-cookie"] and "httponly" in r.headers["set-cookie"].lower()
    assert locked.get("/album", headers=HTML).status_code == 200  # the cookie now opens pages...
    assert locked.get("/api/photos").status_code == 200  # ...and the API
    locked.post("/logout")
    assert locked.get("/api/photos").status_code == 401


def test_each_login_is_its_own_session_ended_by_logout_and_expiry(locked, monkeypatch):
    def login() -> str:
        r = locked.post("/login", data={"token": "s3cret-token"}, follow_redirects=False)
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "max-age=604800" in cookie.lower()
        return locked.cookies["heirloom_session"]

    first = login()
    locked.cookies.clear()
    second = login()  # (another browser)
    assert first != second
    for value in (first, second):
        assert locked.get("/api/photos", cookies={"heirloom_session": value}).status_code == 200
    third = login()  # the second browser logs in again: its session is rotated
    assert locked.get("/api/photos", cookies={"heirloom_session": second}).status_code == 401
    locked.cookies.clear()
    locked.post("/logout", cookies={"heirloom_session": third})
    assert locked.get("/api/photos", cookies={"heirloom_session": third}).status_code == 401  # ended, not forgotten
    assert locked.get("/api/photos", cookies={"heirloom_session": first}).status_code == 200
    # Unused for longer than the lifetime: gone. Used within it: renewed, cookie and all.
    import app.sessions

    sessions = locked.app.state.runtime.sessions
    key = app.sessions._key(first)
    created, _ = sessions.storage.index.sessions.get(key)
    sessions.storage.index.sessions.touch(key, created - 2 * 3600)  # last used two hours ago
    monkeypatch.setattr(app.sessions, "TRUST_S", 0.0)
    r = locked.get("/api/photos", cookies={"heirloom_session": first})
    assert r.status_code == 200 and "max-age=604800" in r.headers["set-cookie"].lower()  # slid forward
    sessions.storage.index.sessions.touch(key, created - 8 * 86400)  # unused for 8 days
    assert locked.get("/api/photos", cookies={"heirloom_session": first}).status_code == 401
    assert sessions.storage.index.sessions.get(key) is None


def test_bearer_token_opens_api(locked):
    auth = {"Authorization": "Bearer s3cret-token"}
    r = locked.post("/api/photos", files={"file": ("a.png", image_bytes())}, headers=auth)
    assert r.status_code == 201
    assert locked.get(r.json()["result_url"], headers=auth).status_code == 200


def test_open_server_refuses_non_loopback_connections(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights)
    with client_for(s, base_url="http://192.168.1.20") as c:
        r = c.get("/api/photos")
        assert r.status_code == 403 and "HEIRLOOM_TOKEN" in r.json()["message"]
    with client_for(s.with_(allow_public=True), base_url="http://192.168.1.20") as c:
        assert c.get("/api/photos").status_code == 200
    with client_for(s, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/photos").status_code == 200


def test_serve_refuses_public_bind_without_token(capsys, monkeypatch):
    from app.server import parse, serve

    monkeypatch.delenv("HEIRLOOM_TOKEN", raising=False)
    monkeypatch.delenv("HEIRLOOM_ALLOW_PUBLIC", raising=False)
    assert serve(["--host", "0.0.0.0"]) == 2
    assert "refusing" in capsys.readouterr().err
    s, _ = parse(
        ["--host", "0.0.0.0", "--token", "choose-a-secret", "--port", "9001", "--workers", "2", "--max-upload-mb", "1"]
    )
    assert (s.host, s.port, s.token, s.workers, s.max_upload_bytes) == ("0.0.0.0", 9001, "choose-a-secret", 2, 2**20)
    assert s.torch_threads is None and s.threads >= 1  # the cores shared by the workers
    monkeypatch.setenv("HEIRLOOM_DATA_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("HEIRLOOM_ALLOW_PUBLIC", "1")
    s, _ = parse([])
    assert s.data_dir == Path("/tmp/elsewhere") and s.allow_public and s.host == "127.0.0.1"
