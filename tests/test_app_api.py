"""The REST API end to end with FastAPI's TestClient, a tiny generator and tiny images."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from app_helpers import client_for, image_bytes, png_bomb, settings_for, size_of

pytestmark = pytest.mark.both_databases  # the album tests run on SQLite and on PostgreSQL


def post(client, url, data: bytes, name="scan.png", **fields):
    return client.post(
        url, files={"file": (name, data, "application/octet-stream")}, data={k: str(v) for k, v in fields.items()}
    )


def stored_nothing(client) -> bool:
    rt = client.app.state.runtime
    return rt.storage.count() == 0 and not any(rt.storage.photos.iterdir())


# --- service -------------------------------------------------------------------------------


def test_healthz_reports_loaded_model(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["model_loaded"] is True and r.json()["device"] == "cpu"
    assert r.json()["precision"].startswith(("bfloat16", "float32")), "what the model runs in, and why"


def test_missing_weights_reported_not_crashing(tmp_path):
    with client_for(settings_for(tmp_path / "d", tmp_path / "nope.safetensors")) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["model_loaded"] is False
        assert "nope.safetensors" in r.json()["error"]
        r = post(c, "/colorize", image_bytes())
        assert r.status_code == 503 and r.json()["error"] == "model_unavailable"
        assert c.get("/api/photos").json()["photos"] == []  # the album still works


def test_openapi_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/colorize",
        "/api/photos",
        "/api/photos/{photo_id}",
        "/api/photos/{photo_id}/original",
        "/api/photos/{photo_id}/result",
        "/healthz",
    ):
        assert p in paths
    assert "delete" in paths["/api/photos/{photo_id}"]
    assert client.get("/docs").status_code == 200


# --- POST /colorize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,mode,size", [("PNG", "L", (40, 24)), ("JPEG", "L", (37, 91)), ("WEBP", "RGB", (50, 50)), ("BMP", "L", (9, 13))]
)
def test_colorize_keeps_size_and_format(client, fmt, mode, size):
    r = post(client, "/colorize", image_bytes(*size, fmt=fmt, mode=mode))
    assert r.status_code == 200, r.text
    im = Image.open(io.BytesIO(r.content))
    assert im.size == size and im.format == fmt and im.mode == "RGB"
    assert r.headers["content-type"] == Image.MIME[fmt]
    assert stored_nothing(client)


def test_colorize_options_and_output_format(client):
    r = post(client, "/colorize", image_bytes(33, 20), render_size=64, policy="stretch", saturation=0.5, format="jpeg")
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).format == "JPEG" and size_of(r.content) == (33, 20)


def test_gps_is_stripped_from_results(client):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x010F] = "Camera Maker"
    scan = image_bytes(30, 20, fmt="JPEG", exif=exif)
    assert Image.open(io.BytesIO(scan)).getexif().get_ifd(0x8825)  # the upload has a location
    r = post(client, "/colorize", scan, name="scan.jpg")
    assert not Image.open(io.BytesIO(r.content)).getexif().get_ifd(0x8825)
    rec = post(client, "/api/photos", scan, name="scan.jpg").json()
    result = client.get(rec["result_url"]).content
    assert not Image.open(io.BytesIO(result)).getexif()
    assert client.get(rec["original_url"]).content == scan  # the original is kept exactly


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/colorize", "/api/photos"])
@pytest.mark.parametrize(
    "data,status,code",
    [
        (b"this is not an image at all", 415, "unreadable_image"),
        (image_bytes(64, 64)[:200], 415, "unreadable_image"),  # truncated PNG
        (b"", 415, "unreadable_image"),
        (png_bomb(), 413, "too_large"),  # 10^10 pixels claimed by a tiny file
    ],
)
def test_bad_images_get_clear_errors(client, url, data, status, code):
    r = post(client, url, data)
    assert r.status_code == status and r.json()["error"] == code
    assert r.json()["message"] and "Traceback" not in r.text
    assert stored_nothing(client)


@pytest.mark.parametrize(
    "field,value",
    [
        ("render_size", 20),
        ("render_size", 0),
        ("render_size", "abc"),
        ("render_size", 99999),
        ("policy", "squash"),
        ("saturation", 9),
        ("saturation", "lots"),
        ("format", "gif"),
    ],
)
@pytest.mark.parametrize("url", ["/colorize", "/api/photos"])
def test_bad_options_name_the_field(client, url, field, value):
    r = post(client, url, image_bytes(), **{field: value})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["message"]
    assert stored_nothing(client)


def test_missing_file_is_422(client):
    r = client.post("/api/photos", data={"policy": "stretch"})
    assert r.status_code == 422 and r.json()["field"] == "file"


def test_byte_and_pixel_limits(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights, max_upload_bytes=4000, max_pixels=5000)
    with client_for(s) as c:
        r = post(c, "/api/photos", image_bytes(200, 200)[:4001] + b"\0" * 100_000)  # Content-Length check
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = post(c, "/api/photos", image_bytes(40, 40) + b"\0" * 4000)  # under the slack: counted per file
        assert r.status_code == 413
        flat = io.BytesIO()
        Image.new("L", (100, 80)).save(flat, "PNG")
        r = post(c, "/api/photos", flat.getvalue())  # 8000 px > 5000
        assert r.status_code == 413 and "pixels" in r.json()["message"]
        assert post(c, "/api/photos", image_bytes(40, 40)).status_code == 201
        assert c.app.state.runtime.storage.count() == 1


def test_chunked_upload_over_limit_is_413(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights, max_upload_bytes=1000)) as c:
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
            + b"\0" * 200_000
            + b"\r\n--b--\r\n"
        )
        r = c.post(
            "/api/photos",
            content=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert r.status_code == 413
        assert stored_nothing(c)


# --- the album API ------------------------------------------------------------------------


def test_album_lifecycle(client):
    scan = image_bytes(45, 30, fmt="PNG")
    r = post(client, "/api/photos", scan, name="../../etc/grandma 1952.png", policy="pad-black")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert len(rec["id"]) >= 22 and r.headers["location"] == rec["url"]
    assert rec["name"] == "grandma 1952.png" and (rec["width"], rec["height"]) == (45, 30)
    assert client.get(rec["original_url"]).content == scan
    result = client.get(rec["result_url"])
    assert result.headers["content-type"] == "image/png" and size_of(result.content) == (45, 30)
    dl = client.get(rec["result_url"] + "?download=true")
    assert (
        dl.headers["content-disposition"].startswith("attachment")
        and "grandma%201952-color.png" in dl.headers["content-disposition"]
    )
    assert client.get(rec["thumbnail_url"]).headers["content-type"] == "image/jpeg"
    assert client.get(rec["url"]).json()["policy"] == "pad-black"
    files = {p.name for p in (client.app.state.runtime.storage.photos / rec["id"]).iterdir()}
    assert "grandma" not in " ".join(files)  # upload names never reach the disk

    second = post(client, "/api/photos", image_bytes(20, 20)).json()
    listing = client.get("/api/photos").json()
    assert listing["total"] == 2 and [p["id"] for p in listing["photos"]] == [second["id"], rec["id"]]

    assert client.delete(rec["url"]).status_code == 204
    assert client.get(rec["url"]).status_code == 404
    assert client.get(rec["original_url"]).status_code == 404
    assert client.delete(rec["url"]).status_code == 404
    assert client.get("/api/trash").json()["photos"][0]["id"] == rec["id"]  # restorable: tests/test_app_trash.py


def test_rerun_adds_a_version_and_keeps_original(client):
    scan = image_bytes(40, 30)
    rec = post(client, "/api/photos", scan).json()
    before = client.get(rec["result_url"]).content
    r = client.post(f"{rec['url']}/rerun", data={"saturation": "0", "format": "jpeg"})
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["saturation"] == 0 and again["result_format"] == "JPEG" and again["result_file"] != rec["result_file"]
    after = client.get(again["result_url"]).content
    assert after != before and size_of(after) == (40, 30)
    assert client.get(rec["original_url"]).content == scan
    folder = client.app.state.runtime.storage.photos / rec["id"]
    assert (folder / rec["result_file"]).read_bytes() == before  # the first version stays (tests/test_app_versions.py)


@pytest.mark.parametrize("bad", ["nope", "..%2F..%2Fetc", "a" * 21, "x" * 30])
def test_unknown_or_malformed_ids_are_404(client, bad):
    assert client.get(f"/api/photos/{bad}").status_code == 404
    assert client.get(f"/api/photos/{bad}/original").status_code == 404
    assert client.delete(f"/api/photos/{bad}").status_code == 404


# --- queue, restart, crash recovery --------------------------------------------------------


def test_full_queue_answers_503_with_retry_after(tmp_path, tiny_weights):
    with client_for(settings_for(tmp_path / "d", tiny_weights, workers=1, queue_size=0)) as c:
        pool = c.app.state.runtime.backend.pool
        release = threading.Event()
        busy = pool.submit(release.wait)  # the only worker is now taken
        try:
            for url in ("/colorize", "/api/photos"):
                r = post(c, url, image_bytes())
                assert r.status_code == 503 and r.json()["error"] == "busy"
                assert int(r.headers["retry-after"]) >= 1
        finally:
            release.set()
            busy.result(timeout=5)
        assert stored_nothing(c)
        assert post(c, "/api/photos", image_bytes()).status_code == 201


def test_restart_finds_album_intact(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights)
    scans = [image_bytes(20 + i, 16, fmt="JPEG") for i in range(3)]
    with client_for(s) as c:
        ids = [post(c, "/api/photos", b, name=f"p{i}.jpg").json()["id"] for i, b in enumerate(scans)]
        c.delete(f"/api/photos/{ids[1]}")
    with client_for(s) as c:
        listing = c.get("/api/photos").json()
        assert [p["id"] for p in listing["photos"]] == [ids[2], ids[0]]
        assert c.get(f"/api/photos/{ids[0]}/original").content == scans[0]
        assert size_of(c.get(f"/api/photos/{ids[2]}/result").content) == (22, 16)


def test_start_up_sweeps_what_a_crash_left(tmp_path, tiny_weights):
    s = settings_for(tmp_path / "d", tiny_weights)
    with client_for(s) as c:
        keep = post(c, "/api/photos", image_bytes()).json()["id"]
    photos = tmp_path / "d" / "photos"
    (photos / ("A" * 24)).mkdir()  # a folder renamed in but never recorded
    (photos / "orphan-folder-without-record").mkdir()
    (tmp_path / "d" / "tmp" / "half-written").write_bytes(b"\0" * 10)
    with client_for(s) as c:
        assert sorted(p.name for p in photos.iterdir()) == [keep]
        assert not any((tmp_path / "d" / "tmp").iterdir())
        assert c.get(f"/api/photos/{keep}/result").status_code == 200


def test_failed_write_leaves_no_record(tmp_path, tiny_weights, monkeypatch):
    with client_for(settings_for(tmp_path / "d", tiny_weights), raise_server_exceptions=False) as c:
        index = c.app.state.runtime.storage.index
        monkeypatch.setattr(index, "insert", lambda rec: (_ for _ in ()).throw(OSError("disk full")))
        r = post(c, "/api/photos", image_bytes())
        assert r.status_code == 500 and "Traceback" not in r.text and r.json()["error"] == "internal"
        assert stored_nothing(c)


def test_openapi_enums_come_from_the_tables(client):
    from model.formats import CHOICES
    from model.options import POLICIES

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    body = next(v for k, v in schema.items() if k.startswith("Body_colorize"))["properties"]
    assert body["format"]["enum"] == list(CHOICES) and body["policy"]["enum"] == list(POLICIES)


@pytest.mark.parametrize("fmt,ext", [("tiff", "tif"), ("bmp", "bmp"), ("webp", "webp"), ("jpeg", "jpg")])
def test_every_writable_format_can_be_asked_for(client, fmt, ext):
    r = post(client, "/colorize", image_bytes(21, 13), format=fmt)
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).format == fmt.upper()
    assert r.headers["content-disposition"].endswith(f'colorized.{ext}"')
