"""Issue 10, the pages a person sees: offline API docs, contrast and alt texts, the home page's
"Choose photos" area and folded options, the album's thumbnails, local times and downloads."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app_helpers import image_bytes

HTML = {"accept": "text/html"}


# --- API docs with no network -------------------------------------------------------------------

def local_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_docs_page_uses_only_local_assets(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    urls = local_urls(r.text)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls) and any(u.endswith(".css") for u in urls)
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    csp = r.headers["content-security-policy"]
    assert "https:" not in csp and "script-src 'self';" in csp       # no CDN, no inline script
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert client.get("/redoc").status_code == 404                     # FastAPI's CDN page is off


def test_api_link_is_in_the_footer_not_the_menu(client):
    page = client.get("/", headers=HTML).text
    nav = page[page.index("<nav"):page.index("</nav>")]
    footer = page[page.index("<footer"):page.index("</footer>")]
    assert 'href="/docs"' not in nav and 'href="/docs"' in footer


# --- contrast (WCAG 2.1 AA) and alt texts -----------------------------------------------------

STYLE = Path(__file__).resolve().parent.parent / "static" / "style.css"
TEXT, NON_TEXT = 4.5, 3.0
# (foreground, background, minimum): every pair the stylesheet puts together.
PAIRS = [
    ("fg", "bg", TEXT), ("fg", "card", TEXT), ("muted", "bg", TEXT), ("muted", "card", TEXT),
    ("muted", "hover-bg", TEXT), ("fg", "hover-bg", TEXT),
    ("accent", "bg", TEXT), ("accent", "card", TEXT), ("accent", "hover-bg", TEXT),   # links
    ("accent-fg", "accent", TEXT),                                                   # primary buttons
    ("danger", "card", TEXT), ("danger", "bg", TEXT), ("danger", "error-bg", TEXT),
    ("bar-fg", "bar", TEXT), ("bar-current", "bar", TEXT), ("banner-fg", "banner-bg", TEXT),
    ("tag-fg", "tag-bg", TEXT),
    ("focus", "bg", NON_TEXT), ("focus", "card", NON_TEXT), ("focus", "bar", NON_TEXT),
    ("focus", "error-bg", NON_TEXT), ("focus", "hover-bg", NON_TEXT),
    ("control-line", "card", NON_TEXT), ("control-line", "bg", NON_TEXT),            # button, input borders
]


def css_colours() -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", STYLE.read_text(), re.S)
    assert root
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\b", root.group(1)))


def luminance(hex_colour: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)   # the classic just-too-light gray


@pytest.mark.parametrize("fg,bg,minimum", PAIRS, ids=[f"{f}-on-{b}" for f, b, _ in PAIRS])
def test_colour_pairs_meet_wcag_aa(fg, bg, minimum):
    colours = css_colours()
    assert contrast(colours[fg], colours[bg]) >= minimum, (fg, colours[fg], bg, colours[bg])


def test_stylesheet_uses_the_checked_colours():
    css = STYLE.read_text()
    rules = css[css.index("}", css.index(":root")) + 1:]
    assert re.search(r":focus-visible\s*{\s*outline:\s*3px solid var\(--focus\)", rules)
    for value in re.findall(r"(?<![\w-])color:\s*([^;}]+)", rules):   # text colours: only checked ones
        assert value.strip().startswith("var(--"), value


def test_alt_texts_say_which_photo_and_which_version(client):
    r = client.post("/api/photos", files={"file": ("grandma 1952.png", image_bytes(), "image/png")})
    pid = r.json()["id"]
    page = client.get(f"/photos/{pid}", headers=HTML).text
    assert 'alt="grandma 1952.png (colorized)"' in page and 'alt="grandma 1952.png (original scan)"' in page
    assert 'alt="grandma 1952.png (colorized)"' in client.get("/album", headers=HTML).text
    for html in (page, client.get("/", headers=HTML).text):
        assert not re.search(r'<img(?![^>]*\balt=")', html)                     # no image without alt
