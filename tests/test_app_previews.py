"""Browser-viewable previews: a photo's page shows JPEG previews of both sides sized for the screen
(`srcset`), made when it was colorized (a TIFF scan too, in one process and through a queue worker alike);
the full files stay for Download; a deleted version takes its previews along."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from app_helpers import image_bytes

HTML = {"accept": "text/html"}


def tiff_scan(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h), 120).save(buf, "TIFF", compression="tiff_lzw")
    return buf.getvalue()


def test_a_tiff_scans_page_shows_jpeg_previews_of_both_sides_and_keeps_the_full_files(client):
    rec = client.post("/api/photos", files={"file": ("scan.tif", tiff_scan(2400, 1600), "image/tiff")}).json()
    page = client.get(f"/photos/{rec['id']}", headers=HTML).text
    srcsets = re.findall(r'srcset="([^"]+)"', page)
    assert len(srcsets) == 2 and "/original/preview/480 480w" in srcsets[1]
    for srcset in srcsets:
        for url, width in re.findall(r"(\S+) (\d+)w", srcset):
            r = client.get(url)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", url
            with Image.open(io.BytesIO(r.content)) as im:
                assert im.format == "JPEG" and im.width == int(width), (url, im.size)
    assert '/original/preview/960"' in page and '/result"' not in page.split('id="compare"')[1].split("</figure>")[0]
    assert client.get(rec["original_url"]).headers["content-type"] == "image/tiff"  # Download: the scan itself
    assert client.get(f"{rec['url']}/original/preview/777").status_code == 404


def test_versions_have_their_own_previews_and_take_them_along_when_deleted(client):
    rec = client.post("/api/photos", files={"file": ("a.png", image_bytes(1200, 800), "image/png")}).json()
    again = client.post(f"{rec['url']}/rerun", data={"saturation": "0"}).json()
    old, new = again["versions"]
    for v in (old, new):
        assert client.get(f"{v['url']}/preview/960").status_code == 200
    assert client.get(f"{old['url']}/preview/960").content != client.get(f"{new['url']}/preview/960").content
    folder = client.app.state.runtime.storage.photos / rec["id"]
    assert client.delete(new["url"]).status_code == 204
    assert not list(folder.glob(f"preview-{new['id']}-*")) and list(folder.glob(f"preview-{old['id']}-*"))
    assert client.get(f"{new['url']}/preview/960").status_code == 404


def test_a_photo_from_before_previews_shows_its_full_files(client):
    rec = client.post("/api/photos", files={"file": ("a.png", image_bytes(60, 40), "image/png")}).json()
    folder = client.app.state.runtime.storage.photos / rec["id"]
    for f in folder.glob("preview-*"):
        f.unlink()
    page = client.get(f"/photos/{rec['id']}", headers=HTML).text
    assert "srcset" not in page.split('id="compare"')[1].split("</figure>")[0]
    assert f'src="/api/photos/{rec["id"]}/original"' in page


@pytest.mark.parametrize("side", [480, 960, 1920])
def test_preview_sizes_are_the_photos_own_when_it_is_smaller(client, side):
    rec = client.post("/api/photos", files={"file": ("a.png", image_bytes(300, 200), "image/png")}).json()
    with Image.open(io.BytesIO(client.get(f"{rec['url']}/original/preview/{side}").content)) as im:
        assert im.size == ((300, 200) if side >= 300 else (side, round(200 * side / 300)))


def test_album_images_are_both_sides_at_every_size_close_to_a_resize_of_the_full_photo():
    """The album's images of one photo: the right names and sizes (each from the full size, not drifting a pixel
    through the chain of smaller ones), JPEG, gray kept gray, a 16-bit result made 8-bit, the alpha left out, and
    every size as close to one area-averaged straight from the full photo as JPEG allows."""
    import cv2
    import numpy as np

    from app.serving.job_work import album_images
    from model.photo_io import Photo

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1000, 0:2100]
    gray = (np.sin(x / 90) * 80 + 120 + rng.normal(0, 4, x.shape)).clip(0, 255).astype(np.uint8)
    result = np.stack([gray, gray // 2, 255 - gray], -1).astype(np.uint16) * 257  # 16 bits
    thumb, shown = album_images(Photo(gray), Photo(result, alpha=np.full(gray.shape, 65535, np.uint16)))
    files = dict(shown)
    assert set(files) == {"original-480", "original-960", "original-1920", "result-960", "result-1920"}
    for name, data in (*files.items(), ("result-480", thumb)):
        side = int(name.split("-")[1])
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG" and im.size == (side, round(1000 * side / 2100)), name
            assert im.mode == ("L" if name.startswith("original") else "RGB")
            got = np.asarray(im.convert("RGB"), dtype=float)
        full = (result >> 8).astype(np.uint8) if name.startswith("result") else np.stack([gray] * 3, -1)
        direct = cv2.resize(full, im.size, interpolation=cv2.INTER_AREA)
        assert np.abs(got - direct).mean() < 2.0, name
