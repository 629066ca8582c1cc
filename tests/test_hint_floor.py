"""The hint propagation's floor: cells that trust a hint less than it get none of its colour while the hinted
cell keeps nearly all of it; at 0 it is the plain fading. A setting, not weights: a file trained without it
loads strictly into a decoder with it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model.architectures.hint_propagation import HintPropagation
from model.architectures.hypercolumn import HypercolumnDecoder

from engine_helpers import TINY_DECODER, VGG16_CHANNELS, vgg_features

TINY = replace(TINY_DECODER, hint_channels=3, propagate=True)


def test_the_floor_cuts_look_alikes_and_keeps_the_hinted_cell() -> None:
    trust = torch.tensor([[-0.5, 0.0, 0.38, 0.6, 0.95]])
    assert torch.equal(HintPropagation(8, 4).fading(trust), trust.clamp(min=0.0)), "no floor: the trust itself"
    passed = HintPropagation(8, 4, floor=0.5).fading(trust)
    assert torch.equal(passed[0, :3], torch.zeros(3)), "below the floor: nothing carried (a face under a blouse)"
    assert passed[0, 3].item() == pytest.approx(0.2) and passed[0, 4].item() == pytest.approx(0.9), "above, rescaled"
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="propagate_floor"):
            HintPropagation(8, 4, floor=bad)


def test_a_floor_changes_only_what_hints_reach_and_loads_a_file_trained_without_it() -> None:
    torch.manual_seed(0)
    plain = HypercolumnDecoder(TINY, VGG16_CHANNELS)
    for conv in (plain.spread.to4, plain.spread.to2):  # type: ignore[union-attr]
        torch.nn.init.normal_(conv.weight)  # a trained propagation: its colour reaches the decoder
    floored = HypercolumnDecoder(replace(TINY, propagate_floor=0.6), VGG16_CHANNELS)
    floored.load_state_dict(plain.state_dict(), strict=True)
    f, l = vgg_features(seed=1), torch.rand(2, 1, 32, 32) * 2 - 1
    for a, b in zip(plain(f, l), floored(f, l)):
        assert torch.equal(a, b), "no hints: nothing to fade"
    hints = torch.zeros(2, 3, 32, 32)
    hints[0, :, 8:12, 8:12] = torch.tensor([0.6, -0.3, 1.0])[:, None, None]
    (_, ap), (_, af) = plain(f, l, hints), floored(f, l, hints)
    assert torch.equal(ap[1], af[1]), "the unhinted photo beside a hinted one is untouched"
    assert not torch.allclose(ap[0], af[0]), "the hinted photo's look-alikes are faded"
    spread = floored.spread
    assert spread is not None
    carried = spread(*f[:2], l, hints)
    assert carried is not None
    passed = spread.fading(carried.trust)
    assert torch.equal(carried.inputs[0, 2:], passed[0]), "the decoder sees the trust above the floor, rescaled"
    assert ((carried.trust[0] > 0) & (passed[0] == 0)).any(), "and no trust at all for a look-alike under it"
    with pytest.raises(ValueError, match="needs propagate"):
        from model.architectures.hypercolumn import HypercolumnGenerator

        HypercolumnGenerator(replace(TINY, encoder="none", propagate=False, propagate_floor=0.3))
