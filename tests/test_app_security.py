"""Safe defaults (issue 9): Host allow-list (DNS rebinding), no cross-site state changes (CSRF), login
rate limit, no blank or short tokens."""

from __future__ import annotations

import pytest

from app.settings import Settings

from app_helpers import client_for, image_bytes, settings_for

TOKEN = "a-long-enough-token"


def add_photo(c) -> dict:
    r = c.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize(
    "host,ok",
    [
        ("evil.example", False),
        ("evil.example:8000", False),
        ("localhost:8000", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_host_header_allow_list_in_open_loopback_mode(client, host, ok):
    for url in ("/api/photos", "/album"):
        r = client.get(url, headers={"host": host})
        assert (r.status_code == 200) == ok, (url, r.status_code)
        if not ok:
            assert r.status_code == 421 and r.json()["error"] == "bad_host" and "HEIRLOOM_ALLOWED_HOSTS" in r.text


def test_allowed_hosts_are_configurable(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights, allowed_hosts=("photos.lan",))
    with client_for(s, base_url="http://photos.lan") as c:
        assert c.get("/api/photos").status_code == 200
        assert c.get("/api/photos", headers={"host": "localhost"}).status_code == 421
    assert Settings.from_env({"HEIRLOOM_ALLOWED_HOSTS": "a.lan, B.lan"}).allowed_hosts == ("a.lan", "b.lan")
    assert Settings.from_env({"HEIRLOOM_ALLOWED_HOSTS": "*"}).host_names is None
    assert Settings(token=TOKEN).host_names is None  # a token guards the server: any name


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"origin": "http://localhost:3000"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"referer": "http://evil.example/x"},
    ],
)
def test_cross_site_form_posts_change_nothing(client, headers):
    rec = add_photo(client)
    r = client.post(f"/photos/{rec['id']}/delete", headers=headers, follow_redirects=False)
    assert r.status_code == 403 and r.json()["error"] == "cross_site"
    assert client.delete(rec["url"], headers=headers).status_code == 403
    r = client.post("/api/photos", headers=headers, files={"file": ("a.png", image_bytes(), "image/png")})
    assert r.status_code == 403
    assert client.get(rec["url"]).status_code == 200 and client.app.state.runtime.storage.count() == 1


def test_a_form_post_from_our_own_no_referrer_page_is_same_origin(client):
    """Our pages send Referrer-Policy: no-referrer, so a browser's own form posts carry Origin: null;
    Sec-Fetch-Site says they are same-origin (found by the browser test of the caption form)."""
    rec = add_photo(client)
    headers = {"origin": "null", "sec-fetch-site": "same-origin"}
    r = client.post(f"/photos/{rec['id']}/delete", headers=headers, follow_redirects=False)
    assert r.status_code in (302, 303) and client.app.state.runtime.storage.count() == 0


def test_same_origin_and_non_browser_posts_work(client):
    rec = add_photo(client)  # no Origin: curl, scripts
    r = client.post(
        f"/photos/{rec['id']}/delete",
        follow_redirects=False,
        headers={"origin": "http://localhost", "sec-fetch-site": "same-origin"},
    )
    assert r.status_code == 303 and client.get(rec["url"]).status_code == 404


@pytest.fixture
def locked(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights, token=TOKEN, login_attempts=5)) as c:
        yield c


def test_login_is_rate_limited(locked):
    for _ in range(5):
        assert locked.post("/login", data={"token": "wrong-token-guess"}).status_code == 401
    r = locked.post("/login", data={"token": "wrong-token-guess"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    r = locked.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 429  # no more guesses, right or wrong, for a while
    assert locked.get("/api/photos", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 429


def test_bad_bearer_tokens_are_rate_limited_too(locked):
    for _ in range(5):
        assert locked.get("/api/photos", headers={"authorization": "Bearer guess-guess-guess"}).status_code == 401
    r = locked.get("/api/photos", headers={"authorization": "Bearer guess-guess-guess"})
    assert r.status_code == 429 and r.json()["error"] == "too_many_attempts"


@pytest.mark.parametrize(
    "token,words",
    [(" ", "blank"), ("\t \n", "blank"), ("short", "12 characters"), (" padded-token-with-spaces ", "spaces")],
)
def test_blank_and_short_tokens_are_refused(token, words):
    with pytest.raises(ValueError, match=words):
        Settings(token=token).checked()
    with pytest.raises(ValueError, match=words):
        Settings.from_env({"HEIRLOOM_TOKEN": token})


def test_serve_refuses_a_blank_token(capsys, monkeypatch):
    import uvicorn

    from app.server import serve

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # were it accepted: fail, don't serve
    assert serve(["--token", " "]) == 2
    assert "blank" in capsys.readouterr().err
