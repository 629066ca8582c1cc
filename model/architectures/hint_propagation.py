"""Hints carried to the pixels that resemble them: attention from every 1/4-scale cell to the hinted cells,
over the frozen encoder's own features.

A clicked colour belongs to a thing (a dress, a barn), not to a disc around the click; convolutions alone
spread it a few cells. Here each cell of the 1/4 grid looks at every hinted cell: its similarity is the cosine
of the two cells' features (relu3_3 with relu4_3 brought to its grid) less a learned weight times their
difference in lightness (one garment is rarely both dark and light) and another times their squared distance
(a blue hint on a wrist is about that sleeve, not about a gray tent across the photo that VGG finds just as
alike: its all-positive features make every smooth mid-gray region look similar), the hinted colours are mixed by the
softmax of those similarities at a learned temperature, and the best similarity says how much that mixture can
be trusted. The result, (a, b, confidence) per cell, is one more input of the decoder, joined through
zero-initialised 1x1 convs at 1/4 (where the class head decides the colour) and at 1/2 (where the regression
head meets the edges): a decoder given this path computes exactly what it computed before until it learns to
use it, and a photo without hints gets exactly nothing from it. Nothing is painted over the output: whether and
how the carried colour shows is the decoder's to decide. (Measured before training, painting the carried colour
over the automatic one with 5 hints from the photos' own colours took CIEDE2000 on 60 `imagenet_ood` photos from
11.1 to 7.4 with the features alone and to 6.7 with the lightness term; the hint decoder without this path: 10.4
on 40 of them.)

A trained decoder still under-used what is carried (an added input can shift its colour, not replace it): the
optional `HintGate` lets the decoder take the carried colour in place of its own where it judges it belongs, by
a learned per-pixel gate; with no hints the gate is exactly closed. (Measured before it existed, with a fixed
linear ramp of the trust from -0.3 to 0.7 over the then shipped hint decoder's output: 5 hints, CIEDE2000 on 60
`imagenet_ood` photos 7.16 -> 6.57, on 150 7.10 -> 6.69.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

UNHINTED = -1e4  # the similarity to a padded (not hinted) slot: never chosen, and a photo's trust when it has none


def zero_conv(cin: int, cout: int) -> nn.Conv2d:
    """A 1x1 conv without bias that starts at zero: a hint path added to a trained decoder changes nothing
    until it learns, and no hints (all zeros) add exactly nothing, before and after."""
    conv = nn.Conv2d(cin, cout, 1, bias=False)
    nn.init.zeros_(conv.weight)
    return conv


def pool_hints(hints: torch.Tensor, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(B, 3, H, W) hints (a·m, b·m, m) -> the same at `like`'s grid: each cell holds the mean hinted ab of
    the hints inside it and a mask of 1 wherever any hint falls, so a one-pixel hint is not averaged
    away at 1/16 scale. In `like`'s dtype unless `dtype` is given."""
    pooled = F.adaptive_avg_pool2d(hints.float(), (like.shape[-2], like.shape[-1]))
    m = pooled[:, 2:3]
    present = (m > 0).to(pooled.dtype)
    ab = pooled[:, :2] / m.clamp(min=1e-6) * present
    return torch.cat([ab, present], 1).to(dtype or like.dtype)


def _cell_positions(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(h·w, 2) each cell's centre, row-major, in units of the grid's longer side."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return (torch.stack([ys, xs], -1).reshape(-1, 2).float() + 0.5) / max(h, w)


class Carried(NamedTuple):
    """What the propagation gives the decoder, at relu3_3's grid."""

    inputs: torch.Tensor  # (B, 3, h, w): the carried (a, b) faded by the trust, and the trust; `to4`/`to2` join it
    mixture: torch.Tensor  # (B, 2, h, w): the carried (a, b) / AB_SCALE, not faded (the gate's colour)
    trust: torch.Tensor  # (B, 1, h, w): the best similarity to a hinted cell; UNHINTED on a photo without hints


class HintGate(nn.Module):
    """(decoder features at 1/2, its own ab, the carried colour and trust brought to 1/2) -> its ab with the
    carried colour taken in where a learned gate opens. The gate starts as a sigmoid ramp of the trust alone
    (`opens`: the trust where it is half open, `width`: the trust over which it goes from 12 % to 88 %) plus a
    zero-initialised look at the features, so it can learn edges and where the carried colour is wrong."""

    def __init__(self, width2: int, opens: float = 0.2, width: float = 1.0, hidden: int = 16):
        super().__init__()
        slope = 4.0 / width  # a sigmoid's slope at its middle is a quarter of its input's
        self.ramp = nn.Conv2d(1, 1, 1)
        nn.init.constant_(self.ramp.weight, slope)
        nn.init.constant_(self.ramp.bias, -slope * opens)  # type: ignore[arg-type]
        self.look = nn.Sequential(nn.Conv2d(width2 + 5, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.out = zero_conv(hidden, 1)

    def forward(self, h: torch.Tensor, own: torch.Tensor, carried: Carried) -> torch.Tensor:
        size = own.shape[-2:]
        mixture = F.interpolate(carried.mixture, size=size, mode="bilinear", align_corners=False).to(own.dtype)
        trust = F.interpolate(carried.trust.clamp(min=-10.0), size=size, mode="bilinear", align_corners=False)
        trust = trust.to(h.dtype)
        seen = self.look(torch.cat([h, own, mixture, trust], 1))
        gate = torch.sigmoid(self.ramp(trust) + self.out(seen)).to(own.dtype)
        hinted = (carried.trust.flatten(1).amax(1) > UNHINTED / 2).to(own.dtype)[:, None, None, None]
        return own + gate * hinted * (mixture - own)  # a photo without hints: exactly its own colours


class HintPropagation(nn.Module):
    """(relu3_3, relu4_3, L and hints at the input's size) -> `Carried`: (a, b) and confidence at relu3_3's
    grid, or None when no photo of the batch has a hint; `to4`/`to2` bring it into the decoder, `gate` (if any)
    into its output."""

    def __init__(
        self,
        width4: int,
        width2: int,
        temperature: float = 0.1,
        lightness_weight: float = 1.5,
        distance_weight: float = 2.0,
        channels: int = 0,
        rank: int = 0,
        gate: bool = False,
        floor: float = 0.0,
    ):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.lightness_weight = nn.Parameter(torch.tensor(lightness_weight))  # per unit of L in [-1, 1]
        self.distance_weight = nn.Parameter(torch.tensor(distance_weight))  # per squared side of the grid
        self.to4 = zero_conv(3, width4)
        self.to2 = zero_conv(3, width2)
        # A learned low-rank correction of the features hints are matched by (`channels`: relu3_3's plus
        # relu4_3's): the encoder's own cosine says "alike" for textures of any colour; starting at zero, so
        # the matching begins as the frozen features' own and learns which of their directions mean "same colour".
        self.down = nn.Conv2d(channels, rank, 1, bias=False) if rank else None
        self.up = zero_conv(rank, channels) if rank else None
        self.gate = HintGate(width2) if gate else None
        # A trust below which neither the carried colour nor the trust reaches the decoder: a face's cells trust a
        # blouse's at ~0.4, which the 1x1 convs cannot tell from a match. Fixed, not learned: left to the loss (the
        # training photos' casts reward carrying a colour far) a learned floor fell below 0 within 50 steps.
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"propagate_floor {floor}: a trust in [0, 1)")
        self.floor = floor
        # training only: the hinted colours as mixed (before any fading) and the trust in them, for `spread_loss`
        self.mixture: tuple[torch.Tensor, torch.Tensor] | None = None

    def fading(self, confidence: torch.Tensor) -> torch.Tensor:
        """How much of the carried colour a cell passes on: its trust above the floor, rescaled so that a hinted
        cell's own (trust ~1) keeps nearly all of it; at floor 0, the trust itself, from 0 up."""
        if not self.floor:
            return confidence.clamp(min=0.0)
        return (confidence - self.floor).clamp(min=0.0) / (1 - self.floor)

    def embedding(self, f3: torch.Tensor, f4: torch.Tensor) -> torch.Tensor:
        """(B, C3+C4, h, w) unit vectors: both depths weigh alike (each normalised before they are joined)."""
        f3 = F.normalize(f3.float(), dim=1)
        f4 = F.normalize(F.interpolate(f4.float(), size=f3.shape[-2:], mode="bilinear", align_corners=False), dim=1)
        x = torch.cat([f3, f4], 1)
        if self.down is not None and self.up is not None:
            x = x + self.up(self.down(x.to(self.down.weight.dtype))).float()  # weights in bf16 when served so
        return F.normalize(x, dim=1)

    def forward(self, f3: torch.Tensor, f4: torch.Tensor, l: torch.Tensor, hints: torch.Tensor) -> Carried | None:
        pooled = pool_hints(hints, f3, torch.float32)  # (B, 3, h, w): mean hinted ab per cell, 1 where any hint falls
        present = pooled[:, 2].flatten(1)  # (B, h·w)
        k = int(present.sum(1).max().item())
        if k == 0:
            return None
        emb = self.embedding(f3, f4)  # (B, C, h, w)
        b, c, h, w = emb.shape
        taken, idx = present.topk(k, dim=1)  # the hinted cells first; a photo with fewer pads with unhinted ones
        valid = taken > 0  # (B, K)
        keys = emb.flatten(2).gather(2, idx[:, None].expand(b, c, k))  # (B, C, K)
        colours = pooled[:, :2].flatten(2).gather(2, idx[:, None].expand(b, 2, k))  # (B, 2, K)
        light = F.adaptive_avg_pool2d(l.float(), (h, w)).flatten(1)  # (B, h·w) mean L of each cell
        sim = torch.einsum("bck,bcn->bkn", keys, emb.flatten(2))  # (B, K, h·w) cosines
        sim = sim - self.lightness_weight * (light[:, None, :] - light.gather(1, idx)[:, :, None]).abs()
        yx = _cell_positions(h, w, sim.device)  # (h·w, 2) in units of the grid's longer side
        near = ((yx[idx][:, :, None] - yx[None, None]) ** 2).sum(-1)  # (B, K, h·w) squared distances
        sim = sim - self.distance_weight * near
        sim = sim.masked_fill(~valid[:, :, None], UNHINTED)
        weights = torch.softmax(sim / self.log_temperature.exp(), dim=1) * valid[:, :, None]
        mixture = torch.einsum("bkn,bck->bcn", weights, colours).view(b, 2, h, w)
        confidence = sim.amax(1, keepdim=True).view(b, 1, h, w)
        self.mixture = (mixture, confidence) if self.training else None
        passed = self.fading(confidence)
        faded = mixture * passed  # faded where nothing hinted is alike or near: with one
        # hint the mixture is that hint's colour in every cell, so without this the decoder gets it everywhere
        anyone = valid.any(1).to(faded.dtype)[:, None, None, None]  # a photo without hints: all zeros
        # With a floor the decoder sees only the trust above it too: a half-trusted look-alike (a face beside a hinted
        # blouse) was grayed through the raw trust alone, its colour cut or not (bench/bench_hint_paths.py).
        inputs = torch.cat([faded, passed if self.floor else confidence], 1) * anyone
        return Carried(inputs.to(f3.dtype), mixture, confidence)
