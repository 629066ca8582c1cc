"""Batches (several photos chosen together: a gallery page with each one's status) and ZIP downloads of a
batch, a selection or the whole album; every file in an archive has its upload's pixel size."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from app_helpers import image_bytes, size_of

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL

HTML = {"accept": "text/html"}
SIZES = [(40, 30), (23, 31), (50, 20)]


def add(client, w, h, name="scan.png", **fields):
    files = {"file": (name, image_bytes(w, h), "image/png")}
    return client.post("/api/photos", files=files, data={k: str(v) for k, v in fields.items()})


def unzip(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.testzip() is None
        return {n: zf.read(n) for n in zf.namelist()}


def test_batch_records_each_photo_and_its_zip_keeps_sizes(client):
    names = ["a.png", "b.png", "notes.txt", "c.png"]
    r = client.post("/api/batches", json={"names": names})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert r.headers["location"] == batch["url"] and batch["waiting"] == 4 and batch["done"] == 0
    for i, (w, h) in enumerate(SIZES[:2]):
        assert add(client, w, h, names[i], batch=batch["id"], position=i).status_code == 201
    files = {"file": ("notes.txt", b"hello", "text/plain")}
    bad = client.post("/api/photos", files=files, data={"batch": batch["id"], "position": "2"})
    assert bad.status_code == 415
    now = client.get(batch["url"]).json()
    assert [i["status"] for i in now["items"]] == ["done", "done", "failed", "waiting"]
    assert now["items"][2]["error"] == bad.json()["message"]
    page = client.get(batch["page_url"], headers=HTML).text
    assert bad.json()["message"] in page and "Waiting" in page and 'href="/album"' in page
    assert 'data-poll="' in page  # the page refreshes itself while a photo is still working
    assert "<strong>2 of 4 done</strong>, 1 failed, 1 still working…" in page
    for item in now["items"][:2]:
        p = item["photo"]
        assert f'href="{p["page_url"]}"' in page and "(before: the scan)" in page and "(colorized)" in page
        assert f'src="{item["before_url"]}"' in page  # the real scan (a sepia print shows sepia), not a gray CSS copy
        assert client.get(item["before_url"]).headers["content-type"] == "image/jpeg"
    assert page.count("<figcaption>Before</figcaption>") == page.count("<figcaption>After</figcaption>") == 2
    assert add(client, *SIZES[2], "c.png", batch=batch["id"], position=3).status_code == 201

    got = client.get(batch["zip_url"])
    day = time.strftime("%Y-%m-%d", time.gmtime(batch["created"]))
    assert f'filename="heirloom-a-and-2-more-{day}.zip"' in got.headers["content-disposition"]
    archive = unzip(got)
    assert sorted(archive) == ["a-color.png", "b-color.png", "c-color.png"]
    for name, size in zip(["a", "b", "c"], SIZES):
        assert size_of(archive[f"{name}-color.png"]) == size
    with_originals = unzip(client.get(batch["zip_url"], params={"originals": "true"}))
    for name, size in zip(["a", "b", "c"], SIZES):
        assert with_originals[f"originals/{name}.png"] == image_bytes(*size)  # byte for byte
    assert 'data-poll="' not in client.get(batch["page_url"], headers=HTML).text
    assert not list(client.app.state.runtime.storage.tmp.iterdir())  # each archive is removed once sent


def test_album_zip_of_a_selection_or_everything(client):
    ids = [add(client, w, h).json()["id"] for w, h in SIZES]  # three uploads all named scan.png
    client.patch(f"/api/photos/{ids[0]}", json={"who": "Grandma Rose", "when": "1952"})
    got = client.get("/api/album.zip", params={"id": [ids[0], ids[2], ids[0]]})
    assert "heirloom-grandma-rose-1952-and-1-more-" in got.headers["content-disposition"]
    picked = unzip(got)
    assert sorted(picked) == ["scan-color (2).png", "scan-color.png"]
    assert sorted(size_of(d) for d in picked.values()) == sorted([SIZES[0], SIZES[2]])
    whole = client.get("/api/album.zip", params={"all": "true", "originals": "true"})
    assert f"heirloom-album-{time.strftime('%Y-%m-%d', time.gmtime())}.zip" in whole.headers["content-disposition"]
    everything = unzip(whole)
    results = [d for n, d in everything.items() if not n.startswith("originals/")]
    originals = [d for n, d in everything.items() if n.startswith("originals/")]
    assert sorted(size_of(d) for d in results) == sorted(SIZES) == sorted(size_of(d) for d in originals)
    album = client.get("/album", headers=HTML).text
    assert 'action="/api/album.zip"' in album and album.count('form="zip-form"') == 3


def test_zip_and_batch_bad_inputs_are_clear_4xx(client):
    r = client.get("/api/album.zip")
    assert r.status_code == 422 and r.json()["field"] == "id"
    assert client.get("/api/album.zip", params={"all": "true"}).status_code == 404  # empty album
    r = client.get("/api/album.zip", params={"id": "A" * 24})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client.post("/api/batches", json={"names": []}).status_code == 422
    assert client.post("/api/batches", json={"names": ["x"] * 501}).json()["field"] == "names"
    assert client.get(f"/api/batches/{'B' * 24}").status_code == 404
    assert client.get("/batches/nope", headers=HTML).status_code == 404
    batch = client.post("/api/batches", json={"names": ["a.png"]}).json()
    r = add(client, 20, 20, batch=batch["id"], position=1)
    assert r.status_code == 422 and r.json()["field"] == "position"
    assert add(client, 20, 20, batch="B" * 24, position=0).status_code == 404
    assert client.app.state.runtime.storage.count() == 0  # refused before any work
    assert client.get(batch["zip_url"]).status_code == 404  # nothing stored in it yet


def test_several_files_without_js_make_a_batch(client):
    files = [
        ("file", ("a.png", image_bytes(20, 20), "image/png")),
        ("file", ("bad.png", b"not a png", "image/png")),
        ("file", ("b.png", image_bytes(24, 20), "image/png")),
    ]
    r = client.post("/photos", files=files, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/batches/")
    batch = client.get("/api" + r.headers["location"]).json()
    assert [i["status"] for i in batch["items"]] == ["done", "failed", "done"]  # one failure stops nothing
    assert client.app.state.runtime.storage.count() == 2


def test_a_batch_settles_with_files_declared_missing_by_the_page_or_by_time(client):
    """The one rule: settled when each file arrived and finished or was declared missing — by the page (files it
    could not send) or by the server (not received 10 minutes after the batch last moved)."""
    from app.album.batch_index import MISSING_AFTER_S

    batch = client.post("/api/batches", json={"names": ["a.png", "b.png", "c.png", "d.png"]}).json()
    assert add(client, 30, 20, "a.png", batch=batch["id"], position=0).status_code == 201
    r = client.post(f"{batch['url']}/missing", json={"positions": [1, 0]})  # 0 arrived: left alone
    assert r.status_code == 200, r.text
    now = r.json()
    assert [i["status"] for i in now["items"]] == ["done", "missing", "waiting", "waiting"]
    assert not now["settled"] and now["missing"] == 1
    # A file declared missing that arrives after all is kept.
    assert add(client, 30, 20, "b.png", batch=batch["id"], position=1).status_code == 201
    assert client.get(batch["url"]).json()["items"][1]["status"] == "done"
    page = client.get(batch["page_url"], headers=HTML).text
    assert "data-poll" in page and "not received" not in page
    # Ten minutes without any activity: the server declares the rest missing; the page stops watching.
    storage = client.app.state.runtime.storage
    with storage.writing():
        storage.index._db.execute(
            "UPDATE batches SET active = ? WHERE id = ?", (time.time() - MISSING_AFTER_S - 1, batch["id"])
        )
    settled = client.get(batch["url"]).json()
    assert settled["settled"] and settled["missing"] == 2 and settled["done"] == 2
    page = client.get(batch["page_url"], headers=HTML).text
    assert "2 were not received" in page and "add them again" in page and "data-poll" not in page
    listed = client.get("/batches", headers=HTML).text
    assert batch["page_url"] in listed and "2 of 4 done, 2 not received" in listed
    assert client.post(f"{batch['url']}/missing", json={"positions": [9]}).status_code == 422


def test_an_upload_repeated_with_its_idempotency_key_gets_the_first_answer(client):
    files = {"file": ("rose.png", image_bytes(30, 20), "image/png")}
    key = {"Idempotency-Key": "3f2a8c1e-0d4b-4c1a-9e7f-5b6d7c8e9f01"}
    first = client.post("/api/photos", files=files, headers=key)
    again = client.post("/api/photos", files=files, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replay"] == "true"
    assert client.get("/api/photos").json()["total"] == 1
    other = client.post("/api/photos", files=files, headers={"Idempotency-Key": "another-key-0001"})
    assert other.json()["id"] != first.json()["id"] and client.get("/api/photos").json()["total"] == 2
    bad = {"file": ("notes.txt", b"hello", "text/plain")}
    refused = client.post("/api/photos", files=bad, headers={"Idempotency-Key": "bad-upload-0001"})
    assert refused.status_code == 415
    assert (
        client.post("/api/photos", files=bad, headers={"Idempotency-Key": "bad-upload-0001"}).json() == refused.json()
    )
    short = client.post("/api/photos", files=files, headers={"Idempotency-Key": "x"})
    assert short.status_code == 422 and short.json()["field"] == "Idempotency-Key"


@pytest.mark.slow  # a real server process: the client must be able to go away mid-request
def test_an_upload_that_arrived_is_finished_though_its_client_has_gone(tmp_path, tiny_weights):
    import socket
    import urllib.request

    from browser_helpers import running_server

    body_file = image_bytes(300, 200)
    boundary = "heirloom-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="gone.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + body_file
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with running_server(tmp_path / "data", tiny_weights) as url:
        host, port = url.removeprefix("http://").split(":")
        head = (
            f"POST /api/photos HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection((host, int(port))) as s:
            s.sendall(head + body)  # all of it arrives, then the browser goes away (a refresh) unanswered
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(url + "/api/photos") as r:
                total = json.loads(r.read())["total"]
            if total or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert total == 1, "the photo that reached the server is in the album"
