"""Every page in a real browser: axe-core finds no accessibility problem of any impact (home, login, photo,
album, batch, batches, trash, about, a trashed photo's page, /docs); on a 390×844 phone errors show without
scrolling; the photo page shows the slider and the Download button in one screen on a 1366×900 laptop and on
the phone, for wide and tall photos. With HEIRLOOM_SCREENSHOTS=1 it saves docs/<page>-<desktop|phone>.png
(otherwise nothing in the repository)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from browser_helpers import ARGS, CHROMIUM, DOCS, SCREENSHOTS, axe_violations, make_scan, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
TOKEN = "browser-test-token-1234"
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def album(tmp_path, tiny_weights):
    """A token-protected server whose album holds a batch of a wide and a tall photo, the wide one with two
    versions and a caption. -> (base URL, {"wide": id, "tall": id, "batch": id})."""
    with running_server(tmp_path / "data", tiny_weights, HEIRLOOM_TOKEN=TOKEN) as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        batch = api.post("/api/batches", json={"names": ["wide.jpg", "tall.jpg"]}).json()
        ids = {"batch": batch["id"]}
        for position, (name, size) in enumerate([("wide", (600, 400)), ("tall", (300, 600))]):
            scan = make_scan(tmp_path / f"{name}.jpg", size).read_bytes()
            files = {"file": (f"{name}.jpg", scan, "image/jpeg")}
            r = api.post("/api/photos", files=files, data={"batch": batch["id"], "position": str(position)})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
        assert api.post(f"/api/photos/{ids['wide']}/rerun", data={"saturation": "0.5"}).status_code == 201
        api.patch(f"/api/photos/{ids['wide']}", json={"who": "Grandma Rose", "where": "Lake Garda"})
        long = {"who": "Great-grandmother Rosalind Whitcombe and her three sisters", "where": "Lake Garda, Italy"}
        api.patch(f"/api/photos/{ids['tall']}", json={**long, "when": "Summer 1952"})  # a caption of two lines
        yield url, ids


def log_in(page, url, token=TOKEN):
    page.goto(url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")


def in_view(page, selector) -> bool:
    """Wholly inside the window as the page stands (no scrolling done by the test)."""
    box = page.locator(selector).first.bounding_box()
    view = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= view["height"]


def swipe_scrolls_and_sideways_drag_moves_the_divider(page) -> None:
    """On a touch screen: a vertical swipe on the picture scrolls the page and leaves the divider; a sideways
    drag moves it (touch events as Chromium's input pipeline gets them, through the DevTools protocol)."""
    assert page.evaluate("getComputedStyle(document.getElementById('compare')).touchAction") != "none"
    assert not page.evaluate(
        "[...document.querySelectorAll('*')].some((e) => getComputedStyle(e).touchAction === 'none')"
    ), "no element of the photo page may refuse the finger"
    cdp = page.context.new_cdp_session(page)

    def swipe(x: float, y: float, dx: float, dy: float) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for i in range(1, 11):
            point = {"x": x + dx * i / 10, "y": y + dy * i / 10}
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_timeout(200)

    box = page.locator("#compare").bounding_box()
    before = page.input_value("#slider")
    swipe(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, 0, -150)
    assert page.evaluate("window.scrollY") > 50 and page.input_value("#slider") == before
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator("#compare").bounding_box()
    swipe(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5, -box["width"] * 0.5, 0)
    assert abs(int(page.input_value("#slider")) - 30) <= 5, page.input_value("#slider")
    page.evaluate("window.scrollTo(0, 0)")


def test_no_serious_accessibility_problems(album):
    from playwright.sync_api import sync_playwright

    url, ids = album
    pages = {
        "home": "/",
        "photo": f"/photos/{ids['wide']}",
        "album": "/album",
        "batch": f"/batches/{ids['batch']}",
        "trash": "/trash",
        "about": "/about",
        "batches": "/batches",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for viewport in (DESKTOP, PHONE):
                page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
                page.goto(url + "/login")
                assert axe_violations(page) == [], "login"
                log_in(page, url, "wrong-token-000000")
                page.wait_for_selector(".error")
                assert axe_violations(page) == [], "login with an error"
                log_in(page, url)
                for name, path in pages.items():
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    assert axe_violations(page) == [], name
        finally:
            browser.close()


def test_phone_and_laptop_screens(album, tmp_path):
    from playwright.sync_api import sync_playwright

    url, ids = album
    shots = DOCS if SCREENSHOTS else tmp_path
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a photo at all")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for kind, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                phone = kind == "phone"
                page = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone).new_page()
                log_in(page, url, "wrong-token-000000")
                page.wait_for_selector(".error")
                assert in_view(page, ".error"), f"login error out of view ({kind})"
                log_in(page, url)

                page.goto(url + "/")
                page.screenshot(path=str(shots / f"home-{kind}.png"))
                page.set_input_files("#file", str(bad))
                page.wait_for_selector(".progress-list .failed")
                page.wait_for_timeout(800)  # the smooth scroll
                assert in_view(page, ".progress-list .failed"), f"upload error out of view ({kind})"

                for which in ("wide", "tall"):
                    page.goto(url + f"/photos/{ids[which]}")
                    page.wait_for_function("document.querySelector('img.after').complete")
                    for selector in ("#compare", "#slider", "#download-result"):
                        assert in_view(page, selector), f"{selector} out of view: {which} photo, {kind}"
                    if which == "wide":
                        page.screenshot(path=str(shots / f"photo-{kind}.png"))
                    if phone:
                        swipe_scrolls_and_sideways_drag_moves_the_divider(page)

                for name, path in (("batch", f"/batches/{ids['batch']}"), ("album", "/album")):
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(shots / f"{name}-{kind}.png"))
                ticked = page.locator("#zip-form button:not([name])")  # the album, last shown
                assert ticked.is_disabled()
                page.locator('input[name="id"]').first.check()
                assert ticked.is_enabled()
        finally:
            browser.close()


def test_delete_says_undo_and_back_finds_the_photo_in_the_trash(album):
    from playwright.sync_api import sync_playwright

    url, ids = album
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
            log_in(page, url)
            page.goto(url + f"/photos/{ids['tall']}")
            page.get_by_role("button", name="Delete", exact=True).click()
            page.wait_for_url("**/album*")
            toast = page.locator("#deleted-toast")
            assert toast.is_visible() and "moved to the trash" in toast.inner_text()
            assert "deleted=" not in page.url, "a reload does not say it again"
            assert axe_violations(page) == [], "album with its toast"
            page.go_back()  # the photo's page again: it says where the photo is
            assert page.get_by_text("This photo is in the trash").is_visible()
            assert axe_violations(page) == [], "a trashed photo's page"
            page.go_forward()
            page.goto(url + f"/photos/{ids['tall']}")
            page.get_by_role("button", name="Restore it").click()
            page.wait_for_url(f"**/photos/{ids['tall']}")
            assert page.locator("#compare").is_visible()
            page.get_by_role("button", name="Delete", exact=True).click()
            page.wait_for_url("**/album*")
            page.get_by_role("button", name="Undo").click()
            page.wait_for_url(f"**/photos/{ids['tall']}")
            assert page.locator("#compare").is_visible()
        finally:
            browser.close()


def test_tiff_and_heic_scans_show_both_sides_and_a_big_scans_page_stays_light(tmp_path, tiny_weights):
    """An LZW TIFF and an iPhone-style HEIC show before and after in the viewer (JPEG previews); the page of a
    4000x3082 scan loads at most 600 KB of response bodies on a 1366x900 laptop before any download."""
    import io

    import pillow_heif
    from PIL import Image
    from playwright.sync_api import sync_playwright

    pillow_heif.register_heif_opener()
    scans = {}
    big = make_scan(tmp_path / "big.jpg", (4000, 3082))
    with Image.open(big) as im:
        for name, fmt, extra in (("lzw.tif", "TIFF", {"compression": "tiff_lzw"}), ("phone.heic", "HEIF", {})):
            buf = io.BytesIO()
            im.resize((1200, 924)).convert("RGB").save(buf, fmt, **extra)
            scans[name] = buf.getvalue()
    with Image.open(big) as im:  # film grain, as a real 12-MP scan: ~5 MB, not a smooth 200 KB
        import numpy as np

        grain = np.random.default_rng(0).normal(0, 14, (3082, 4000))
        noisy = Image.fromarray(np.clip(np.asarray(im.convert("L"), float) + grain, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        noisy.save(buf, "JPEG", quality=95)
        scans["big.jpg"] = buf.getvalue()
    assert len(scans["big.jpg"]) > 3_000_000
    with running_server(tmp_path / "data", tiny_weights) as url:
        ids = {}
        for name, data in scans.items():
            r = httpx.post(url + "/api/photos", files={"file": (name, data, "application/octet-stream")}, timeout=120)
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_context(viewport=DESKTOP).new_page()
                for name in ("lzw.tif", "phone.heic"):
                    page.goto(url + f"/photos/{ids[name]}")
                    page.wait_for_load_state("networkidle")
                    shown = page.evaluate(
                        "[...document.querySelectorAll('#compare img')].map((i) => i.complete && i.naturalWidth)"
                    )
                    assert len(shown) == 2 and all(w and w > 100 for w in shown), (name, shown)
                sizes: list[int] = []

                def count(response) -> None:
                    body = response.body() if response.status == 200 else b""
                    sizes.append(len(body))

                page.on("response", count)
                page.goto(url + f"/photos/{ids['big.jpg']}")
                page.wait_for_load_state("networkidle")
                total = sum(sizes)
                assert total <= 600 * 1024, f"{total / 1024:.0f} KB"
            finally:
                browser.close()


def test_the_album_at_family_scale(tmp_path, tiny_weights):
    """61 photos (two pages): at most two Tab stops per tile, the order applies as soon as it is chosen,
    ticks survive paging into the ZIP, and on a phone the first screen shows photos, not only forms."""
    from playwright.sync_api import sync_playwright

    scan = make_scan(tmp_path / "s.jpg", (120, 90)).read_bytes()
    with running_server(tmp_path / "data", tiny_weights) as url:
        api = httpx.Client(base_url=url, timeout=60)
        for i in range(61):
            assert api.post("/api/photos", files={"file": (f"scan{i:02}.jpg", scan, "image/jpeg")}).status_code == 201
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_context(viewport=DESKTOP).new_page()
                page.goto(url + "/album")
                tiles = page.locator("li.tile").count()
                stops = page.evaluate(
                    """() => [...document.querySelectorAll("li.tile")].map((t) =>
                        t.querySelectorAll("a[href], button, input, select, textarea, [tabindex]").length)"""
                )
                assert tiles == 60 and max(stops) <= 2, stops[:3]
                page.select_option("#sort", "oldest")  # no Search press
                page.wait_for_url("**sort=oldest**")
                assert page.locator("li.tile .tile-name").first.inner_text() == "scan00.jpg"
                page.locator("li.tile input[type=checkbox]").nth(0).check()
                page.locator("li.tile input[type=checkbox]").nth(1).check()
                page.get_by_role("link", name="Next page").click()
                page.wait_for_url("**page=2**")
                page.locator("li.tile input[type=checkbox]").first.check()
                page.locator(".zip-box summary").click()
                assert page.locator("#ticked-count").inner_text() == "(3)"
                with page.expect_download() as info:
                    page.get_by_role("button", name="Download ticked as ZIP").click()
                import zipfile

                saved = tmp_path / "ticked.zip"
                info.value.save_as(saved)
                with zipfile.ZipFile(saved) as zf:
                    assert len(zf.namelist()) == 3, zf.namelist()
                phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
                phone.goto(url + "/album")
                first = phone.locator("li.tile img").first.bounding_box()
                assert first["y"] < PHONE["height"] * 0.6, "the first photo shows on the first screen"
            finally:
                browser.close()


def test_docs_try_it_out_colorizes_and_axe_finds_nothing(tmp_path, tiny_weights):
    """Swagger's "Try it out" on POST /colorize works out of the box (every optional field's example is a
    valid value), and /docs has no axe-core violation of any impact, an operation open or not."""
    from playwright.sync_api import sync_playwright

    scan = make_scan(tmp_path / "s.jpg")
    with running_server(tmp_path / "data", tiny_weights) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for viewport in (DESKTOP, PHONE):
                    page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
                    page.goto(url + "/docs")
                    page.wait_for_selector(".opblock-summary-path")
                    assert axe_violations(page) == [], f"/docs ({viewport['width']})"
                page.locator("#operations-colorize-colorize_colorize_post .opblock-summary-control").click()
                page.get_by_role("button", name="Try it out").click()
                page.set_input_files("#operations-colorize-colorize_colorize_post input[type=file]", str(scan))
                op = page.locator("#operations-colorize-colorize_colorize_post")
                row = op.locator("tr", has=page.locator(".parameter__name", has_text="hints"))
                row.locator("input, textarea").first.fill("")  # its example needs a hint input: this model has none
                page.get_by_role("button", name="Execute").click()
                cell = page.locator(".live-responses-table tbody .response-col_status").first
                cell.wait_for(timeout=30_000)
                status = cell.inner_text()
                assert status.strip().startswith("200"), (status, page.locator(".live-responses-table").inner_text())
                found = axe_violations(page)
                assert found == [], "\n".join(found)
            finally:
                browser.close()
