""" "Fix a colour" in a real browser (Chromium): two hints added with the mouse change the preview at the
hinted spots (read from the returned image), saved as a version whose page shows its dots again; the same by
touch on a phone-sized screen; the keyboard path (add, move, remove); axe-core finds nothing, picker open.
A server whose model has no hint input shows no "Fix a colour"."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from browser_helpers import ARGS, CHROMIUM, axe_violations, make_scan, running_server
from engine_helpers import tiny_weights as write_tiny_weights

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
LAPTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
SPOTS = [(0.3, 0.4), (0.7, 0.6)]


@pytest.fixture
def hinted(tmp_path):
    """A server with a tiny model that takes hints, and one photo in its album. -> (base URL, photo id)."""
    weights = write_tiny_weights(tmp_path / "hinted.safetensors", hints=True)
    with running_server(tmp_path / "data", weights, HEIRLOOM_PRECISION="float32") as url:
        scan = make_scan(tmp_path / "wedding.jpg", (480, 320)).read_bytes()
        r = httpx.post(url + "/api/photos", files={"file": ("wedding.jpg", scan, "image/jpeg")}, timeout=60)
        assert r.status_code == 201, r.text
        yield url, r.json()["id"]


def preview_pixels(page, spots) -> list[list[int]]:
    """The preview image's RGB at relative spots (mean of a 5x5 patch), read back from the image itself."""
    return page.evaluate(
        """(spots) => {
            const img = document.getElementById("hint-image");
            const c = document.createElement("canvas");
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext("2d"); g.drawImage(img, 0, 0);
            return spots.map(([x, y]) => {
                const d = g.getImageData(Math.round(x * c.width) - 2, Math.round(y * c.height) - 2, 5, 5).data;
                const m = [0, 0, 0];
                for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k] / 25;
                return m.map(Math.round);
            });
        }""",
        spots,
    )


def wait_status(page, text: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('hint-status').textContent.includes(t)", arg=text, timeout=30_000
    )


def open_fix(page, url: str, photo: str) -> None:
    page.goto(f"{url}/photos/{photo}")
    page.click("#fix-start")
    wait_status(page, "Preview without hints")


def moved(before, after) -> float:
    return max(abs(a - b) for pa, pb in zip(before, after) for a, b in zip(pa, pb))


def test_two_hints_by_mouse_change_the_preview_there_and_are_saved_with_the_version(hinted):
    from playwright.sync_api import sync_playwright

    url, photo = hinted
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport=LAPTOP, bypass_csp=True).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            open_fix(page, url, photo)
            before = preview_pixels(page, SPOTS)
            box = page.locator("#hint-image").bounding_box()
            # First hint: a colour of one's own.
            page.mouse.click(box["x"] + SPOTS[0][0] * box["width"], box["y"] + SPOTS[0][1] * box["height"])
            page.wait_for_selector("#hint-picker:not([hidden]) #hint-suggested .swatch")
            assert axe_violations(page) == [], "picker open"
            page.fill("#hint-free", "#2040d0")
            page.click("#hint-use-free")
            wait_status(page, "Preview with 1 colour hint")
            # Second hint: the model's own most likely colour there (the picker's focus may have scrolled).
            box = page.locator("#hint-image").bounding_box()
            page.mouse.click(box["x"] + SPOTS[1][0] * box["width"], box["y"] + SPOTS[1][1] * box["height"])
            page.wait_for_selector("#hint-picker:not([hidden]) #hint-suggested .swatch")
            page.locator("#hint-suggested .swatch").first.click()
            wait_status(page, "Preview with 2 colour hints")
            assert page.locator(".hint-dot").count() == 2
            after = preview_pixels(page, SPOTS)
            assert moved(before[:1], after[:1]) > 8 and moved(before[1:], after[1:]) > 2, (before, after)
            page.click("#hint-save")
            page.wait_for_url("**/photos/*?v=*", timeout=60_000)
            assert "2 colour hints" in page.locator(".made-with summary").inner_text()
            page.reload()
            page.click("#fix-start")
            assert page.locator(".hint-dot").count() == 2, "the version's dots come back"
            at = page.evaluate("[...document.querySelectorAll('.hint-dot')].map((d) => [d.style.left, d.style.top])")
            assert [[round(float(v.rstrip("%"))) for v in xy] for xy in at] == [[30, 40], [70, 60]], at
            versions = httpx.get(f"{url}/api/photos/{photo}").json()["versions"]
            assert len(versions) == 2 and len(versions[-1]["hints"]) == 2 and versions[-1]["favorite"]
            assert versions[-1]["hints"][0]["color"] == "#2040d0"
            assert axe_violations(page) == [], "hint work open with dots"
            assert not errors, errors
        finally:
            browser.close()


def test_hints_by_touch_on_a_phone_and_by_keyboard(hinted):
    from playwright.sync_api import sync_playwright

    url, photo = hinted
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
            open_fix(page, url, photo)
            before = preview_pixels(page, SPOTS[:1])
            page.locator("#hint-image").scroll_into_view_if_needed()
            box = page.locator("#hint-image").bounding_box()
            page.touchscreen.tap(box["x"] + SPOTS[0][0] * box["width"], box["y"] + SPOTS[0][1] * box["height"])
            page.wait_for_selector("#hint-picker:not([hidden])")
            page.fill("#hint-free", "#2040d0")
            page.tap("#hint-use-free")
            wait_status(page, "Preview with 1 colour hint")
            assert moved(before, preview_pixels(page, SPOTS[:1])) > 8
            # Undo takes it away again.
            page.tap("#hint-undo")
            wait_status(page, "Preview without hints")
            assert page.locator(".hint-dot").count() == 0

            keys = browser.new_context(viewport=LAPTOP).new_page()
            open_fix(keys, url, photo)
            keys.focus("#hint-add")
            keys.keyboard.press("Enter")
            keys.wait_for_selector("#hint-suggested .swatch:focus")  # the picker takes the focus
            keys.keyboard.press("Enter")
            wait_status(keys, "Preview with 1 colour hint")
            dot = keys.locator(".hint-dot")
            assert dot.count() == 1 and keys.evaluate("document.activeElement.classList.contains('hint-dot')")
            for _ in range(3):
                keys.keyboard.press("ArrowRight")
            keys.keyboard.press("Shift+ArrowDown")
            style = keys.locator(".hint-dot").get_attribute("style") or ""
            assert "left: 53%" in style and "top: 55%" in style, style
            keys.keyboard.press("Delete")
            assert keys.locator(".hint-dot").count() == 0
        finally:
            browser.close()


def test_a_model_without_a_hint_input_offers_no_fix_a_colour(tmp_path, tiny_weights):
    from playwright.sync_api import sync_playwright

    with running_server(tmp_path / "data", tiny_weights) as url:
        scan = make_scan(tmp_path / "s.jpg").read_bytes()
        photo = httpx.post(url + "/api/photos", files={"file": ("s.jpg", scan, "image/jpeg")}, timeout=60).json()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{url}/photos/{photo['id']}")
                assert page.locator("#fix-colour").count() == 0
                assert page.locator("#compare").is_visible()
            finally:
                browser.close()
