"""The hint propagation's learned floor: it starts as the plain fading (a decoder grown with it computes exactly
what it computed), and once raised, cells that trust a hint less than the floor get none of its colour while
the hinted cell keeps nearly all of it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model.architectures.hint_propagation import HintPropagation
from model.architectures.hypercolumn import HypercolumnConfig, HypercolumnDecoder

TINY = HypercolumnConfig(width=16, stem=8, hint_channels=3, propagate=True)
CHANNELS = (256, 512, 512)


def _feats() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    return tuple(torch.rand(2, c, s, s, generator=g) for c, s in zip(CHANNELS, (8, 4, 2)))


def test_a_decoder_grown_with_the_floor_computes_exactly_what_it_did() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(TINY, CHANNELS)
    floored = HypercolumnDecoder(replace(TINY, propagate_floor=True), CHANNELS)
    missing, unexpected = floored.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["spread.floor"] and not unexpected
    for conv in (plain.spread.to4, plain.spread.to2):  # type: ignore[union-attr]
        torch.nn.init.normal_(conv.weight)  # a trained propagation: its colour reaches the decoder
    floored.load_state_dict(plain.state_dict(), strict=False)
    f, l = _feats(), torch.rand(2, 1, 32, 32) * 2 - 1
    hints = torch.zeros(2, 3, 32, 32)
    hints[0, :, 8:12, 8:12] = torch.tensor([0.6, -0.3, 1.0])[:, None, None]
    for a, b in zip(plain(f, l, hints), floored(f, l, hints)):
        assert torch.equal(a, b), "at 0 the floor is the plain fading"


def test_a_raised_floor_cuts_look_alikes_keeps_the_hinted_cell_and_learns() -> None:
    spread = HintPropagation(8, 4, floor=True)
    trust = torch.tensor([[-0.5, 0.0, 0.38, 0.6, 0.95]])
    start = spread.fading(trust)
    assert torch.equal(start, trust.clamp(min=0.0)), "starts as the plain fading"
    start.sum().backward()
    assert spread.floor.grad is not None and spread.floor.grad < 0, "and can leave 0"  # type: ignore[union-attr]
    spread.floor.grad = None  # type: ignore[union-attr]
    with torch.no_grad():
        spread.floor.fill_(0.5)  # type: ignore[union-attr]
    passed = spread.fading(trust)
    assert torch.equal(passed[0, :3], torch.zeros(3)), "below the floor: nothing carried (a face under a blouse)"
    assert passed[0, 3].item() == pytest.approx(0.2) and passed[0, 4].item() == pytest.approx(0.9), "above it, rescaled"
    passed.sum().backward()
    assert spread.floor.grad is not None and spread.floor.grad < 0, "the loss can move the floor"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="needs propagate"):
        from model.architectures.hypercolumn import HypercolumnGenerator

        HypercolumnGenerator(replace(TINY, encoder="none", propagate=False, propagate_floor=True))
