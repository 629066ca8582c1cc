"""Hints simulated from the photo itself, for training and for measuring hints (Zhang et al. 2017):
small square patches carrying the true mean ab of the patch, placed around the middle of the photo."""

from __future__ import annotations

import numpy as np
import torch

from ..color import AB_SCALE
from ..hint_canvas import HINT_CHANNELS
from ..hints import Hint


def simulate_hints(
    ab: torch.Tensor,
    rng: np.random.Generator,
    p_none: float = 0.5,
    max_points: int = 10,
    max_patch: int = 5,
    p_wrong: float = 0.0,
) -> torch.Tensor:
    """(B, 2, H, W) true ab -> (B, 3, H, W) hints: per photo none with probability `p_none`, else 1 to
    `max_points` patches of 1 to `max_patch` pixels a side, centred at a Gaussian around the middle
    (sigma = a quarter of the side, Zhang et al.'s), each holding its patch's mean ab, or with probability
    `p_wrong` a random colour (`wrong_targets` then says what the photo should look like)."""
    counts = np.where(rng.random(ab.shape[0]) < p_none, 0, rng.integers(1, max_points + 1, ab.shape[0]))
    return hints_at(ab, [int(n) for n in counts], rng, max_patch, p_wrong)


def hints_at(
    ab: torch.Tensor, counts: list[int], rng: np.random.Generator, max_patch: int = 5, p_wrong: float = 0.0
) -> torch.Tensor:
    """(B, 2, H, W) true ab -> hints with exactly counts[i] patches on photo i."""
    b, _, h, w = ab.shape
    out = torch.zeros((b, HINT_CHANNELS, h, w), dtype=torch.float32, device=ab.device)
    for i, n in enumerate(counts):
        for _ in range(n):
            s = int(rng.integers(1, max_patch + 1))
            r = int(np.clip(rng.normal(h / 2, h / 4), 0, h - s))
            c = int(np.clip(rng.normal(w / 2, w / 4), 0, w - s))
            mean = ab[i, :, r : r + s, c : c + s].float().mean((1, 2)) / AB_SCALE
            if p_wrong and rng.random() < p_wrong:  # within the gamut's usual reach: |a|, |b| <= 60
                mean = torch.as_tensor(rng.uniform(-60, 60, 2) / AB_SCALE, dtype=mean.dtype, device=mean.device)
            out[i, :2, r : r + s, c : c + s] = mean[:, None, None]
            out[i, 2, r : r + s, c : c + s] = 1.0
    return out


def wrong_targets(ab: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) true ab and the hints given -> what the result should be: the photo's own colours except on
    each hint's own patch, which takes the hinted colour (a true hint's is its patch's mean, nearly what was
    there; a wrong one is followed where it was put and nowhere else)."""
    hinted = hints[:, 2:3] > 0
    return torch.where(hinted, hints[:, :2].to(ab.dtype) * AB_SCALE, ab)


def truth_hints(rgb: np.ndarray, n: int, rng: np.random.Generator, radius: float = 0.01) -> tuple[Hint, ...]:
    """n hints a user who knew the colours could give (the evaluation protocol): points at a Gaussian around
    the middle (as in training), each the photo's mean colour in a square of side 2·radius·width there.
    The same rng and photo give the same points, and the first k of n are those of k."""
    h, w = rgb.shape[:2]
    half = max(1, round(radius * w))
    out = []
    for _ in range(n):
        y = float(np.clip(rng.normal(0.5, 0.25), 0.0, 1.0))
        x = float(np.clip(rng.normal(0.5, 0.25), 0.0, 1.0))
        r, c = min(h - 1, int(y * h)), min(w - 1, int(x * w))
        patch = rgb[max(0, r - half) : r + half + 1, max(0, c - half) : c + half + 1].reshape(-1, rgb.shape[-1])
        mean = np.clip(patch[:, :3].astype(np.float64).mean(0).round(), 0, 255).astype(int)
        out.append(Hint(x, y, "#{:02x}{:02x}{:02x}".format(*mean), radius))
    return tuple(out)
