"""Training a hint decoder: simulated hints (true and wrong colours), warm starts that grow the hint paths and
the propagation from zero at the hint rate, hint-only training, and the spread loss that teaches the matching."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.architectures.hypercolumn import HypercolumnConfig
from model.errors import ConfigError
from model.training.hint_sampling import hints_at, simulate_hints


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


def test_warm_start_grows_hint_paths_from_zero_and_they_learn_faster(tmp_path: Path) -> None:
    from model.checkpoint import read_generator
    from model.training.recipe import Recipe
    from model.training.training_run import train

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
    from model.training.recipe import Recipe
    from model.training.training_run import train

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
    from model.training.recipe import Recipe
    from model.training.training_run import train

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
    from model.training import run_plots
    from model.training.recipe import Recipe
    from model.training.training_run import train

    from engine_helpers import write_photos

    photos = str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent)
    g = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4, hint_channels=3, propagate=True)
    base = dict(photos=photos, size=32, batch_size=4, min_colorfulness=0.0, eval_photos=0, hint_p_none=0.0)
    lines: list[str] = []
    monkeypatch.setattr(run_plots, "LOG_EVERY", 1)
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
