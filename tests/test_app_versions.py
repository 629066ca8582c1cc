"""Versions: a re-run adds a version (options and model recorded), a favourite is chosen, a version is
deleted (never the last); an album from before versions is upgraded in place."""

from __future__ import annotations

import sqlite3

import pytest

from app_helpers import client_for, image_bytes, settings_for, size_of

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL

HTML = {"accept": "text/html"}


def add(client, w=40, h=30, **fields):
    files = {"file": ("scan.png", image_bytes(w, h), "image/png")}
    r = client.post("/api/photos", files=files, data={k: str(v) for k, v in fields.items()})
    assert r.status_code == 201, r.text
    return r.json()


def rerun(client, rec, **fields):
    r = client.post(f"{rec['url']}/rerun", data={k: str(v) for k, v in fields.items()})
    assert r.status_code == 201, r.text
    return r


def test_rerun_adds_a_version_with_its_options_and_model(client, tiny_weights):
    from model.checkpoint import sha256_of

    rec = add(client, saturation=1.5)
    first = client.get(rec["result_url"]).content
    r = rerun(client, rec, saturation=0, format="jpeg")
    photo = r.json()
    assert [v["saturation"] for v in photo["versions"]] == [1.5, 0]
    old, new = photo["versions"]
    assert r.headers["location"] == new["url"] and photo["favorite"] == new["id"] and new["favorite"]
    assert not old["favorite"] and new["result_format"] == "JPEG" and old["result_format"] == "PNG"
    for v in (old, new):
        assert v["model_name"] == tiny_weights.name and v["model_sha256"] == sha256_of(tiny_weights)
    # The photo's own result and settings are the favourite's; each version keeps its own file.
    assert photo["saturation"] == 0 and photo["result_format"] == "JPEG"
    assert client.get(old["result_url"]).content == first
    assert size_of(client.get(new["result_url"]).content) == (40, 30)
    assert client.get(photo["result_url"]).content == client.get(new["result_url"]).content
    listed = client.get(photo["versions_url"]).json()
    assert listed["favorite"] == new["id"] and [v["id"] for v in listed["versions"]] == [old["id"], new["id"]]
    assert client.get(rec["url"]).json()["versions"] == photo["versions"]


def test_favourite_is_used_by_album_and_downloads(client):
    rec = add(client)
    rerun(client, rec, saturation=0)
    old = client.get(rec["url"]).json()["versions"][0]
    r = client.patch(rec["url"], json={"favorite": old["id"]})
    assert r.status_code == 200 and r.json()["favorite"] == old["id"]
    assert client.get(rec["result_url"]).content == client.get(old["result_url"]).content
    assert client.get(rec["thumbnail_url"]).content == client.get(old["thumbnail_url"]).content
    listing = client.get("/api/photos").json()["photos"][0]
    assert listing["favorite"] == old["id"] and listing["saturation"] == old["saturation"]
    album = client.get("/album", headers=HTML).text
    assert f"/api/photos/{rec['id']}/thumbnail?v={old['id']}" in album
    assert client.patch(rec["url"], json={"favorite": "deadbeef"}).status_code == 404
    assert client.get(rec["url"]).json()["favorite"] == old["id"]


def test_delete_a_version_but_never_the_last(client):
    rec = add(client)
    rerun(client, rec, saturation=0)
    rerun(client, rec, saturation=0.5)
    v1, v2, v3 = client.get(rec["url"]).json()["versions"]
    folder = client.app.state.runtime.storage.photos / rec["id"]
    assert client.delete(v3["url"]).status_code == 204  # the favourite: it passes to the newest left
    photo = client.get(rec["url"]).json()
    assert photo["favorite"] == v2["id"] and [v["id"] for v in photo["versions"]] == [v1["id"], v2["id"]]
    assert not (folder / v3["result_file"]).exists() and client.get(v3["result_url"]).status_code == 404
    assert client.delete(v1["url"]).status_code == 204
    r = client.delete(v2["url"])
    assert r.status_code == 409 and r.json()["error"] == "last_version" and "only version" in r.json()["message"]
    assert client.get(v2["result_url"]).status_code == 200
    assert client.delete(f"{rec['url']}/versions/nothere").status_code == 404
    names = sorted(p.name for p in folder.iterdir())
    previews = [f"preview-original-{s}.jpg" for s in (1920, 480, 960)] + [
        f"preview-{v2['id']}-{s}.jpg" for s in (1920, 960)
    ]
    assert names == sorted(["original.png", v2["result_file"], f"thumb-{v2['id']}.jpg", *previews])


def test_unknown_photo_or_version_is_404(client):
    rec = add(client)
    ghost = "A" * 24
    for url in (f"/api/photos/{ghost}/versions", f"{rec['url']}/versions/nope/result", f"/api/photos/{ghost}/rerun"):
        r = client.post(url) if url.endswith("rerun") else client.get(url)
        assert r.status_code == 404 and r.json()["error"] == "not_found", url


def test_openapi_documents_versions(client):
    paths = client.get("/openapi.json").json()["paths"]
    rerun_doc = paths["/api/photos/{photo_id}/rerun"]["post"]
    assert "adds a version" in rerun_doc["summary"] and "201" in rerun_doc["responses"]
    assert "get" in paths["/api/photos/{photo_id}/versions"]
    assert "delete" in paths["/api/photos/{photo_id}/versions/{version_id}"]
    assert "409" in paths["/api/photos/{photo_id}/versions/{version_id}"]["delete"]["responses"]
    assert "favorite" in client.get("/openapi.json").json()["components"]["schemas"]["PhotoChange"]["properties"]


def test_photo_page_switches_versions_and_marks_favourite(client):
    rec = add(client)
    page = client.get(rec["page_url"], headers=HTML).text
    assert "Versions (" not in page  # one version: nothing to switch
    rerun(client, rec, saturation=0)
    v1, v2 = client.get(rec["url"]).json()["versions"]
    page = client.get(rec["page_url"], headers=HTML).text
    assert "Versions (2)" in page and f"/versions/{v2['id']}/preview/960" in page  # the favourite is shown
    page = client.get(rec["page_url"], params={"v": v1["id"]}, headers=HTML).text
    assert f'src="/api/photos/{rec["id"]}/versions/{v1["id"]}/preview/960"' in page
    assert f"/versions/{v1['id']}/result?download=true" in page
    r = client.post(f"/photos/{rec['id']}/versions/{v1['id']}/favorite", follow_redirects=False)
    assert r.status_code == 303 and client.get(rec["url"]).json()["favorite"] == v1["id"]
    r = client.post(f"/photos/{rec['id']}/versions/{v2['id']}/delete", follow_redirects=False)
    assert r.status_code == 303 and len(client.get(rec["url"]).json()["versions"]) == 1
    r = client.post(f"/photos/{rec['id']}/versions/{v1['id']}/delete", headers=HTML)
    assert r.status_code == 409 and "only version" in r.text


OLD_ALBUM = """CREATE TABLE photos (
    id TEXT PRIMARY KEY, created REAL NOT NULL, name TEXT NOT NULL,
    original_file TEXT NOT NULL, original_format TEXT NOT NULL, original_bytes INTEGER NOT NULL,
    result_file TEXT NOT NULL, result_format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    render_size INTEGER, policy TEXT NOT NULL, saturation REAL NOT NULL,
    caption_who TEXT NOT NULL DEFAULT '', caption_where TEXT NOT NULL DEFAULT '',
    caption_when TEXT NOT NULL DEFAULT '');
CREATE INDEX photos_created ON photos (created DESC);"""


def test_an_album_from_before_versions_is_upgraded_in_place(tmp_path, tiny_weights):
    data = tmp_path / "d"
    pid = "P" * 24
    folder = data / "photos" / pid
    folder.mkdir(parents=True)
    scan, result = image_bytes(20, 10), image_bytes(20, 10, mode="RGB")
    (folder / "original.png").write_bytes(scan)
    (folder / "result-0a1b2c3d.png").write_bytes(result)
    (folder / "thumb-0a1b2c3d.jpg").write_bytes(image_bytes(20, 10, fmt="JPEG"))
    db = sqlite3.connect(data / "heirloom.sqlite3")  # as the release with captions left it (user_version 0)
    db.executescript(OLD_ALBUM)
    db.execute(
        "INSERT INTO photos VALUES (?, 5.0, 'rose.png', 'original.png', 'PNG', ?, 'result-0a1b2c3d.png', 'PNG', "
        "20, 10, 32, 'stretch', 0.75, 'Rose', '', '')",
        (pid, len(scan)),
    )
    db.commit()
    db.close()
    with client_for(settings_for(data, tiny_weights)) as c:
        photo = c.get(f"/api/photos/{pid}").json()
        assert photo["favorite"] == "0a1b2c3d" and photo["caption"]["who"] == "Rose"
        (v,) = photo["versions"]
        assert (v["policy"], v["saturation"], v["render_size"], v["model_name"]) == ("stretch", 0.75, 32, "")
        assert c.get(photo["result_url"]).content == result and c.get(photo["original_url"]).content == scan
        again = rerun(c, photo, saturation=0).json()
        assert len(again["versions"]) == 2 and again["versions"][1]["model_name"] == tiny_weights.name
        page = c.get(f"/photos/{pid}", headers=HTML).text
        assert "model not recorded" in page and f"model {tiny_weights.name}" in page
    db = sqlite3.connect(data / "heirloom.sqlite3")
    from app.album.schema import VERSION

    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert "result_file" not in {r[1] for r in db.execute("PRAGMA table_info(photos)")}
    db.close()


def test_an_album_from_a_newer_heirloom_is_refused(tmp_path):
    import pytest

    from app.album.metadata import PhotoIndex
    from app.album.schema import VERSION, SchemaError

    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(SchemaError, match="newer Heirloom"):
        PhotoIndex(path)
