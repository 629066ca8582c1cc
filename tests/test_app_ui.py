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
    assert "https:" not in csp and "script-src 'self';" in csp  # no CDN, no inline script
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is off


def test_api_link_is_in_the_footer_not_the_menu(client):
    page = client.get("/", headers=HTML).text
    nav = page[page.index("<nav") : page.index("</nav>")]
    footer = page[page.index("<footer") : page.index("</footer>")]
    assert 'href="/docs"' not in nav and 'href="/docs"' in footer


# --- contrast (WCAG 2.1 AA) and alt texts -----------------------------------------------------

STYLE = Path(__file__).resolve().parent.parent / "static" / "style.css"
TEXT, NON_TEXT = 4.5, 3.0
# (foreground, background, minimum): every pair the stylesheet puts together.
PAIRS = [
    ("fg", "bg", TEXT),
    ("fg", "card", TEXT),
    ("muted", "bg", TEXT),
    ("muted", "card", TEXT),
    ("muted", "hover-bg", TEXT),
    ("fg", "hover-bg", TEXT),
    ("accent", "bg", TEXT),
    ("accent", "card", TEXT),
    ("accent", "hover-bg", TEXT),  # links
    ("accent-fg", "accent", TEXT),  # primary buttons
    ("danger", "card", TEXT),
    ("danger", "bg", TEXT),
    ("danger", "error-bg", TEXT),
    ("bar-fg", "bar", TEXT),
    ("bar-current", "bar", TEXT),
    ("banner-fg", "banner-bg", TEXT),
    ("tag-fg", "tag-bg", TEXT),
    ("focus", "bg", NON_TEXT),
    ("focus", "card", NON_TEXT),
    ("focus", "bar", NON_TEXT),
    ("focus", "error-bg", NON_TEXT),
    ("focus", "hover-bg", NON_TEXT),
    ("control-line", "card", NON_TEXT),
    ("control-line", "bg", NON_TEXT),  # button, input borders
]


def css_colours() -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", STYLE.read_text(), re.S)
    assert root
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\b", root.group(1)))


def luminance(hex_colour: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(hex_colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-too-light gray


@pytest.mark.parametrize("fg,bg,minimum", PAIRS, ids=[f"{f}-on-{b}" for f, b, _ in PAIRS])
def test_colour_pairs_meet_wcag_aa(fg, bg, minimum):
    colours = css_colours()
    assert contrast(colours[fg], colours[bg]) >= minimum, (fg, colours[fg], bg, colours[bg])


def test_stylesheet_uses_the_checked_colours():
    css = STYLE.read_text()
    rules = css[css.index("}", css.index(":root")) + 1 :]
    assert re.search(r":focus-visible\s*{\s*outline:\s*3px solid var\(--focus\)", rules)
    for value in re.findall(r"(?<![\w-])color:\s*([^;}]+)", rules):  # text colours: only checked ones
        assert value.strip().startswith("var(--"), value


def test_alt_texts_say_which_photo_and_which_version(client):
    r = client.post("/api/photos", files={"file": ("grandma 1952.png", image_bytes(), "image/png")})
    pid = r.json()["id"]
    page = client.get(f"/photos/{pid}", headers=HTML).text
    assert 'alt="grandma 1952.png (colorized)"' in page and 'alt="grandma 1952.png (original scan)"' in page
    assert 'alt="grandma 1952.png (colorized)"' in client.get("/album", headers=HTML).text
    for html in (page, client.get("/", headers=HTML).text):
        assert not re.search(r'<img(?![^>]*\balt=")', html)  # no image without alt


# --- home: one "Choose photos" area, options folded, messages in view -------------------------


def test_home_has_one_choose_area_with_touch_wording(client):
    page = client.get("/", headers=HTML).text
    zone = page[page.index('id="dropzone"') : page.index("</label>", page.index('id="dropzone"'))]
    assert "Choose photos" in zone and 'for="file"' in page and 'type="file"' in zone and "multiple" in zone
    assert 'class="for-touch">Tap' in zone and 'class="for-mouse">' in zone and "drop" in zone.lower()
    css = STYLE.read_text()
    assert re.search(r"@media \(hover: none\) and \(pointer: coarse\) {[^}]*\.for-mouse { display: none; }", css)


def test_options_are_folded_in_plain_words_with_the_models_defaults(client):
    page = client.get("/", headers=HTML).text
    box = page[page.index('<details class="options-box"') : page.index("</details>")]
    assert '<details class="options-box">' in page  # closed on the home page
    assert "<summary>More options</summary>" in box
    for words in ("Detail", "Colour strength", "How to fit the photo"):
        assert words in box, words
    model = client.app.state.runtime.backend.form_defaults()
    assert re.search(rf'<option value="{model.render_size}" selected>Standard detail \(recommended\)</option>', box)
    assert re.search(rf'<option value="{model.policy}" selected>', box)
    assert f'value="{model.saturation}"' in box
    assert "pad-reflect</option>" not in box  # labels, not the API's names


def test_every_policy_has_plain_words():
    from app.wording import POLICY_LABELS, POLICY_WORDS
    from model.options import POLICIES

    assert tuple(POLICY_LABELS) == tuple(POLICY_WORDS) == POLICIES


def test_photo_page_opens_the_options_and_errors_can_take_focus(client):
    pid = client.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()["id"]
    assert '<details class="options-box" open>' in client.get(f"/photos/{pid}", headers=HTML).text
    r = client.post("/photos", files=[("file", ("notes.txt", b"hello", "text/plain"))], headers=HTML)
    assert r.status_code == 415 and 'id="form-error" tabindex="-1"' in r.text
    assert '<details class="options-box">' in r.text  # not about the options: folded
    r = client.post(
        "/photos", files=[("file", ("a.png", image_bytes(), "image/png"))], data={"render_size": "7"}, headers=HTML
    )
    assert r.status_code == 422 and '<details class="options-box" open>' in r.text
    js = client.get("/static/app.js").text
    assert "reveal(section)" in js and "reveal(ui.li)" in js and "reveal(err)" in js and "scrollIntoView" in js


def test_long_names_are_cut_or_wrapped(client):
    css = STYLE.read_text()
    assert re.search(r"\.chosen li, \.progress-list \.name {[^}]*text-overflow: ellipsis", css)
    assert re.search(r"\.tile-name {[^}]*text-overflow: ellipsis", css)
    assert re.search(r"\.photo-title {[^}]*overflow-wrap: anywhere", css)
    long = "a" * 200 + ".png"
    rec = client.post("/api/photos", files={"file": (long, image_bytes(), "image/png")}).json()
    pid, stored = rec["id"], rec["name"]  # the server may shorten a very long name
    assert len(stored) > 100 and f'title="{stored}"' in client.get("/album", headers=HTML).text
    assert client.get(f"/photos/{pid}", headers=HTML).status_code == 200


# --- album: whole thumbnails, local times, downloads ------------------------------------------


def test_album_thumbnails_are_letterboxed_not_cropped():
    tile_img = re.search(r"\.tile img {([^}]*)}", STYLE.read_text())
    assert tile_img and "object-fit: contain" in tile_img.group(1) and "cover" not in tile_img.group(1)


def test_album_thumbnail_keeps_the_photos_shape(client):
    from app_helpers import size_of

    rec = client.post("/api/photos", files={"file": ("tall.png", image_bytes(30, 90), "image/png")}).json()
    w, h = size_of(client.get(rec["thumbnail_url"]).content)
    assert abs(w / h - 30 / 90) < 0.05


def test_times_are_utc_in_a_time_element_and_converted_in_js(client):
    from datetime import datetime, timezone

    rec = client.post("/api/photos", files={"file": ("a.png", image_bytes(), "image/png")}).json()
    for url in ("/album", f"/photos/{rec['id']}"):
        m = re.search(r'<time datetime="([^"]+)" data-local>([^<]+)</time>', client.get(url, headers=HTML).text)
        assert m and m.group(1).endswith("Z") and m.group(2).endswith("UTC"), url
        when = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs(when.timestamp() - datetime.now(timezone.utc).timestamp()) < 600
    js = client.get("/static/app.js").text
    assert "time[data-local][datetime]" in js and "toLocaleString" in js


def test_the_photo_page_offers_result_and_original_downloads_and_album_tiles_two_tab_stops(client):
    rec = client.post("/api/photos", files={"file": ("grandpa.png", image_bytes(), "image/png")}).json()
    page = client.get(f"/photos/{rec['id']}", headers=HTML).text
    for kind, name in (("result", "grandpa-color.png"), ("original", "grandpa.png")):
        url = f"/api/photos/{rec['id']}/{kind}?download=true"
        assert f'href="{url}" download' in page
        r = client.get(url)
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        assert name in r.headers["content-disposition"]
    album = client.get("/album", headers=HTML).text
    tile = album[album.index('<li class="tile">') : album.index("</li>", album.index('<li class="tile">'))]
    assert len(re.findall(r"<(a|button|input|select|textarea)\b", tile)) == 2  # the photo, and its tick


# --- captions: who, where, when -------------------------------------------------------------


def add(client, name="a.png") -> dict:
    r = client.post("/api/photos", files={"file": (name, image_bytes(), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()


def test_caption_rest_round_trip_and_partial_change(client):
    rec = add(client)
    assert rec["caption"] == {"who": "", "where": "", "when": ""} and rec["label"] == "a.png"
    r = client.patch(rec["url"], json={"who": "  Grandma Rose\n and Tom ", "where": "Lake Garda", "when": "1952"})
    assert r.status_code == 200, r.text
    assert r.json()["caption"] == {"who": "Grandma Rose and Tom", "where": "Lake Garda", "when": "1952"}
    assert r.json()["label"] == "Grandma Rose and Tom, Lake Garda, 1952"
    r = client.patch(rec["url"], json={"when": "summer 1952"})  # only what is sent changes
    assert r.json()["caption"] == {"who": "Grandma Rose and Tom", "where": "Lake Garda", "when": "summer 1952"}
    assert client.get(rec["url"]).json()["caption"]["when"] == "summer 1952"  # stored
    assert client.patch(rec["url"], json={"where": ""}).json()["caption"]["where"] == ""


def test_caption_limits_and_mistakes_are_clear_4xx(client):
    rec = add(client)
    r = client.patch(rec["url"], json={"who": "x" * 201})
    assert r.status_code == 422 and r.json()["error"] == "invalid_option" and r.json()["field"] == "who"
    assert "201 characters" in r.json()["message"] and "200" in r.json()["message"]
    assert client.patch(rec["url"], json={"who": "x" * 200}).status_code == 200
    assert client.patch(rec["url"], json={"colour": "red"}).status_code == 422  # unknown field
    assert client.patch(rec["url"], json={"who": 5}).status_code == 422
    assert client.patch("/api/photos/" + "a" * 24, json={"who": "x"}).status_code == 404
    assert client.get(rec["url"]).json()["caption"]["who"] == "x" * 200


def test_caption_survives_a_rerun(client):
    rec = add(client)
    client.patch(rec["url"], json={"who": "Rose"})
    assert client.post(f"{rec['url']}/rerun", data={"policy": "stretch"}).status_code == 201
    assert client.get(rec["url"]).json()["caption"]["who"] == "Rose"


def test_caption_form_without_js(client):
    rec = add(client, "scan.png")
    r = client.post(
        f"/photos/{rec['id']}/caption", data={"who": "Rose", "where": "Trento", "when": "1952"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/photos/{rec['id']}"
    page = client.get(f"/photos/{rec['id']}", headers=HTML).text
    assert 'value="Rose"' in page and 'alt="Rose, Trento, 1952 (colorized)"' in page
    assert 'alt="Rose, Trento, 1952 (original scan)"' in page and re.search(r'<label for="who">Who</label>', page)
    r = client.post(f"/photos/{rec['id']}/caption", data={"who": "y" * 300}, headers=HTML)
    assert r.status_code == 422 and "300 characters" in r.text and 'role="alert"' in r.text
    assert 'value="' + "y" * 300 + '"' in r.text  # what was typed comes back, not lost
    assert client.get(rec["url"]).json()["caption"]["who"] == "Rose"


def test_album_search_finds_names_and_captions(client):
    a, b, c = add(client, "wedding.png"), add(client, "beach.png"), add(client, "other.png")
    client.patch(a["url"], json={"where": "Trento"})
    client.patch(b["url"], json={"who": "Grandma Rose", "when": "1952"})
    client.patch(c["url"], json={"who": "100% sure_not"})
    page = client.get("/album?q=rose", headers=HTML).text
    assert "1 photo match" in page and b["id"] in page and a["id"] not in page
    page = client.get("/album?q=wedding", headers=HTML).text
    assert a["id"] in page and b["id"] not in page
    assert client.get("/album?q=%25", headers=HTML).text.count("/thumbnail") == 1  # % is literal
    assert client.get("/album?q=_", headers=HTML).text.count("/thumbnail") == 1
    page = client.get("/album?q=nobody", headers=HTML).text
    assert "Nothing matches" in page and "0 photos match" in page
    assert 'role="search"' in client.get("/album", headers=HTML).text
    r = client.get("/api/photos", params={"q": "1952"}).json()
    assert r["total"] == 1 and r["photos"][0]["id"] == b["id"]
    assert client.get("/api/photos").json()["total"] == 3
    assert client.get("/api/photos", params={"q": "x" * 201}).status_code == 422


def test_captions_are_added_to_an_older_album(tmp_path, tiny_weights):
    import sqlite3

    from app_helpers import client_for, settings_for

    data = tmp_path / "d"
    data.mkdir()
    db = sqlite3.connect(data / "heirloom.sqlite3")  # the table as the first release made it
    db.executescript("""CREATE TABLE photos (
        id TEXT PRIMARY KEY, created REAL NOT NULL, name TEXT NOT NULL,
        original_file TEXT NOT NULL, original_format TEXT NOT NULL, original_bytes INTEGER NOT NULL,
        result_file TEXT NOT NULL, result_format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
        render_size INTEGER, policy TEXT NOT NULL, saturation REAL NOT NULL);""")
    db.close()
    with client_for(settings_for(data, tiny_weights)) as c:
        rec = add(c)
        assert c.patch(rec["url"], json={"who": "Rose"}).json()["caption"]["who"] == "Rose"
        assert c.get("/api/photos", params={"q": "rose"}).json()["total"] == 1


def test_read_only_album_from_before_captions(tmp_path):
    import sqlite3

    from app.album.metadata import PhotoIndex

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""CREATE TABLE photos (id TEXT PRIMARY KEY, created REAL, name TEXT, original_file TEXT,
        original_format TEXT, original_bytes INTEGER, result_file TEXT, result_format TEXT, width INTEGER,
        height INTEGER, render_size INTEGER, policy TEXT, saturation REAL);
        INSERT INTO photos VALUES ('x', 1.0, 'rose.png', 'o.png', 'PNG', 1, 'result-a.png', 'PNG', 2, 2, NULL,
                                   'stretch', 1.0);""")
    db.close()
    index = PhotoIndex(path, read_only=True)
    rec = index.get("x")
    assert rec is not None and rec.caption == {"who": "", "where": "", "when": ""} and rec.label == "rose.png"
    assert index.listing("rose")[0] == 1 and index.listing("tom")[0] == 0
    index.close()


def test_cross_site_caption_changes_are_refused(client):
    rec = add(client)
    evil = {"origin": "http://evil.example"}
    assert client.patch(rec["url"], json={"who": "x"}, headers=evil).status_code == 403
    r = client.post(f"/photos/{rec['id']}/caption", data={"who": "x"}, headers=evil, follow_redirects=False)
    assert r.status_code == 403 and r.json()["error"] == "cross_site"
    assert client.get(rec["url"]).json()["caption"]["who"] == ""


def test_versions_are_described_in_a_familys_words_with_the_technical_line_one_click_away(client):
    import html as html_lib

    rec = client.post("/api/photos", files={"file": ("rose.png", image_bytes(40, 30), "image/png")}).json()
    r = client.post(f"{rec['url']}/rerun", data={"policy": "stretch", "saturation": "0", "render_size": "64"})
    assert r.status_code == 201
    page = html_lib.unescape(client.get(f"/photos/{rec['id']}", headers={"accept": "text/html"}).text)
    assert "<summary>Stretched to a square · more detail · gray</summary>" in page  # the favourite, shown
    assert "<summary>Whole photo · standard detail · normal colour</summary>" in page  # the first version
    assert "stretch, render 64, saturation 0.00 · model tiny.safetensors (" in page  # behind "details"
    assert "pad-reflect, render 32, saturation 1.00" in page


def test_plain_words_for_detail_colour_and_hints():
    from app.album.versions import Version
    from app.wording import colour_words, detail_words, in_words

    assert [detail_words(s, 128) for s in (None, 64, 128, 256, 512)] == [
        "standard detail",
        "less detail",
        "standard detail",
        "more detail",
        "most detail",
    ]
    assert [colour_words(s) for s in (0, 0.5, 1.0, 1.5)] == ["gray", "soft colour", "normal colour", "strong colour"]
    v = Version("0a1b2c3d", 0, "r.png", "PNG", 128, "center-crop", 1.0, hints='[{"x":0.1,"y":0.2,"color":"#aabbcc"}]')
    assert in_words(v, 128) == "Middle of the photo · standard detail · normal colour · 1 colour hint"


def test_detail_offers_only_what_the_photo_fits_on_this_server(tmp_path, tiny_weights):
    """A budget that a 2000x2000 scan fits only at the smaller sizes: its photo page offers only those, a small
    photo's all of them, and every offered choice then works."""
    from model import budget

    from app_helpers import client_for, settings_for

    with client_for(settings_for(tmp_path / "probe", tiny_weights)) as c:
        fp = budget.ModelFootprint(*c.app.state.runtime.backend.profile.footprint)
    at_128, at_256 = (budget.estimate(2000 * 2000, (s + 32) ** 2, False, fp) for s in (128, 256))
    limit = (at_128 + at_256) // 2  # a 2000x2000 scan fits at 128, not at 256
    with client_for(settings_for(tmp_path / "data", tiny_weights, max_work_bytes=limit)) as c:
        profile = c.app.state.runtime.backend.profile
        assert profile.max_work_bytes == limit and profile.footprint[0] > 0
        small = c.post("/api/photos", files={"file": ("s.png", image_bytes(40, 30), "image/png")}).json()
        big = c.post("/api/photos", files={"file": ("b.jpg", image_bytes(2000, 2000, "JPEG"), "image/jpeg")}).json()
        offered = {}
        for rec in (small, big):
            page = c.get(f"/photos/{rec['id']}", headers=HTML).text
            box = page[page.index('<select id="render_size"') : page.index("</select>", page.index('id="render_size"'))]
            offered[rec["id"]] = [int(v) for v in re.findall(r'<option value="(\d+)"', box)]
        assert offered[small["id"]] == [32, 64, 128, 256]  # 16 is not a multiple of the model's 32
        assert offered[big["id"]] and len(offered[big["id"]]) < len(offered[small["id"]])
        for size in offered[big["id"]]:
            assert c.post(f"{big['url']}/rerun", data={"render_size": str(size)}).status_code == 201, size
        too_big = min(s for s in offered[small["id"]] if s > max(offered[big["id"]]))
        r = c.post(f"{big['url']}/rerun", data={"render_size": str(too_big)})
        assert r.status_code == 422 and "Choose a smaller render size" in r.json()["message"]
