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
