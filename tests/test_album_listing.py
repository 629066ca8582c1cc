"""The album's order (date added, either way, or caption) and its pages, fast with 2,000 photos."""

from __future__ import annotations

import re
import time

import pytest

from app_helpers import image_bytes

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL
HTML = {"accept": "text/html"}


def add(client, name, w=20, h=20):
    r = client.post("/api/photos", files={"file": (name, image_bytes(w, h), "image/png")})
    assert r.status_code == 201
    return r.json()


def names(client, **params):
    return [p["name"] for p in client.get("/api/photos", params=params).json()["photos"]]


def test_sort_by_date_added_or_caption(client):
    for i, name in enumerate(["first.png", "second.png", "third.png", "fourth.png"]):
        rec = add(client, name, 20 + i)
        if name == "second.png":
            client.patch(rec["url"], json={"who": "Zoe"})
        if name == "third.png":
            client.patch(rec["url"], json={"who": "adam", "where": "Rome"})
    assert names(client) == ["fourth.png", "third.png", "second.png", "first.png"]
    assert names(client, sort="oldest") == ["first.png", "second.png", "third.png", "fourth.png"]
    assert names(client, sort="caption") == ["third.png", "second.png", "first.png", "fourth.png"]
    assert names(client, sort="caption", q="o", limit=1, offset=1) == ["second.png"]
    r = client.get("/api/photos", params={"sort": "size"})
    assert r.status_code == 422 and r.json()["field"] == "sort"
    page = client.get("/album", params={"sort": "caption"}, headers=HTML).text
    assert '<option value="caption" selected>' in page
    shown = re.findall(r'class="tile-name" title="([^"]+)"', page)
    assert shown == ["third.png", "second.png", "first.png", "fourth.png"]


def generate(client, n: int) -> list[str]:
    """n photo rows (and their versions) written straight into the album's database, newest last."""
    index = client.app.state.runtime.storage.index
    db = index._db  # app/album/db.py's connection: SQLite or PostgreSQL, shared with the retention sweep
    ids = [f"gen{i:021d}" for i in range(n)]
    with index._lock, db.transaction():
        db.executemany(
            "INSERT INTO photos (id, created, name, original_file, original_format, original_bytes, width, height,"
            " caption_who, favorite) VALUES (?, ?, ?, 'original.png', 'PNG', 100, 20, 10, ?, 'abcd0123')",
            [(pid, 1e9 + i, f"photo-{i}.png", f"who {n - i:05d}" if i % 2 else "") for i, pid in enumerate(ids)],
        )
        db.executemany(
            "INSERT INTO versions (photo_id, id, created, result_file, result_format, render_size, policy, saturation)"
            " VALUES (?, 'abcd0123', 1e9, 'result-abcd0123.png', 'PNG', NULL, 'pad-reflect', 1.0)",
            [(pid,) for pid in ids],
        )
    return ids


def timed(client, url, **params):
    start = time.perf_counter()
    r = client.get(url, params=params, headers=HTML if not url.startswith("/api") else {})
    assert r.status_code == 200, r.text
    return r, time.perf_counter() - start


def test_pages_are_fast_and_complete_with_2000_photos(client):
    ids = generate(client, 2000)
    seen, slowest = [], 0.0
    for offset in range(0, 2000, 250):
        r, took = timed(client, "/api/photos", limit=250, offset=offset)
        assert r.json()["total"] == 2000
        seen += [p["id"] for p in r.json()["photos"]]
        slowest = max(slowest, took)
    assert seen == ids[::-1]  # every photo once, newest first
    assert slowest < 1.0, f"a page of 250 took {slowest:.2f} s"
    last, took = timed(client, "/album", sort="caption", page=34)
    assert took < 1.0 and "Page 34 of 34" in last.text and 'rel="prev"' in last.text and 'rel="next"' not in last.text
    assert last.text.count('class="tile"') == 2000 - 33 * 60
    first, took = timed(client, "/album")
    assert took < 1.0 and first.text.count('class="tile"') == 60 and "/album?sort=newest&amp;page=2" in first.text
    oldest, _ = timed(client, "/api/photos", sort="oldest", limit=1)
    assert oldest.json()["photos"][0]["id"] == ids[0]
    captioned, _ = timed(client, "/api/photos", sort="caption", limit=2)
    assert [p["caption"]["who"] for p in captioned.json()["photos"]] == ["who 00001", "who 00003"]
