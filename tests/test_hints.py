"""Colour hints in the engine: the JSON format and its checks, the colour's a/b, where a hint lands on
the render canvas under every aspect policy, and a decoder whose hint paths start as nothing and reach
the result only through the network (never painted over it)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from model import InvalidOption
from model.architectures.hint_propagation import pool_hints
from model.architectures.hypercolumn import HypercolumnConfig, HypercolumnDecoder
from model.errors import ConfigError
from model.geometry import make_plan
from model.hint_canvas import CanvasHint, hint_raster, place_hints
from model.hints import MAX_HINTS, Hint, hints_json, parse_hints, srgb_hex_to_ab
from model.options import POLICIES
from model.training.hint_sampling import hints_at, simulate_hints

TINY = HypercolumnConfig(width=16, stem=8)
CHANNELS = (256, 512, 512)


def _feats(b: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(b, c, s, s, generator=g) for c, s in zip(CHANNELS, (8, 4, 2)))


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
    plain = HypercolumnDecoder(TINY, CHANNELS)
    hinted = HypercolumnDecoder(replace(TINY, hint_channels=3), CHANNELS)
    state = plain.state_dict()
    w = state["stem.0.weight"]
    state["stem.0.weight"] = torch.cat([w, torch.zeros(w.shape[0], 3, 3, 3)], 1)  # as the trainer grows it
    missing, unexpected = hinted.load_state_dict(state, strict=False)
    assert not unexpected and missing and all(k.startswith("hints.") for k in missing)
    f, l = _feats(), torch.rand(2, 1, 32, 32) * 2 - 1
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


def test_pooled_hints_keep_a_one_pixel_hint_at_the_coarsest_scale() -> None:
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 40, 9] = torch.tensor([0.5, -0.25, 1.0])
    pooled = pool_hints(hints, torch.zeros(1, 8, 4, 4))
    assert pooled[0, 2].sum() == 1 and pooled[0, 2, 2, 0] == 1
    assert torch.allclose(pooled[0, :2, 2, 0], torch.tensor([0.5, -0.25]))


def _two_region_features() -> tuple[torch.Tensor, torch.Tensor]:
    """relu3_3-like maps whose left half (columns 0-3) is one thing and right half another; relu4_3 alike."""
    f3 = torch.zeros(2, 6, 8, 8)
    f3[:, 0, :, :4], f3[:, 1, :, 4:] = 1.0, 1.0
    f4 = torch.zeros(2, 4, 8, 8)  # at relu3_3's grid here: brought to it unchanged, the halves stay sharp
    f4[:, 0, :, :4], f4[:, 1, :, 4:] = 2.0, 2.0
    return f3, f4


def _hint_at(hints: torch.Tensor, item: int, row: int, col: int, a: float, b: float) -> None:
    hints[item, :, row, col] = torch.tensor([a, b, 1.0])


def test_propagation_carries_a_hint_to_what_looks_like_its_cell_and_nowhere_else() -> None:
    from model.architectures.hint_propagation import HintPropagation

    spread = HintPropagation(8, 4).requires_grad_(False)
    f3, f4 = _two_region_features()
    hints = torch.zeros(2, 3, 32, 32)
    _hint_at(hints, 0, 5, 3, 0.5, -0.25)  # one hint on the left of photo 0; photo 1 has none
    l = torch.zeros(2, 1, 32, 32)  # one lightness: the features alone decide
    carried = spread(f3, f4, l, hints)
    assert carried is not None
    out = carried.inputs
    assert out.shape == (2, 3, 8, 8)
    left, right = out[0, :, :, :4], out[0, :, :, 4:]
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    near = 1 - spread.distance_weight * ((rows - 1) ** 2 + cols**2) / 64  # the hint's cell is (1, 0) of 8 x 8
    assert torch.allclose(left[2], near[:, :4], atol=1e-5), "trusted where the features match, less far away"
    want = torch.tensor([0.5, -0.25])[:, None, None] * near[:, :4].clamp(min=0)
    assert torch.allclose(left[:2], want, atol=1e-5), "the whole left half, faded as it is trusted"
    assert float(left[2, 1, 0]) == pytest.approx(1.0) and float(left[2, 7, 3]) < 0.4, "a look-alike across the photo"
    assert float(right[2].max()) < 0.01, "not where they differ"
    assert not out[1].any(), "a photo without hints gets nothing, whatever its neighbours in the batch"
    spread.distance_weight.fill_(0.0)  # from here the features and lightness alone
    _hint_at(hints, 0, 20, 28, -0.4, 0.3)  # a second hint on the right
    carried = spread(f3, f4, l, hints)
    assert carried is not None
    two = carried.inputs
    assert torch.allclose(two[0, :2, :, :4], torch.tensor([0.5, -0.25])[:, None, None], atol=1e-3)
    assert torch.allclose(two[0, :2, :, 4:], torch.tensor([-0.4, 0.3])[:, None, None], atol=1e-3), "each its own"
    assert spread(f3, f4, l, torch.zeros(2, 3, 32, 32)) is None, "no hint in the batch: nothing computed"
    l[0, :, :16] = 1.0  # the top half, where the left hint is, lighter: its colour is trusted less below
    carried = spread(f3, f4, l, hints)
    assert carried is not None
    lit = carried.inputs
    assert float(lit[0, 2, :4, :4].min()) > 0.99, "as lit as the hinted spot: trusted"
    assert float(lit[0, 2, 4:, :4].max()) < 0.01, "darker: no more than the unlike right half's hint"


def test_the_propagation_path_starts_as_nothing_and_then_moves_only_hinted_photos() -> None:
    torch.manual_seed(0)
    hinted = HypercolumnDecoder(replace(TINY, hint_channels=3), CHANNELS)
    spread = HypercolumnDecoder(replace(TINY, hint_channels=3, propagate=True), CHANNELS)
    missing, unexpected = spread.load_state_dict(hinted.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == [
        f"spread.{k}" for k in ("distance_weight", "lightness_weight", "log_temperature", "to2.weight", "to4.weight")
    ]
    f, l = _feats(), torch.rand(2, 1, 32, 32) * 2 - 1
    hints = torch.zeros(2, 3, 32, 32)
    _hint_at(hints, 0, 12, 12, 0.6, 0.2)
    for a, b in zip(hinted(f, l, hints), spread(f, l, hints)):
        assert torch.equal(a, b), "zero-initialised: the same function until it learns"
    torch.nn.init.normal_(spread.spread.to4.weight)  # type: ignore[union-attr]
    torch.nn.init.normal_(spread.spread.to2.weight)  # type: ignore[union-attr]
    moved, alone = spread(f, l, hints), spread(f, l)
    assert not torch.allclose(moved[0][0], alone[0][0]) and not torch.allclose(moved[1][0], alone[1][0])
    assert torch.equal(moved[0][1], alone[0][1]) and torch.equal(moved[1][1], alone[1][1]), "the unhinted photo"
    with pytest.raises(ValueError, match="needs hint_channels"):
        from model.architectures.hypercolumn import HypercolumnGenerator

        HypercolumnGenerator(replace(TINY, encoder="none", propagate=True))


def test_the_gate_takes_in_the_carried_colour_where_trusted_and_leaves_unhinted_photos_exactly_alone() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(replace(TINY, hint_channels=3, propagate=True), CHANNELS)
    gated = HypercolumnDecoder(replace(TINY, hint_channels=3, propagate=True, propagate_gate=True), CHANNELS)
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("spread.gate.") for k in missing)
    f, l = _feats(), torch.rand(2, 1, 32, 32) * 2 - 1
    for a, b in zip(plain(f, l), gated(f, l)):
        assert torch.equal(a, b), "no hints: the gate is never asked"
    hints = torch.zeros(2, 3, 32, 32)
    hints[0, :, 8:16, 8:16] = torch.tensor([0.6, -0.3, 1.0])[:, None, None]  # photo 1 has none
    (lp, ap), (lg, ag) = plain(f, l, hints), gated(f, l, hints)
    assert torch.equal(lp, lg), "the class head is not gated"
    assert torch.equal(ap[1], ag[1]), "an unhinted photo keeps exactly its own colours beside a hinted one"
    want = torch.tensor([0.6, -0.3])[:, None, None]
    err_plain, err_gated = ((ap[0, :, 4:8, 4:8] - want).abs().mean(), (ag[0, :, 4:8, 4:8] - want).abs().mean())
    assert err_gated < 0.3 * err_plain, "at the hinted spot the carried colour is taken in"
    loss = (ag[0] - want).abs().mean()
    loss.backward()
    gate = gated.spread.gate  # type: ignore[union-attr]
    assert gate is not None and gate.ramp.weight.grad is not None and gate.out.weight.grad.abs().sum() > 0
    from model.architectures.hypercolumn import HypercolumnGenerator

    with pytest.raises(ValueError, match="needs propagate"):
        HypercolumnGenerator(replace(TINY, encoder="none", hint_channels=3, propagate_gate=True))


def test_wrong_colour_hints_are_followed_around_their_spot_and_nowhere_else() -> None:
    from model.color import AB_SCALE
    from model.training.hint_sampling import WrongHint, wrong_targets

    g = torch.Generator().manual_seed(0)
    ab = torch.rand(4, 2, 32, 32, generator=g) * 80 - 40
    plain = simulate_hints(ab, np.random.default_rng(3), p_none=0.0)
    same = simulate_hints(ab, np.random.default_rng(3), p_none=0.0, p_wrong=0.0)
    assert torch.equal(plain.canvas, same.canvas) and not plain.wrong and not same.wrong
    one = hints_at(ab, [0, 1, 0, 0], np.random.default_rng(5), p_wrong=1.0)
    assert len(one.wrong) == 1 and one.wrong[0].photo == 1
    hint = one.wrong[0]
    r, c, side = hint.row, hint.col, hint.side
    patch = ab[1, :, r : r + side, c : c + side].mean((1, 2))
    held = one.canvas[1, :2, r, c] * AB_SCALE
    assert torch.allclose(held - patch, torch.tensor(hint.shift), atol=1e-3), "the shift: hinted minus true colour"
    assert len(simulate_hints(ab, np.random.default_rng(3), p_none=0.0, p_wrong=1.0).wrong) >= 4
    gray = simulate_hints(torch.zeros_like(ab), np.random.default_rng(4), p_none=0.0, p_wrong=1.0).canvas
    hinted = gray[:, 2] > 0
    assert hinted.any() and bool((gray[:, :2].abs().amax(1) > 0)[hinted].all()), "colours a gray photo does not have"

    # a photo of two things: a gray wall (left) and a reddish dress (right, from column 16); a blue hint on the dress
    lab = torch.zeros(1, 3, 64, 64)
    lab[0, 0] = 50.0
    lab[0, 0, :, 16:] = 30.0
    lab[0, 1, :, 16:] = 30.0
    shift = (-10.0 - 30.0, -40.0 - 0.0)
    want = wrong_targets(lab, [WrongHint(0, 30, 40, 3, shift)])
    assert torch.allclose(want[0, :, 31, 41], torch.tensor([-10.0, -40.0])), "its own patch takes the colour"
    assert (want[0, :, 31, 46] - lab[0, 1:, 31, 46]).norm() > 0.8 * torch.tensor(shift).norm(), "so does the dress"
    assert (want[0, :, :, :16] - lab[0, 1:, :, :16]).abs().max() < 1, "the wall does not look like the dress"
    assert (want[0, :, :4, 60:] - lab[0, 1:, :4, 60:]).abs().max() < 1.5, "the far corner keeps its colour"
    assert torch.equal(wrong_targets(lab, []), lab[:, 1:]), "no wrong hints: the photo's own colours"


def test_simulated_hints_carry_their_patch_mean_and_none_on_about_half() -> None:
    ab = torch.zeros(64, 2, 32, 32)
    ab[:, 0] = 40.0
    ab[:, 1, :, 16:] = -30.0
    h = simulate_hints(ab, np.random.default_rng(1)).canvas
    counts = (h[:, 2].flatten(1).sum(1) > 0).float()
    assert 0.3 < 1 - counts.mean() < 0.7
    m = h[:, 2] > 0
    assert torch.allclose(h[:, 0][m], torch.full_like(h[:, 0][m], 40 / 110))
    assert (h[:, 1][m] <= 0).all() and (h[:, 1][m] >= -30 / 110 - 1e-6).all()
    assert (h[:, :2][~m.unsqueeze(1).expand(-1, 2, -1, -1)] == 0).all()


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


def test_warm_start_grows_hint_paths_from_zero_and_they_learn_faster(tmp_path: Path) -> None:
    from model.checkpoint import read_generator
    from model.training.generator_trainer import train
    from model.training.recipe import Recipe

    from engine_helpers import write_photos

    photos = str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent)
    g = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4)
    base = dict(
        photos=photos, size=32, batch_size=4, min_colorfulness=0.0, eval_photos=0, steps=2
    )  # threads left alone: a later in-process test would inherit them
    quiet = {"log": lambda *a: None}
    train(Recipe(generator=g, **base), tmp_path / "plain", **quiet)  # type: ignore[arg-type]
    init = str(tmp_path / "plain" / "latest.safetensors")
    grown = replace(g, hint_channels=3)
    recipe = Recipe(generator=grown, init=init, hint_lr_scale=10.0, ema=0.0, **{**base, "steps": 0})  # type: ignore[arg-type]
    t = train(recipe, tmp_path / "hinted", **quiet)
    old, new = read_generator(init).state, read_generator(tmp_path / "hinted" / "latest.safetensors").state
    stem = new["decoder.stem.0.weight"]
    assert stem.shape[1] == 4 and torch.equal(stem[:, :1], old["decoder.stem.0.weight"]) and not stem[:, 1:].any()
    assert all(not new[k].any() for k in new if ".hints." in k), "hint paths start at zero"
    lrs = sorted((g["lr"], len(g["params"])) for g in t.opt.param_groups)
    assert len(lrs) == 2 and lrs[1][0] == pytest.approx(10 * lrs[0][0]) and lrs[1][1] == 3, lrs
    t2 = train(replace(recipe, steps=3), tmp_path / "hinted", **quiet)
    learned = read_generator(tmp_path / "hinted" / "latest.safetensors").state
    assert t2.step == 3 and any(learned[k].any() for k in learned if ".hints." in k), "and then they learn"


def test_warm_start_from_a_hint_file_grows_the_propagation_at_the_hint_rate(tmp_path: Path) -> None:
    from model.checkpoint import read_generator
    from model.training.generator_trainer import train
    from model.training.recipe import Recipe

    from engine_helpers import write_photos

    photos = str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent)
    g = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4, hint_channels=3)
    base = dict(photos=photos, size=32, batch_size=4, min_colorfulness=0.0, eval_photos=0, steps=2)
    quiet = {"log": lambda *a: None}
    train(Recipe(generator=g, **base), tmp_path / "hinted", **quiet)  # type: ignore[arg-type]
    init = str(tmp_path / "hinted" / "latest.safetensors")
    recipe = Recipe(generator=replace(g, propagate=True), init=init, hint_lr_scale=10.0, ema=0.0, **base)  # type: ignore[arg-type]
    t = train(replace(recipe, steps=0), tmp_path / "spread", **quiet)
    new = read_generator(tmp_path / "spread" / "latest.safetensors").state
    assert not new["decoder.spread.to4.weight"].any() and not new["decoder.spread.to2.weight"].any()
    fast = max(t.opt.param_groups, key=lambda group: group["lr"])
    names = {id(p): n for n, p in t.net.named_parameters()}
    assert {names[id(p)].removeprefix("decoder.").split(".")[0] for p in fast["params"]} == {"hints", "spread"}
    with pytest.raises(ConfigError, match="another shape"):  # a propagating file does not shrink back
        shrunk = replace(recipe, init=str(tmp_path / "spread" / "latest.safetensors"), generator=g)
        train(shrunk, tmp_path / "x", **quiet)


def test_only_hints_training_leaves_the_automatic_colours_exactly_as_they_were(tmp_path: Path) -> None:
    from model import Colorizer
    from model.training.generator_trainer import train
    from model.training.recipe import Recipe

    from engine_helpers import photo_array, write_photos

    photos = str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent)
    g = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4, decode="regression")
    base = dict(
        photos=photos, size=32, batch_size=4, min_colorfulness=0.0, eval_photos=0
    )  # threads left alone (see above)
    quiet = {"log": lambda *a: None}
    train(Recipe(generator=g, steps=3, **base), tmp_path / "plain", **quiet)  # type: ignore[arg-type]
    init = str(tmp_path / "plain" / "latest.safetensors")
    recipe = Recipe(
        generator=replace(g, hint_channels=3),
        init=init,
        only_hints=True,
        hint_lr_scale=10.0,
        hint_p_none=0.0,
        steps=4,
        **base,  # type: ignore[arg-type]
    )
    t = train(recipe, tmp_path / "hinted", **quiet)
    assert t.step == 4 and sum(p.requires_grad for p in t.net.parameters()) == 4  # 3 hint convs + the stem's
    before = Colorizer.from_checkpoint(init, precision="float32")
    after = Colorizer.from_checkpoint(tmp_path / "hinted" / "latest.safetensors", precision="float32")
    from PIL import Image

    img = Image.fromarray(photo_array(48, 64))
    assert np.array_equal(before(img).pixels, after(img).pixels), "no hints: exactly the colours of the init"
    hinted = after(img, after.options(hints='[{"x": 0.5, "y": 0.5, "color": "#2040d0", "radius": 0.1}]'))
    assert not np.array_equal(hinted.pixels, after(img).pixels), "and the hint paths learned"


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


def test_the_matchings_learned_correction_starts_as_nothing_and_then_changes_whom_a_cell_follows() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(replace(TINY, hint_channels=3, propagate=True), CHANNELS)
    ranked = HypercolumnDecoder(replace(TINY, hint_channels=3, propagate=True, propagate_rank=4), CHANNELS)
    missing, unexpected = ranked.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["spread.down.weight", "spread.up.weight"]
    spread = ranked.spread
    assert spread is not None and spread.up is not None
    f3, f4, _ = _feats()
    hints = torch.zeros(2, 3, 32, 32)
    _hint_at(hints, 0, 5, 3, 0.5, -0.25)
    _hint_at(hints, 0, 20, 28, -0.4, 0.3)
    l = torch.zeros(2, 1, 32, 32)
    assert plain.spread is not None
    before, after = plain.spread(f3, f4, l, hints), spread(f3, f4, l, hints)
    assert before is not None and after is not None
    assert torch.equal(before.inputs, after.inputs), "zero-initialised: the same"
    with torch.no_grad():
        torch.nn.init.normal_(spread.up.weight)
    moved = spread(f3, f4, l, hints)
    assert moved is not None and not torch.allclose(before.inputs, moved.inputs), "it learns whom to follow"


def test_the_spread_loss_scores_the_carried_colour_where_it_is_trusted_on_hinted_photos_only() -> None:
    from model.color import AB_SCALE
    from model.training.color_losses import spread_loss

    ab = torch.zeros(2, 2, 16, 16)
    ab[:, 0, :, :8] = 0.5 * AB_SCALE  # the left half's true a: 0.5 (ab / AB_SCALE)
    mixture = torch.zeros(2, 2, 4, 4)
    mixture[:, 0, :, :2] = 0.5  # right on the left, 0 on the right where the truth is 0 too
    trust = torch.ones(2, 1, 4, 4)
    hinted = torch.tensor([True, False])
    assert float(spread_loss(mixture, trust, ab, hinted)) == pytest.approx(0.0)
    mixture[0, 0, :, 2:] = 0.4  # photo 0 carries the left colour into its right half
    err = float(spread_loss(mixture, trust, ab, hinted))
    assert err == pytest.approx(0.4 * 8 / (2 * 16)), "half the cells off by 0.4 in a, over both channels"
    trust[0, :, :, 2:] = 0.0  # ... where nothing is trusted: no cost
    assert float(spread_loss(mixture, trust, ab, hinted)) == pytest.approx(0.0)
    mixture[1] = 1.0  # the unhinted photo carries nothing that counts
    assert float(spread_loss(mixture, trust, ab, hinted)) == pytest.approx(0.0)


def test_training_with_spread_focus_teaches_the_matching_from_a_propagating_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model.checkpoint import read_generator
    from model.training import generator_trainer
    from model.training.generator_trainer import train
    from model.training.recipe import Recipe

    from engine_helpers import write_photos

    photos = str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent)
    g = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4, hint_channels=3, propagate=True)
    base = dict(photos=photos, size=32, batch_size=4, min_colorfulness=0.0, eval_photos=0, hint_p_none=0.0)
    lines: list[str] = []
    monkeypatch.setattr(generator_trainer, "LOG_EVERY", 1)
    train(Recipe(generator=g, steps=1, **base), tmp_path / "spread", log=lambda *a: None)  # type: ignore[arg-type]
    init = str(tmp_path / "spread" / "latest.safetensors")
    grown = replace(g, propagate_rank=4, propagate_gate=True)
    recipe = Recipe(generator=grown, init=init, spread_focus=1.0, ema=0.0, steps=3, **base)  # type: ignore[arg-type]
    train(recipe, tmp_path / "matched", log=lambda *a: lines.append(" ".join(map(str, a))))
    state = read_generator(tmp_path / "matched" / "latest.safetensors").state
    assert state["decoder.spread.up.weight"].abs().sum() > 0, "the correction learned from zero"
    assert state["decoder.spread.gate.out.weight"].abs().sum() > 0, "the gate's look at the features too"
    assert any("matching rank 0 -> 4, gate False -> True" in s for s in lines)
    assert all(float(s.split(" spread ")[1].split()[0]) > 0 for s in lines if s.startswith("step")), "and is logged"
    assert sum(s.startswith("step") for s in lines) == 3
