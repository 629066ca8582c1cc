"""Model v3's levers: native-bf16 precision, aged inputs, a deeper decoder with global context grown
from a v2 decoder, rarity-weighted L1, and the neutral-tint measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from model import precision
from model.aging import aged_gray, aged_lightness, film_lightness
from model.architectures.hypercolumn import HypercolumnConfig, HypercolumnDecoder
from model.checkpoint import read_generator
from model.color import lightness, luminance
from model.training.color_losses import regression_loss
from model.training.discriminator import count_parameters
from model.training.generator_trainer import GeneratorTrainer
from model.training.metrics import hint_spill, neutral_tint
from model.training.onthefly import OnTheFlySource
from model.training.recipe import Recipe
from model.training.training_run import train

from engine_helpers import TINY_DECODER, VGG16_CHANNELS, tiny_training_recipe, vgg_features

# ---- precision ----


def test_precision_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert precision.resolve_precision("float32", cpu) == torch.float32
    with pytest.raises(precision.PrecisionError, match="unknown precision"):
        precision.resolve_precision("fp8", cpu)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert precision.resolve_precision("auto", cpu) == torch.float32, "never assumed"
    with pytest.raises(precision.PrecisionError, match="no native bf16"):
        precision.resolve_precision("bfloat16", cpu)
    assert "no native bf16" in precision.describe(torch.float32, cpu)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert precision.resolve_precision("auto", cpu) == torch.bfloat16
        assert "amx_bf16" in precision.describe(torch.bfloat16, cpu)


def test_cpu_flags_are_read_from_proc_cpuinfo() -> None:
    flags = precision.cpu_flags()
    if Path("/proc/cpuinfo").exists() and "flags" in Path("/proc/cpuinfo").read_text():
        assert "fpu" in flags or "sse2" in flags


# ---- aging ----


def _photo(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((size, size), Image.BICUBIC))


def test_aged_copy_is_deterministic_per_seed_and_name_and_gray() -> None:
    rgb = _photo()
    a, b = aged_gray(rgb, 3, "x.jpg", p=0.9), aged_gray(rgb, 3, "x.jpg", p=0.9)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, aged_gray(rgb, 4, "x.jpg", p=0.9))
    assert a.shape == rgb.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - a[..., :1]).max() <= 1, "an aged copy is gray"
    assert not np.array_equal(a, np.repeat(lightness(rgb)[..., None], 3, 2)), "and not the clean gray"


def test_aging_changes_the_input_within_range_and_p0_keeps_it() -> None:
    rgb = _photo(1, 128)
    clean = luminance(rgb)
    rng = np.random.default_rng(0)
    aged = [aged_lightness(rgb, rng, p=1.0) for _ in range(4)]
    for x in aged:
        assert x.shape == clean.shape and x.min() >= 0 and x.max() <= 100
        assert np.abs(x - clean).mean() > 1.0
    never = np.random.default_rng(0)
    same = [film_lightness(rgb, never, p_ortho=0.0) for _ in range(2)]
    assert np.allclose(same[0], clean, atol=0.05), "panchromatic film is the eye's lightness"


def test_orthochromatic_film_prints_red_dark_and_blue_light() -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 2] = 220
    rng = np.random.default_rng(0)
    assert film_lightness(red, rng, p_ortho=1.0).mean() < luminance(red).mean() - 10
    assert film_lightness(blue, rng, p_ortho=1.0).mean() > luminance(blue).mean() + 10


# ---- neutral tint ----


def test_neutral_tint_is_the_chroma_painted_on_neutral_pixels() -> None:
    real = np.full((16, 16, 3), 128, np.uint8)
    real[:, 8:] = (200, 40, 40)  # half neutral wall, half red
    assert neutral_tint(real, real) == pytest.approx(0.0, abs=0.5)
    green_wall = real.copy()
    green_wall[:, :8] = (110, 140, 110)
    assert neutral_tint(green_wall, real) > 10
    red_only = np.zeros((8, 8, 3), np.uint8)
    red_only[...] = (200, 40, 40)
    assert neutral_tint(red_only, red_only) is None


def test_hint_spill_is_the_error_a_hint_adds_on_things_of_other_colours() -> None:
    real = np.zeros((16, 16, 3), np.uint8)
    real[:, :8] = (60, 90, 170)  # a blue blouse
    real[:, 8:] = (200, 150, 120)  # a face
    blue_ab = cv2.cvtColor(real[:1, :1].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0, 1:]
    auto = np.full_like(real, 128)
    auto[:, :8] = (100, 100, 110)
    auto[:, 8:] = (180, 150, 135)  # the automatic face was warm, not quite right
    local = auto.copy()
    local[:, :8] = real[:, :8]  # a hint that fixed the blouse and nothing else
    spill, same = hint_spill(auto, local, real, blue_ab[None])
    assert spill == pytest.approx(0.0, abs=1e-9) and same < -5
    bled = local.copy()
    bled[:, 8:] = (150, 150, 170)  # ... and one whose blue reached the face
    assert hint_spill(auto, bled, real, blue_ab[None])[0] > 5
    blouse = np.s_[:, :8]
    assert hint_spill(auto[blouse], auto[blouse], real[blouse], blue_ab[None]) == (None, 0.0)  # no other colour


# ---- decoder growth ----


def test_grown_decoder_starts_as_the_decoder_it_grew_from_and_has_room_to_learn() -> None:
    torch.manual_seed(0)
    old = HypercolumnDecoder(TINY_DECODER, VGG16_CHANNELS)
    grown = HypercolumnDecoder(replace(TINY_DECODER, blocks=2, context=32), VGG16_CHANNELS)
    missing, unexpected = grown.load_state_dict(old.state_dict(), strict=False)
    assert (
        not unexpected
        and missing
        and all(k.split(".")[0] in ("res16", "res8", "res4", "res2", "context") for k in missing)
    )
    f, l = vgg_features(), torch.rand(2, 1, 32, 32) * 2 - 1
    for a, b in zip(old(f, l), grown(f, l)):
        assert torch.equal(a, b)
    assert count_parameters(grown) > 1.5 * count_parameters(old)
    # the context really carries the scene: after a step on the new weights, two scenes differ in bias
    grown.context.film[0].weight.data.normal_()  # type: ignore[union-attr]
    (out1,) = grown(f, l)[1:]
    f2 = tuple(x.flip(0) for x in f)
    assert not torch.allclose(out1, grown(f2, l)[1].flip(0))


def _trainer(tmp_path: Path, run: Path, **kw: object) -> GeneratorTrainer:
    """A trainer of `tiny_training_recipe(**kw)` on the CPU, stepped by hand."""
    r = tiny_training_recipe(tmp_path, run, **kw)
    return GeneratorTrainer(r, run, OnTheFlySource(r, torch.device("cpu")), "cpu", log=lambda *a: None)


def _v2_init(tmp_path: Path) -> str:
    """A tiny trained v2 decoder to warm-start from."""
    v2 = tmp_path / "v2"
    train(tiny_training_recipe(tmp_path, v2, precision="float32"), v2, log=lambda *a: None)
    return str(v2 / "latest.safetensors")


# a hint decoder grown from the v2 init, trained fast enough for a few steps to show
HINT_DECODER: dict[str, object] = dict(
    generator=replace(TINY_DECODER, hint_channels=3), precision="float32", lr=3e-3, ema=0.0
)


def test_warm_start_grows_a_v2_decoder_and_refuses_to_shrink(tmp_path: Path) -> None:
    quiet = {"log": lambda *a: None}
    init = _v2_init(tmp_path)
    v3 = tmp_path / "v3"
    grown = replace(TINY_DECODER, blocks=1, context=16)
    t = train(
        tiny_training_recipe(tmp_path, v3, init=init, generator=grown, age=1.0, l1_rebalance=0.9, rebalance=0.5),
        v3,
        **quiet,
    )
    assert t.step == 2
    gen = read_generator(v3 / "latest.safetensors")
    assert (gen.config.blocks, gen.config.context) == (1, 16)
    shrink = tmp_path / "shrink"
    with pytest.raises(ValueError, match="has another shape than this recipe"):
        train(tiny_training_recipe(tmp_path, shrink, init=str(v3 / "latest.safetensors")), shrink, **quiet)  # type: ignore[arg-type]


def test_bf16_training_step_runs_channels_last_and_tracks_float32(tmp_path: Path) -> None:
    if precision.resolve_precision("auto", torch.device("cpu")) != torch.bfloat16:
        pytest.skip("this CPU has no native bf16")
    losses = {}
    for name in ("float32", "bfloat16"):
        t = _trainer(tmp_path, tmp_path / name, precision=name, lr=0.0)  # lr 0: the same weights, compare the losses
        assert t.channels_last  # on the CPU, float32 too (measured faster)
        losses[name] = t.train_step()
    assert losses["bfloat16"]["l1"] == pytest.approx(losses["float32"]["l1"], rel=0.05)
    assert losses["bfloat16"]["ce"] == pytest.approx(losses["float32"]["ce"], rel=0.05)


def test_rarity_weighted_l1_is_plain_l1_under_uniform_weights() -> None:
    cfg = HypercolumnConfig()
    pred, ab = torch.rand(2, 2, 4, 4) * 2 - 1, torch.randn(2, 2, 4, 4) * 30
    ones = torch.ones(cfg.bins_per_axis**2)
    assert torch.allclose(regression_loss(pred, ab, ones, cfg), regression_loss(pred, ab))
    rare = ones.clone()
    rare[0] = 100.0  # a pixel in bin 0 now dominates
    ab[0, :, 0, 0] = -109.0
    assert regression_loss(pred, ab, rare, cfg) > regression_loss(pred, ab)


def test_settings_read_the_precision_once_and_refuse_unknown_names() -> None:
    from app.settings import Settings

    assert Settings.from_env({}).precision == "auto"
    assert Settings.from_env({"HEIRLOOM_PRECISION": "float32"}).precision == "float32"
    with pytest.raises(ValueError, match="precision"):
        Settings.from_env({"HEIRLOOM_PRECISION": "fp16"})


def test_float32_precision_keeps_float32_weights_and_a_forced_bf16_without_support_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from model.architectures.hypercolumn import HypercolumnGenerator
    from model.pipeline import Colorizer

    gen = HypercolumnGenerator(replace(TINY_DECODER, decode="regression"))
    c = Colorizer(gen, 64, "cpu", precision="float32")
    assert next(c.model.parameters()).dtype == torch.float32 and not c.channels_last
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.raises(precision.PrecisionError):
        Colorizer(HypercolumnGenerator(TINY_DECODER), 64, "cpu", precision="bfloat16")
    assert "float32" in Colorizer(HypercolumnGenerator(TINY_DECODER), 64, "cpu").precision  # auto falls back, says so


def test_whole_photo_views_are_the_photos_or_their_mirrors(tmp_path: Path) -> None:
    """crop_area 1.0: on-the-fly views as the feature cache sees them (no zoomed, resampled crops)."""
    r = tiny_training_recipe(tmp_path, tmp_path / "run", crop_area=1.0)
    source = OnTheFlySource(r, torch.device("cpu"))
    views = source.sample_photos(np.random.default_rng(0), 16)
    photos = [p.tobytes() for p in source.train_photos] + [p[:, ::-1].tobytes() for p in source.train_photos]
    assert all(v.tobytes() in photos for v in views)
    assert any(v.tobytes() in photos[len(source.train_photos) :] for v in views)  # some mirrored
    zoomed = OnTheFlySource(replace(r, crop_area=0.5), torch.device("cpu")).sample_photos(np.random.default_rng(0), 16)
    assert not all(v.tobytes() in photos for v in zoomed)


def test_hint_distill_keeps_the_automatic_colours_near_the_init(tmp_path: Path) -> None:
    """hint_distill: views without hints are pulled to the warm start's own colours (a frozen teacher), so a
    hint decoder trained with it drifts less from the automatic model than one trained without."""
    import copy

    from model.errors import ConfigError
    from model.training.held_back import lab_targets

    init = _v2_init(tmp_path)
    drift = {}
    for weight in (0.0, 100.0):
        t = _trainer(
            tmp_path, tmp_path / f"distill-{weight:g}", init=init, hint_distill=weight, hint_p_none=1.0, **HINT_DECODER
        )
        start = copy.deepcopy(t.net)  # the init's automatic colours
        first = t.train_step()
        assert ("distill" in first) == (weight > 0) and first.get("distill", 0.0) == 0.0  # the teacher is the init
        for _ in range(5):
            t.train_step()
        feats, rgb, _ = t.source.train_batch(np.random.default_rng(1), 4)
        l, _ = lab_targets(rgb, t.device)
        with torch.no_grad():
            drift[weight] = float((t.net(feats, l)[1] - start(feats, l)[1]).abs().mean())
    assert drift[100.0] < 0.5 * drift[0.0], drift
    with pytest.raises(ConfigError, match="hint_distill"):
        _trainer(tmp_path, tmp_path / "bad", hint_distill=1.0)  # no init, no hint channels


def test_far_from_hints_marks_what_no_hint_speaks_for() -> None:
    from model.color import AB_SCALE
    from model.training.color_losses import far_from_hints

    ab = torch.zeros((2, 2, 4, 4))
    ab[:, :, :, :2] = torch.tensor([-20.0, -40.0])[:, None, None]  # blue on the left
    ab[:, :, :, 2:] = torch.tensor([20.0, 25.0])[:, None, None]  # skin on the right
    hints = torch.zeros((2, 3, 8, 8))
    hints[0, :2, 2:4, 0:2] = torch.tensor([-18.0, -38.0])[:, None, None] / AB_SCALE  # a hint on the blue
    hints[0, 2, 2:4, 0:2] = 1.0
    far = far_from_hints(ab, hints, 20.0)
    assert far[0, 0, :, 2:].all() and not far[0, 0, :, :2].any()  # the skin is held, the blue is the hint's
    assert not far[1].any()  # a photo without hints holds nothing here (hint_distill's business)


def _drift_where_held(t: GeneratorTrainer, held_at: Callable[..., torch.Tensor]) -> float:
    """Seven steps of a hint trainer (the first one's hold term, if any, 0: held pixels start at the teacher's);
    then, on a fixed hinted batch, the mean change of its colours over the pixels `held_at(start, feats, l, ab,
    hints, size)` marks, `start` being the decoder before the steps."""
    import copy

    from model.training.held_back import photo_lab, targets_of
    from model.training.hint_sampling import simulate_hints

    start = copy.deepcopy(t.net)
    first = t.train_step()
    holds = t.recipe.hint_hold_far > 0
    assert ("hold_far" in first) == holds and first.get("hold_far", 0.0) == pytest.approx(0.0, abs=1e-6)
    for _ in range(6):
        t.train_step()
    feats, rgb, _ = t.source.train_batch(np.random.default_rng(1), 4)
    lab = photo_lab(rgb, t.device)
    l, ab = targets_of(lab)
    hints = simulate_hints(lab[:, 1:], np.random.default_rng(2), 0.0, 3).canvas
    with torch.no_grad():
        moved = (t.net(feats, l, hints)[1] - start(feats, l, hints)[1]).abs()
        held = held_at(start, feats, l, ab, hints, moved.shape[-2:])
    return float((moved * held).sum() / held.sum())


def test_hint_hold_far_keeps_other_colours_at_the_automatic_ones_on_hinted_views(tmp_path: Path) -> None:
    """hint_hold_far: on hinted views the pixels whose colour no hint gave are pulled to the teacher's
    automatic colours, so hints move them less than without it."""
    from model.errors import ConfigError
    from model.training.color_losses import far_from_hints

    def far(start, feats, l, ab, hints, size) -> torch.Tensor:  # type: ignore[no-untyped-def]
        out = far_from_hints(ab, hints, 20.0)
        assert out.any()
        return out

    init = _v2_init(tmp_path)
    drift = {}
    for weight in (0.0, 100.0):
        t = _trainer(
            tmp_path,
            tmp_path / f"hold-{weight:g}",
            init=init,
            hint_distill=1.0,
            hint_hold_far=weight,
            hint_p_none=0.0,
            hint_lr_scale=10,
            **HINT_DECODER,
        )
        drift[weight] = _drift_where_held(t, far)
    assert drift[100.0] < 0.5 * drift[0.0], drift
    with pytest.raises(ConfigError, match="hint_distill"):
        _trainer(tmp_path, tmp_path / "bad", init=init, hint_hold_far=1.0, **HINT_DECODER)
    with pytest.raises(ConfigError, match="hint_hold_far"):
        _trainer(tmp_path, tmp_path / "bad2", init=init, hint_distill=1.0, hint_hold_close=10.0, **HINT_DECODER)
    narrow = _trainer(
        tmp_path,
        tmp_path / "close",
        init=init,
        hint_distill=1.0,
        hint_hold_far=1.0,
        hint_hold_close=10.0,
        hint_p_none=0.0,
        **HINT_DECODER,
    )
    assert narrow.train_step()["hold_far"] == pytest.approx(0.0, abs=1e-6)  # held pixels start at the teacher's


def test_close_to_marks_pixels_whose_colour_is_already_right() -> None:
    from model.color import AB_SCALE
    from model.training.color_losses import close_to

    ab = torch.zeros((1, 2, 2, 2))
    ab[0, 0] = torch.tensor([[10.0, 10.0], [-30.0, 0.0]])
    pred = torch.zeros_like(ab)
    pred[0, 0] = torch.tensor([[13.0, 40.0], [-30.0, 9.0]]) / AB_SCALE
    pred[0, 1, 1, 1] = 4.0 / AB_SCALE  # (9, 4) vs (0, 0): 9.8 ab away
    got = close_to(pred, ab, 10.0)
    assert got.shape == (1, 1, 2, 2)
    assert got[0, 0].tolist() == [[True, False], [True, True]]
    assert not close_to(pred, ab, 9.0)[0, 0, 1, 1]


def test_hint_hold_where_untrusted_holds_what_no_hint_reaches(tmp_path: Path) -> None:
    """hint_hold_where='untrusted': on hinted views the pixels whose propagation trust is under the floor are pulled
    to the teacher's automatic colours (so hints move them less than without the hold); needs the floor."""
    from model.errors import ConfigError
    from model.training.color_losses import far_from_hints, untrusted

    def unreached(start, feats, l, ab, hints, size) -> torch.Tensor:  # type: ignore[no-untyped-def]
        start.train()  # the propagation keeps its trust for the loss only while training
        start(feats, l, hints)
        spread = start.spread
        out = untrusted(spread.mixture[1], spread.floor, size)
        assert out.any() and not out.all(), "some pixels are reached, some are not"
        return out

    init = _v2_init(tmp_path)
    floored = dict(HINT_DECODER, generator=replace(TINY_DECODER, hint_channels=3, propagate=True, propagate_floor=0.5))
    drift = {}
    for weight in (0.0, 100.0):
        hold = dict(hint_hold_far=weight, hint_hold_where="untrusted") if weight else {}
        t = _trainer(
            tmp_path, tmp_path / f"trust-{weight:g}", init=init, hint_distill=1.0, hint_p_none=0.0, **hold, **floored
        )
        drift[weight] = _drift_where_held(t, unreached)
    assert drift[100.0] < 0.5 * drift[0.0], drift
    # What is held, exactly: on hinted views the pixels whose (upsampled) trust is under the floor, whatever their
    # colour (here every pixel is far from the hint's, so "far" would hold all of the hinted view); nothing else.
    obj = t.hint_objective
    assert obj.spread is not None
    trust = torch.full((2, 1, 4, 4), 0.9)
    trust[:, :, 2:] = 0.1  # the bottom half of the cells under the floor (0.5)
    ab = torch.zeros(2, 2, 8, 8)
    ab[:, 0] = 40.0
    hints = torch.zeros(2, 3, 16, 16)
    hints[0, :, 0, 0] = torch.tensor([-0.3, -0.3, 1.0])  # view 0 has a blue hint, view 1 none
    hinted = torch.tensor([True, False])
    obj.spread.mixture = (torch.zeros(2, 2, 4, 4), trust)
    held = obj._held(ab, hints, hinted, ab.shape[-2:])
    assert torch.equal(held, untrusted(trust, 0.5, (8, 8)) & hinted[:, None, None, None])
    assert held[0, 0, 4:].all() and not held[0, 0, :4].any() and not held[1].any()
    assert far_from_hints(ab, hints, 20.0)[0].all(), "the colour-keyed hold would take the whole hinted view"
    obj.spread.mixture = None  # a batch without hints: nothing carried, nothing held
    assert not obj._held(ab, hints, hinted, ab.shape[-2:]).any()
    for bad, match in (
        (dict(hint_hold_far=1.0, hint_hold_where="untrusted"), "propagate_floor"),  # no floor
        (dict(hint_hold_far=1.0, hint_hold_where="near"), "one of far, untrusted"),
    ):
        with pytest.raises(ConfigError, match=match):
            _trainer(tmp_path, tmp_path / "bad", init=init, hint_distill=1.0, **bad, **HINT_DECODER)
    with pytest.raises(ConfigError, match="hint_hold_where"):  # refused as the recipe loads, not at the first step
        Recipe.from_dict({"hint_hold_where": "near"})


def test_untrusted_marks_the_pixels_under_the_floor() -> None:
    from model.training.color_losses import untrusted

    trust = torch.tensor([[[[0.9, 0.9], [0.2, -3.0]]]])
    got = untrusted(trust, 0.5, (4, 4))
    assert got.shape == (1, 1, 4, 4)
    assert not got[0, 0, :1].any() and got[0, 0, 3:].all(), "the top row reached, the bottom row not"
