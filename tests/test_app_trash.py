"""The trash: delete moves a photo there for 30 days; restore, delete for good, empty, purge of older ones."""

from __future__ import annotations

import time

import pytest

from app.album import trash

from app_helpers import client_for, image_bytes, settings_for

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL

HTML = {"accept": "text/html"}
DAY = 86400


def add(client, w=30, h=20, name="scan.png"):
    r = client.post("/api/photos", files={"file": (name, image_bytes(w, h), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()


def test_delete_moves_to_trash_and_restore_brings_it_back(client):
    rec, other = add(client, name="rose.png"), add(client, 20, 20)
    result = client.get(rec["result_url"]).content
    assert client.delete(rec["url"]).status_code == 204
    assert client.get(rec["url"]).status_code == 404 and client.get(rec["result_url"]).status_code == 404
    album = client.get("/api/photos").json()
    assert album["total"] == 1 and [p["id"] for p in album["photos"]] == [other["id"]]
    assert client.get("/api/photos", params={"q": "rose"}).json()["total"] == 0
    assert client.get("/api/album.zip", params={"id": rec["id"]}).status_code == 404
    listed = client.get("/api/trash").json()
    assert listed["days"] == 30 and listed["total"] == 1
    (t,) = listed["photos"]
    assert t["id"] == rec["id"] and abs(t["deleted"] - time.time()) < 60 and t["purge_at"] == t["deleted"] + 30 * DAY
    assert client.get(t["thumbnail_url"]).headers["content-type"] == "image/jpeg"
    r = client.post(t["restore_url"])
    assert r.status_code == 200 and r.json()["id"] == rec["id"]
    assert client.get(rec["result_url"]).content == result and client.get("/api/photos").json()["total"] == 2
    assert client.get("/api/trash").json()["total"] == 0


def test_delete_for_good_and_empty_the_trash(client):
    storage = client.app.state.runtime.storage
    a, b, c = add(client), add(client, 21, 20), add(client, 22, 20)
    for rec in (a, b, c):
        client.delete(rec["url"])
    assert client.delete(f"/api/trash/{a['id']}").status_code == 204
    assert not (storage.photos / a["id"]).exists() and client.post(f"/api/trash/{a['id']}/restore").status_code == 404
    r = client.delete("/api/trash")
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    assert not any(storage.photos.iterdir()) and client.get("/api/trash").json()["total"] == 0


def test_photos_older_than_30_days_are_purged(tmp_path, tiny_weights):
    data = tmp_path / "d"
    with client_for(settings_for(data, tiny_weights)) as c:
        storage = c.app.state.runtime.storage
        old, recent, kept = add(c), add(c, 21, 20), add(c, 22, 20)
        trash.move_to_trash(storage, old["id"], now=time.time() - 29 * DAY)
        trash.move_to_trash(storage, recent["id"], now=time.time() - 2 * DAY)
        assert trash.purge(storage, now=time.time() + 1.5 * DAY) == 1  # `old` is now 30.5 days in the trash
        assert [p["id"] for p in c.get("/api/trash").json()["photos"]] == [recent["id"]]
        assert not (storage.photos / old["id"]).exists() and (storage.photos / recent["id"]).exists()
        storage.index.trash(kept["id"], time.time() - 31 * DAY)  # as if the server was off for a month
    with client_for(settings_for(data, tiny_weights)) as c:  # start-up purges it
        assert [p["id"] for p in c.get("/api/trash").json()["photos"]] == [recent["id"]]
        assert not (c.app.state.runtime.storage.photos / kept["id"]).exists()


def test_a_photo_in_the_trash_cannot_be_changed(client):
    rec = add(client)
    assert client.post(f"{rec['url']}/rerun", data={"saturation": "0"}).status_code == 201
    old, new = client.get(rec["url"]).json()["versions"]
    client.delete(rec["url"])
    for r in (
        client.patch(rec["url"], json={"favorite": old["id"]}),
        client.patch(rec["url"], json={"who": "x"}),
        client.delete(new["url"]),
        client.post(f"{rec['url']}/rerun"),
    ):
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    restored = client.post(f"/api/trash/{rec['id']}/restore").json()
    assert restored["favorite"] == new["id"] and restored["caption"]["who"] == ""


def test_only_trashed_photos_are_restored_or_deleted_for_good(client):
    rec = add(client)
    assert client.post(f"/api/trash/{rec['id']}/restore").status_code == 404
    r = client.delete(f"/api/trash/{rec['id']}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client.get(rec["url"]).status_code == 200  # untouched
    assert client.delete("/api/trash/..%2Fx").status_code == 404
    assert client.get(f"/api/trash/{rec['id']}/thumbnail").status_code == 404


def test_trash_page_restores_and_deletes(client):
    a, b = add(client, name="a.png"), add(client, 21, 20, name="b.png")
    assert "The trash is empty" in client.get("/trash", headers=HTML).text
    for rec in (a, b):
        r = client.post(f"/photos/{rec['id']}/delete", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/album?deleted={rec['id']}"
    page = client.get("/trash", headers=HTML).text
    assert "Trash <small>(2)</small>" in page and "30 days" in page and "a.png" in page and "b.png" in page
    assert client.post(f"/trash/{a['id']}/restore", follow_redirects=False).headers["location"] == "/trash"
    assert client.get(a["url"]).status_code == 200
    assert client.post(f"/trash/{b['id']}/delete", follow_redirects=False).status_code == 303
    assert client.get("/api/trash").json()["total"] == 0
    client.delete(a["url"])
    assert client.post("/trash/empty", follow_redirects=False).status_code == 303
    assert client.get("/api/trash").json()["total"] == 0 and 'href="/trash"' in client.get("/album", headers=HTML).text


def test_a_delete_says_moved_to_the_trash_with_undo_and_the_old_link_offers_restore(client):
    rec = add(client, name="rose.png")
    client.patch(rec["url"], json={"who": "Grandma Rose"})
    page = client.get(f"/photos/{rec['id']}", headers=HTML)
    assert page.headers["cache-control"] == "no-store"  # Back after the delete asks the server again
    r = client.post(f"/photos/{rec['id']}/delete")  # followed: the album, saying so
    assert r.status_code == 200 and r.url.path == "/album"
    assert "“Grandma Rose” moved to the trash." in r.text and f'action="/trash/{rec["id"]}/restore"' in r.text
    assert "moved to the trash" not in client.get("/album", headers=HTML).text
    assert "moved to the trash" not in client.get("/album?deleted=nosuchphoto000000000000", headers=HTML).text
    old = client.get(f"/photos/{rec['id']}", headers=HTML)  # the old link
    assert old.status_code == 200 and "This photo is in the trash" in old.text and "Restore it" in old.text
    assert old.headers["cache-control"] == "no-store"
    undo = client.post(f"/trash/{rec['id']}/restore", data={"to": "photo"}, follow_redirects=False)
    assert undo.status_code == 303 and undo.headers["location"] == f"/photos/{rec['id']}"
    assert "Caption" in client.get(f"/photos/{rec['id']}", headers=HTML).text
    assert client.get("/photos/nosuchphoto000000000000", headers=HTML).status_code == 404
