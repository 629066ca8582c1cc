"""The hint propagation: pooled hints on the encoder's grid, a hint's colour carried to the cells that look like
its own and nowhere else, the path and gate that start as nothing, and the matching's learned correction."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model.architectures.hint_propagation import pool_hints
from model.architectures.hypercolumn import HypercolumnDecoder

from engine_helpers import TINY_DECODER, VGG16_CHANNELS, vgg_features


def _two_region_features() -> tuple[torch.Tensor, torch.Tensor]:
    """relu3_3-like maps whose left half (columns 0-3) is one thing and right half another; relu4_3 alike."""
    f3 = torch.zeros(2, 6, 8, 8)
    f3[:, 0, :, :4], f3[:, 1, :, 4:] = 1.0, 1.0
    f4 = torch.zeros(2, 4, 8, 8)  # at relu3_3's grid here: brought to it unchanged, the halves stay sharp
    f4[:, 0, :, :4], f4[:, 1, :, 4:] = 2.0, 2.0
    return f3, f4


def _hint_at(hints: torch.Tensor, item: int, row: int, col: int, a: float, b: float) -> None:
    hints[item, :, row, col] = torch.tensor([a, b, 1.0])


def test_pooled_hints_keep_a_one_pixel_hint_at_the_coarsest_scale() -> None:
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 40, 9] = torch.tensor([0.5, -0.25, 1.0])
    pooled = pool_hints(hints, torch.zeros(1, 8, 4, 4))
    assert pooled[0, 2].sum() == 1 and pooled[0, 2, 2, 0] == 1
    assert torch.allclose(pooled[0, :2, 2, 0], torch.tensor([0.5, -0.25]))


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
    hinted = HypercolumnDecoder(replace(TINY_DECODER, hint_channels=3), VGG16_CHANNELS)
    spread = HypercolumnDecoder(replace(TINY_DECODER, hint_channels=3, propagate=True), VGG16_CHANNELS)
    missing, unexpected = spread.load_state_dict(hinted.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == [
        f"spread.{k}" for k in ("distance_weight", "lightness_weight", "log_temperature", "to2.weight", "to4.weight")
    ]
    f, l = vgg_features(), torch.rand(2, 1, 32, 32) * 2 - 1
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

        HypercolumnGenerator(replace(TINY_DECODER, encoder="none", propagate=True))


def test_the_gate_takes_in_the_carried_colour_where_trusted_and_leaves_unhinted_photos_exactly_alone() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(replace(TINY_DECODER, hint_channels=3, propagate=True), VGG16_CHANNELS)
    gated = HypercolumnDecoder(
        replace(TINY_DECODER, hint_channels=3, propagate=True, propagate_gate=True), VGG16_CHANNELS
    )
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("spread.gate.") for k in missing)
    f, l = vgg_features(), torch.rand(2, 1, 32, 32) * 2 - 1
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
        HypercolumnGenerator(replace(TINY_DECODER, encoder="none", hint_channels=3, propagate_gate=True))


def test_the_matchings_learned_correction_starts_as_nothing_and_then_changes_whom_a_cell_follows() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(replace(TINY_DECODER, hint_channels=3, propagate=True), VGG16_CHANNELS)
    ranked = HypercolumnDecoder(
        replace(TINY_DECODER, hint_channels=3, propagate=True, propagate_rank=4), VGG16_CHANNELS
    )
    missing, unexpected = ranked.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["spread.down.weight", "spread.up.weight"]
    spread = ranked.spread
    assert spread is not None and spread.up is not None
    f3, f4, _ = vgg_features()
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
