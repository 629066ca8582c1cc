"""A real browser against a real server: headless Debian Chromium driven by Playwright.

Starts `uvicorn app.main:app` on a free loopback port with a tiny generator, uploads a scan on
`/`, lands on the before/after page, drags the slider and downloads the full-size result.
With HEIRLOOM_SCREENSHOTS=1 it saves docs/upload-page.png and docs/before-after.png (otherwise it
writes nothing in the repository). Skips only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from browser_helpers import ARGS, CHROMIUM, DOCS, SCREENSHOTS, make_scan, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def server(tmp_path, tiny_weights):
    with running_server(tmp_path / "data", tiny_weights) as url:
        yield url


def test_upload_compare_download(server, tmp_path):
    from playwright.sync_api import sync_playwright

    scan = make_scan(tmp_path / "grandparents-1952.jpg")
    shots = DOCS if SCREENSHOTS else tmp_path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760}, accept_downloads=True)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            assert page.get_by_text("Choose photos").is_visible()
            assert page.get_by_text("drop scans onto this area").is_visible()
            assert not page.get_by_label("How to fit the photo").is_visible()  # folded
            page.get_by_text("More options").click()
            assert page.get_by_label("How to fit the photo").is_visible()
            page.set_input_files("#file", str(scan))
            page.wait_for_selector("#chosen li")
            page.screenshot(path=str(shots / "upload-page.png"), full_page=True)

            page.click("#submit")
            page.wait_for_url("**/photos/*", timeout=30_000)
            page.wait_for_function(
                "document.querySelector('img.after').complete && document.querySelector('img.before').complete"
            )
            box = page.locator("#compare").bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=5)
            page.mouse.up()
            value = int(page.input_value("#slider"))
            assert 25 <= value <= 35, value
            pos = page.eval_on_selector("#compare", "e => e.style.getPropertyValue('--pos')")
            assert pos == f"{value}%" or abs(float(pos.rstrip("%")) - value) < 1
            page.screenshot(path=str(shots / "before-after.png"), full_page=True)
            page.focus("#slider")
            page.keyboard.press("ArrowRight")  # keyboard users can move it too
            assert int(page.input_value("#slider")) == value + 1

            with page.expect_download() as info:
                page.click("#download-result")
            saved = tmp_path / info.value.suggested_filename
            info.value.save_as(saved)
            assert saved.name == "grandparents-1952-color.jpg"
            with Image.open(saved) as result, Image.open(scan) as original:
                assert result.size == original.size
                assert result.mode == "RGB"
            assert not errors, errors
        finally:
            browser.close()


def test_touch_screen_says_tap_and_errors_come_into_view(server, tmp_path):
    from playwright.sync_api import sync_playwright

    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a photo at all")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 700}, is_mobile=True, has_touch=True)
            page.goto(server + "/")
            assert page.get_by_text("Tap here to pick photos").is_visible()
            assert not page.get_by_text("drop scans onto this area").is_visible()
            page.set_input_files("#file", str(bad))
            page.wait_for_selector(".progress-list .failed")
            page.wait_for_timeout(800)  # the smooth scroll
            assert page.locator(".progress-list .failed").is_visible()
            top = page.locator(".progress-list .failed").bounding_box()["y"]
            assert 0 <= top < 700
            name = page.locator(".progress-list .failed .name").bounding_box()
            assert name["width"] >= 60, "the failed file's name stays readable beside its message"
            assert page.locator(".progress-list .failed .name").inner_text() == "notes.jpg"
        finally:
            browser.close()


def test_docs_offline_album_times_and_captions(server, tmp_path):
    """/docs renders with every non-local request refused; the album shows local times, whole
    thumbnails, and finds a photo by the caption typed on its page."""
    from playwright.sync_api import sync_playwright

    scan = make_scan(tmp_path / "lake.jpg", (200, 400))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(timezone_id="Pacific/Auckland")
            outside = []

            def only_local(route):
                if route.request.url.startswith(server):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", only_local)
            page = context.new_page()
            page.goto(server + "/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=15_000)  # the operations are listed
            assert page.locator(".opblock").count() >= 8  # every route, from local files
            assert not outside, outside

            page.goto(server + "/")
            page.set_input_files("#file", str(scan))
            page.wait_for_url("**/photos/*", timeout=30_000)
            page.fill("#who", "Grandma Rose")
            page.fill("#where", "Lake Garda")
            page.click("text=Save caption")
            page.wait_for_selector("#caption")
            assert page.get_attribute("img.after", "alt") == "Grandma Rose, Lake Garda (colorized)"

            page.goto(server + "/album")
            time_text = page.inner_text("time[data-local]")
            assert "UTC" not in time_text and page.get_attribute("time[data-local]", "title").endswith("UTC")
            fit = page.eval_on_selector(".tile img", "e => getComputedStyle(e).objectFit")
            assert fit == "contain"
            page.fill("#q", "rose")
            page.press("#q", "Enter")
            page.wait_for_selector("text=1 photo match")
            assert page.locator(".tile").count() == 1
            page.locator(".tile a").first.click()  # the photo's page holds its downloads
            page.wait_for_url("**/photos/*")
            assert page.locator(".actions a[download]").count() == 2
        finally:
            browser.close()


def test_a_refresh_mid_upload_loses_nothing_that_arrived_and_leaves_no_endless_batch(server, tmp_path):
    """Six scans on a slow link; F5 once the first has reached the server: what reached the server is in the
    album, the rest is declared missing by the page as it goes, and the batch page says so instead of
    watching for ever. While files are on their way the page asks before it is left."""
    import httpx
    import numpy as np
    from playwright.sync_api import sync_playwright

    paths = []
    for i in range(6):  # grainy: ~300 KB each, 2 s apiece on the throttled link
        px = np.random.default_rng(i).integers(0, 255, (420, 560), dtype=np.uint8)
        paths.append(tmp_path / f"scan{i}.png")
        Image.fromarray(px).save(paths[-1])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 150_000},
            )
            page.goto(server + "/")
            page.set_input_files("#file", [str(x) for x in paths])
            page.wait_for_selector(".progress-list .state:has-text('Colorizing…')", timeout=30_000)
            asks = page.evaluate(
                "() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e);"
                " return e.defaultPrevented; }"
            )
            assert asks, "files still on their way: the page asks before it is left"
            batches = httpx.get(server + "/batches").text
            link = batches.split('href="/batches/')[1].split('"')[0]
            for _ in range(100):  # the browser has sent it; F5 once the server has it too (else it is "missing")
                items = httpx.get(f"{server}/api/batches/{link}").json()["items"]
                if any(i["status"] in ("working", "done") for i in items):
                    break
                page.wait_for_timeout(100)
            page.reload()
            page.wait_for_timeout(1500)
            batch = httpx.get(f"{server}/api/batches/{link}").json()
            deadline = 30
            while not batch["settled"] and deadline:
                page.wait_for_timeout(1000)
                deadline -= 1
                batch = httpx.get(f"{server}/api/batches/{link}").json()
            assert batch["settled"], batch
            assert batch["done"] >= 1 and batch["missing"] >= 1 and batch["done"] + batch["missing"] == 6, batch
            assert httpx.get(server + "/api/photos").json()["total"] == batch["done"]
            page.goto(f"{server}/batches/{link}")
            assert page.get_by_text("not received").first.is_visible()
            assert page.locator("[data-poll]").count() == 0
        finally:
            browser.close()


def test_first_impressions_example_above_the_fold_and_picking_a_file_starts(server, tmp_path):
    from playwright.sync_api import sync_playwright

    scan = make_scan(tmp_path / "grandma.jpg")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(server + "/")
            box = page.locator("#example-compare").bounding_box()
            slider = page.locator("#example-slider").bounding_box()
            assert box["y"] >= 0 and slider["y"] + slider["height"] <= 900, (box, slider)  # above the fold
            assert box["height"] > 300, "large enough to see faces"
            page.focus("#example-slider")
            page.keyboard.press("ArrowLeft")
            assert page.eval_on_selector("#example-compare", "e => e.style.getPropertyValue('--pos')") == "49%"
            page.set_input_files("#file", str(scan))  # no second click
            page.wait_for_url("**/photos/*", timeout=30_000)
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone.goto(server + "/")
            assert phone.locator("#example-compare").bounding_box()["width"] > 300, "not tiny on a phone"
        finally:
            browser.close()
