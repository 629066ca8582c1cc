"""The About page (the model's data terms, the example photo's credit) and the example on the home page."""

from __future__ import annotations

import io

from PIL import Image

HTML = {"accept": "text/html"}


def test_home_shows_the_example_before_and_after(client):
    page = client.get("/", headers=HTML).text
    assert page.index('id="upload-form"') < page.index('class="example card"')  # the upload comes first
    sizes = []
    for side in ("before", "after"):
        assert f'src="/static/example/{side}.jpg"' in page
        r = client.get(f"/static/example/{side}.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert len(r.content) < 150_000  # small: it loads on every visit
        im = Image.open(io.BytesIO(r.content))
        assert f'width="{im.width}" height="{im.height}"' in page
        sizes.append((im.size, im.mode))
    assert sizes[0][0] == sizes[1][0] and sizes[0][1] == "L" and sizes[1][1] == "RGB"
    assert 'href="/about#example"' in page and "public domain" in page
    # A labelled before/after slider of a family portrait, as the photo page's.
    assert 'id="example-compare"' in page and 'aria-controls="example-compare"' in page
    assert "Before</span>" in page and "After</span>" in page and "Migrant Mother" in page
    assert sizes[0][0][1] > sizes[0][0][0], "a portrait"


def test_login_says_where_a_token_comes_from(tmp_path, tiny_weights):
    from app_helpers import client_for, settings_for

    with client_for(settings_for(tmp_path / "data", tiny_weights, token="s3cret-token-123")) as c:
        page = c.get("/login", headers=HTML).text
    assert "ask the person who set up" in page


def test_about_page_names_the_model_its_terms_and_the_credit(client, tiny_weights):
    from model.checkpoint import sha256_of

    page = client.get("/about", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "non-commercial research" in text and "not for selling" in text
    assert "informed guesses" in text and "dpi" in text and "glare" in text and "Colour strength" in text
    card = client.get("/about/model-card")
    assert (
        card.status_code == 200
        and card.text.startswith("# Heirloom default colorizer")
        and 'href="/about/model-card"' in text
    )
    assert tiny_weights.name in text and sha256_of(tiny_weights) in text
    assert "DDColor" in text and "Apache License 2.0" in text and "scripts/make_example.py" in text
    assert "checkpoint" not in text.lower() and "safetensors" not in text.split("This server uses")[0]
    assert 'href="/about"' in client.get("/album", headers=HTML).text  # in every page's footer
