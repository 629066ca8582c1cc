"""Colour hints through the web API: `hints` on POST /colorize and on a re-run, checked with a 422 naming
the field, recorded with the version (and kept by album export/import), refused by a model without a hint
input, the same bytes in queue mode as in one process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.color import lightness

from app_helpers import client_for, image_bytes, settings_for
from engine_helpers import photo_array
from engine_helpers import tiny_weights as write_tiny_weights

BLUE = [{"x": 0.5, "y": 0.5, "color": "#3a5fb0", "radius": 0.1}]


@pytest.fixture(scope="module")
def hint_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("hint-weights") / "hinted.safetensors", hints=True)


@pytest.fixture
def hint_client(tmp_path: Path, hint_weights: Path):
    with client_for(settings_for(tmp_path / "data", hint_weights, precision="float32")) as c:
        yield c


def photo_png(w: int = 64, h: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_array(h, w)).save(buf, "PNG")
    return buf.getvalue()


def colorize(client, data: bytes, hints: object | None = None):
    fields = {} if hints is None else {"hints": hints if isinstance(hints, str) else json.dumps(hints)}
    return client.post("/colorize", files={"file": ("p.png", data, "image/png")}, data=fields)


def pixels(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), np.int32)


def test_hints_change_the_result_through_the_model_and_keep_its_lightness(hint_client) -> None:
    data = photo_png()
    auto, hinted = colorize(hint_client, data), colorize(hint_client, data, BLUE)
    assert auto.status_code == hinted.status_code == 200, hinted.text
    a, h = pixels(auto.content), pixels(hinted.content)
    assert a.shape == h.shape == (48, 64, 3) and np.abs(h - a).mean() > 1
    src = photo_array(48, 64)
    assert np.abs(lightness(h.astype(np.uint8)).astype(int) - lightness(src)).max() <= 1
    assert colorize(hint_client, data, []).content == auto.content, "an empty list is no hints"


@pytest.mark.parametrize(
    ("hints", "says"),
    [
        ("[{", "not valid JSON"),
        ([{"x": 1.2, "y": 0.5, "color": "#3a5fb0"}], "x must be between"),
        ([{"x": 0.5, "y": 0.5, "color": "navy"}], "#RRGGBB"),
        ([{"x": 0.5, "y": 0.5, "color": "#3a5fb0"}] * 65, "at most 64"),
    ],
)
def test_invalid_hints_are_a_422_naming_the_field(hint_client, hints, says) -> None:
    r = colorize(hint_client, photo_png(), hints)
    assert r.status_code == 422 and r.json()["field"] == "hints" and says in r.json()["message"], r.text


def test_a_model_without_a_hint_input_refuses_hints(client) -> None:
    r = colorize(client, image_bytes(), BLUE)
    assert r.status_code == 422 and r.json()["field"] == "hints" and "no hint input" in r.json()["message"]
    assert colorize(client, image_bytes()).status_code == 200


def test_a_rerun_with_hints_is_a_version_that_remembers_them_and_export_keeps_them(hint_client, tmp_path) -> None:
    from heirloom.cli import main

    r = hint_client.post("/api/photos", files={"file": ("p.png", photo_png(), "image/png")})
    assert r.status_code == 201
    rec = r.json()
    assert rec["hints"] == []
    r = hint_client.post(f"{rec['url']}/rerun", data={"hints": json.dumps(BLUE)})
    assert r.status_code == 201, r.text
    old, new = r.json()["versions"]
    assert old["hints"] == [] and new["hints"] == BLUE and r.json()["hints"] == BLUE
    assert hint_client.get(old["result_url"]).content != hint_client.get(new["result_url"]).content
    bad = hint_client.post(f"{rec['url']}/rerun", data={"hints": '[{"x": 0.5}]'})
    assert bad.status_code == 422 and bad.json()["field"] == "hints"
    archive = tmp_path / "album.zip"
    assert main(["album", "export", str(archive), "--data-dir", str(tmp_path / "data")]) == 0
    assert main(["album", "import", str(archive), "--data-dir", str(tmp_path / "copy")]) == 0
    with client_for(settings_for(tmp_path / "copy", None, load_model=False)) as copy:
        assert [v["hints"] for v in copy.get(rec["url"]).json()["versions"]] == [[], BLUE]


def test_the_hints_field_is_documented_with_an_example_that_works(hint_client) -> None:
    schema = hint_client.get("/openapi.json").json()
    body = schema["paths"]["/colorize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[1]
    field = schema["components"]["schemas"][ref]["properties"]["hints"]
    example = field.get("example") or field.get("examples", [None])[0]
    assert "#RRGGBB" in field["description"]
    assert colorize(hint_client, photo_png(), example).status_code == 200


def test_preview_is_a_small_jpeg_of_the_hinted_photo_and_stores_nothing(hint_client) -> None:
    big = photo_png(1500, 1000)
    rec = hint_client.post("/api/photos", files={"file": ("big.png", big, "image/png")}).json()
    url = f"{rec['url']}/preview"
    auto = hint_client.post(url)
    hinted = hint_client.post(url, data={"hints": json.dumps(BLUE)})
    assert auto.status_code == hinted.status_code == 200 and hinted.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(hinted.content)) as im:
        assert im.format == "JPEG" and im.size == (1024, 683)
    assert np.abs(pixels(hinted.content) - pixels(auto.content)).mean() > 1
    assert len(hint_client.get(rec["url"]).json()["versions"]) == 1, "a preview is not a version"
    bad = hint_client.post(url, data={"hints": "[1]"})
    assert bad.status_code == 422 and bad.json()["field"] == "hints"
    assert hint_client.post("/api/photos/nosuchphoto0000000000000/preview").status_code == 404


def test_suggestions_are_distinct_colours_from_the_models_own_distribution(hint_client) -> None:
    rec = hint_client.post("/api/photos", files={"file": ("p.png", photo_png(), "image/png")}).json()
    r = hint_client.get(f"{rec['url']}/suggestions", params={"x": 0.3, "y": 0.7})
    assert r.status_code == 200, r.text
    colors = r.json()["colors"]
    assert 1 <= len(colors) <= 6 and len(set(colors)) == len(colors)
    assert all(len(c) == 7 and c[0] == "#" and int(c[1:], 16) >= 0 for c in colors)
    assert hint_client.get(f"{rec['url']}/suggestions", params={"x": 1.5, "y": 0.5}).status_code == 422


def test_suggested_colours_follow_the_class_heads_most_likely_bins() -> None:
    """The engine's palette: the bins the class head makes most likely at the spot, most likely first."""
    import torch
    from PIL import Image as PILImage

    from model import Colorizer
    from model.photo_io import Photo
    from model.suggest import suggest_colors

    from engine_helpers import tiny_generator

    g = tiny_generator(hints=True)
    with torch.no_grad():
        g.decoder.classes.weight.zero_()
        bias = torch.full_like(g.decoder.classes.bias, -20.0)
        n = g.cfg.bins_per_axis
        blue_bin = 5 * n + 4  # a ≈ -55, b ≈ -65: a clear blue
        red_bin = 17 * n + 15  # a ≈ 65, b ≈ 45: a clear red
        bias[blue_bin], bias[red_bin] = 3.0, 2.0
        g.decoder.classes.bias.copy_(bias)
    c = Colorizer(g, 32, precision="float32")
    photo = Photo(np.asarray(PILImage.new("RGB", (40, 30), (128, 128, 128))))
    colors = suggest_colors(c, photo, 0.5, 0.5, c.options())
    assert len(colors) == 3, "the two likely ones, and a third so a family always has a choice"
    (r1, g1, b1), (r2, g2, b2) = ([int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in colors[:2])
    assert b1 > r1 + 40 and r2 > b2 + 40, colors


def test_the_shipped_model_follows_a_hint_where_it_is_given_and_nowhere_far(tmp_path) -> None:
    """Through POST /colorize with the shipped weights: one hint at the middle moves the mean a/b within 2 % of
    the width around it at least halfway toward the hinted colour; at (0.08, 0.08) a/b move by at most 6."""
    from model.checkpoint import DEFAULT_WEIGHTS
    from model.color import rgb_to_lab, to_unit_float
    from model.hints import srgb_hex_to_ab

    scan = (Path(__file__).parent.parent / "static" / "example" / "before.jpg").read_bytes()
    hint = {"x": 0.5, "y": 0.5, "color": "#2a50c8"}
    with client_for(settings_for(tmp_path / "data", DEFAULT_WEIGHTS)) as c:
        auto, hinted = colorize(c, scan), colorize(c, scan, [hint])
    assert auto.status_code == hinted.status_code == 200, hinted.text
    a, h = (rgb_to_lab(to_unit_float(pixels(r.content).astype(np.uint8)))[..., 1:] for r in (auto, hinted))
    height, width = a.shape[:2]
    r = max(1, round(0.02 * width))

    def around(ab: np.ndarray, x: float, y: float) -> np.ndarray:
        cy, cx = int(y * height), int(x * width)
        return ab[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1].reshape(-1, 2).mean(0)

    target = np.array(srgb_hex_to_ab(hint["color"]))
    before, after = around(a, 0.5, 0.5), around(h, 0.5, 0.5)
    assert np.linalg.norm(after - target) <= 0.5 * np.linalg.norm(before - target), (before, after, target)
    far = np.abs(around(h, 0.08, 0.08) - around(a, 0.08, 0.08)).max()
    assert far <= 6, far
