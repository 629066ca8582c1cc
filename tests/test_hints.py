"""Colour hints in the engine: the JSON format and its checks, the colour's a/b, where a hint lands on
the render canvas under every aspect policy, and a decoder whose hint paths start as nothing and reach
the result only through the network (never painted over it). The propagation is test_hint_propagation.py's,
training a hint decoder test_hint_training.py's."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from model import InvalidOption
from model.architectures.hypercolumn import HypercolumnDecoder
from model.geometry import make_plan
from model.hint_canvas import CanvasHint, hint_raster, place_hints
from model.hints import MAX_HINTS, Hint, hints_json, parse_hints, srgb_hex_to_ab
from model.options import POLICIES
from model.training.hint_sampling import hints_at

from engine_helpers import TINY_DECODER, VGG16_CHANNELS, vgg_features

# ---- the JSON ----


def test_hints_parse_with_defaults_and_round_trip() -> None:
    hints = parse_hints(
        '[{"x": 0.42, "y": 0.31, "color": "#3A5FB0"}, {"x": 1, "y": 0, "color": "#000000", "radius": 0.1}]'
    )
    assert hints == (Hint(0.42, 0.31, "#3a5fb0", 0.01), Hint(1.0, 0.0, "#000000", 0.1))
    assert parse_hints(hints_json(hints)) == hints
    assert parse_hints("") == parse_hints(None) == parse_hints("  ") == ()
    assert parse_hints("[]") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[{x: 1}]", "not valid JSON"),
        ('{"x": 0.5}', "JSON list"),
        ('[{"x": 1.5, "y": 0.5, "color": "#ffffff"}]', "x must be between 0.0 and 1.0"),
        ('[{"x": 0.5, "y": -0.1, "color": "#ffffff"}]', "y must be between"),
        ('[{"x": 0.5, "y": 0.5, "color": "blue"}]', 'color must be "#RRGGBB"'),
        ('[{"x": 0.5, "y": 0.5, "color": "#fff"}]', 'color must be "#RRGGBB"'),
        ('[{"x": "0.5", "y": 0.5, "color": "#ffffff"}]', "x must be a number"),
        ('[{"x": true, "y": 0.5, "color": "#ffffff"}]', "x must be a number"),
        ('[{"x": 0.5, "color": "#ffffff"}]', "needs y"),
        ('[{"x": 0.5, "y": 0.5, "color": "#ffffff", "size": 3}]', "unknown keys size"),
        ('[{"x": 0.5, "y": 0.5, "color": "#ffffff", "radius": 0}]', "radius must be above 0"),
        ('[{"x": 0.5, "y": 0.5, "color": "#ffffff", "radius": 0.9}]', "radius must be between"),
        ("[3]", "must be an object"),
        (json.dumps([{"x": 0.5, "y": 0.5, "color": "#ffffff"}] * (MAX_HINTS + 1)), f"at most {MAX_HINTS}"),
    ],
)
def test_bad_hints_are_refused_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(InvalidOption, match=says) as e:
        parse_hints(text)
    assert e.value.field == "hints" and "Expected JSON like" in str(e.value)


@pytest.mark.parametrize("color", ["#3a5fb0", "#ff0000", "#00ff00", "#808080", "#f0e0c0", "#123456"])
def test_a_hints_colour_is_told_as_its_lab_ab(color: str) -> None:
    rgb = np.array([[[int(color[i : i + 2], 16) for i in (1, 3, 5)]]], np.uint8)
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0]
    a, b = srgb_hex_to_ab(color)
    assert abs(a - lab[1]) < 0.3 and abs(b - lab[2]) < 0.3


# ---- where a hint lands ----


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", [(300, 200), (120, 360), (97, 97)])
def test_a_hint_lands_where_the_plan_moves_its_pixel(policy: str, shape: tuple[int, int]) -> None:
    h, w = shape
    plan = make_plan(shape, 64, policy, 32)
    for rel_y, rel_x in ((0.3, 0.6), (0.5, 0.5), (0.8, 0.15)):
        src = np.zeros(shape, np.float32)
        r, c = int(rel_y * h), int(rel_x * w)
        src[max(0, r - 2) : r + 3, max(0, c - 2) : c + 3] = 1.0  # a small blob: survives shrinking
        placed = place_hints([Hint(rel_x, rel_y, "#ff0000")], plan)
        if policy == "center-crop" and not placed:
            continue  # cut off by the crop: left out
        canvas = plan.apply(src)
        content = canvas.copy()
        if plan.pad_mode == "reflect":  # the padding mirrors the blob: look only at the content box
            t, l, ch, cw = plan.content
            content[:t], content[t + ch :], content[:, :l], content[:, l + cw :] = 0, 0, 0, 0
        ys, xs = np.nonzero(content > content.max() * 0.3)
        assert len(placed) == 1
        p = placed[0]
        assert abs(p.row - (ys.mean() + 0.5)) < 1.5 and abs(p.col - (xs.mean() + 0.5)) < 1.5, (policy, shape)


def test_center_crop_leaves_out_a_hint_it_cuts_off() -> None:
    plan = make_plan((100, 300), 64, "center-crop", 32)
    assert place_hints([Hint(0.02, 0.5, "#ff0000")], plan) == []
    assert len(place_hints([Hint(0.5, 0.5, "#ff0000")], plan)) == 1


def test_the_raster_holds_ab_and_mask_in_a_disc_of_the_radius() -> None:
    r = hint_raster([CanvasHint(10.0, 20.0, 3.0, 55.0, -22.0), CanvasHint(0.2, 0.2, 0.01, 1.0, 1.0)], (32, 40))
    assert r.shape == (3, 32, 40)
    m = r[2]
    assert m[10, 20] == 1 and m[10, 22] == 1 and m[10, 24] == 0
    assert m[0, 0] == 1, "a tiny hint still marks the pixel under it"
    assert np.allclose(r[0][m > 0][: int(m.sum()) - 1].max(), 55.0 / 110.0)
    assert int(m.sum()) == 1 + int(
        ((np.arange(32)[:, None] + 0.5 - 10) ** 2 + (np.arange(40) + 0.5 - 20) ** 2 <= 9).sum()
    )


# ---- the decoder's hint input ----


def test_hint_paths_start_as_nothing_and_no_hints_are_zeros() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(TINY_DECODER, VGG16_CHANNELS)
    hinted = HypercolumnDecoder(replace(TINY_DECODER, hint_channels=3), VGG16_CHANNELS)
    state = plain.state_dict()
    w = state["stem.0.weight"]
    state["stem.0.weight"] = torch.cat([w, torch.zeros(w.shape[0], 3, 3, 3)], 1)  # as the trainer grows it
    missing, unexpected = hinted.load_state_dict(state, strict=False)
    assert not unexpected and missing and all(k.startswith("hints.") for k in missing)
    f, l = vgg_features(), torch.rand(2, 1, 32, 32) * 2 - 1
    hints = hints_at(torch.rand(2, 2, 32, 32) * 80 - 40, [3, 5], np.random.default_rng(0)).canvas
    for a, b, c in zip(plain(f, l), hinted(f, l), hinted(f, l, hints)):
        assert torch.equal(a, b) and torch.equal(a, c), "zero-initialised: the same function until it learns"
    for conv in hinted.hints or []:
        torch.nn.init.normal_(conv.weight)
    torch.nn.init.normal_(hinted.stem[0].weight)
    assert all(torch.equal(a, b) for a, b in zip(hinted(f, l), hinted(f, l, torch.zeros_like(hints))))
    moved = hinted(f, l, hints)
    assert not torch.allclose(moved[0], hinted(f, l)[0]), "hints reach the class head"
    assert not torch.allclose(moved[1], hinted(f, l)[1]), "and the regression head"
    with pytest.raises(ValueError, match="no hint input"):
        plain(f, l, hints)


def test_a_model_without_hint_input_refuses_hints(tmp_path: Path) -> None:
    from model import Colorizer

    from engine_helpers import tiny_generator

    c = Colorizer(tiny_generator(), 32)
    assert not c.takes_hints
    with pytest.raises(InvalidOption, match="no hint input") as e:
        c.options(hints='[{"x": 0.5, "y": 0.5, "color": "#3a5fb0"}]')
    assert e.value.field == "hints"
    assert c.options(hints="[]").hints == ()


def test_hints_change_the_colour_through_the_network_and_keep_the_photos_lightness() -> None:
    from model import Colorizer
    from model.color import lightness

    from engine_helpers import photo_array, tiny_generator

    c = Colorizer(tiny_generator(hints=True), 32, precision="float32")
    assert c.takes_hints
    photo = photo_array(90, 120)
    from PIL import Image

    img = Image.fromarray(photo)
    plain = c(img).pixels
    hinted = c(img, c.options(hints='[{"x": 0.5, "y": 0.5, "color": "#3a5fb0", "radius": 0.1}]')).pixels
    assert np.abs(hinted.astype(int) - plain).mean() > 1
    assert np.abs(lightness(hinted).astype(int) - lightness(photo)).max() <= 1, "the exact-L guarantee holds"


def test_a_hint_companion_file_takes_the_hints_and_the_main_file_keeps_the_automatic_colours(tmp_path: Path) -> None:
    """`NAME-hints.safetensors` beside `NAME.safetensors`: colorizations with hints go through it, those without
    stay exactly the main model's; a companion of another render size is refused at load."""
    from PIL import Image

    from model import CheckpointError, Colorizer
    from model.pipeline import hint_companion

    from engine_helpers import photo_array, tiny_weights

    main = tiny_weights(tmp_path / "g.safetensors", seed=1)
    plain = Colorizer.from_checkpoint(main, precision="float32")
    assert not plain.takes_hints
    tiny_weights(hint_companion(main), seed=2, hints=True)
    both = Colorizer.from_checkpoint(main, precision="float32")
    assert both.takes_hints and both.hint_model is not None
    assert both.hint_model.encoder is not both.model.encoder, "a trained encoder (none) is each model's own"
    img = Image.fromarray(photo_array(40, 56))
    assert np.array_equal(both(img).pixels, plain(img).pixels), "no hints: the main model's colours, exactly"
    hinted = both(img, both.options(hints='[{"x": 0.5, "y": 0.5, "color": "#2040d0", "radius": 0.2}]'))
    assert not np.array_equal(hinted.pixels, plain(img).pixels)
    tiny_weights(hint_companion(main), seed=2, hints=True, render_size=64)
    with pytest.raises(CheckpointError, match="not a hint model"):
        Colorizer.from_checkpoint(main)


def test_a_propagating_hint_model_serves_hints_in_every_precision(tmp_path: Path) -> None:
    """A hint companion with the propagation path loads strictly and its hints change the result in float32
    and in the default precision (bf16 on a CPU that has it) alike; without hints, the main model's colours."""
    from PIL import Image

    from model import Colorizer
    from model.pipeline import hint_companion

    from engine_helpers import photo_array, tiny_weights

    main = tiny_weights(tmp_path / "g.safetensors", seed=1)
    tiny_weights(hint_companion(main), seed=2, hints=True, propagate=True)
    img = Image.fromarray(photo_array(40, 56))
    asked = '[{"x": 0.3, "y": 0.5, "color": "#2040d0"}, {"x": 0.8, "y": 0.2, "color": "#d04020"}]'
    results = {}
    for precision in ("float32", "auto"):
        c = Colorizer.from_checkpoint(main, precision=precision)
        assert c.hint_model is not None and c.hint_model.decoder.spread is not None
        plain, hinted = c(img).pixels, c(img, c.options(hints=asked)).pixels
        assert np.abs(hinted.astype(int) - plain).mean() > 1, precision
        results[precision] = hinted
    assert np.abs(results["auto"].astype(int) - results["float32"]).mean() < 3, "bf16 follows float32"
