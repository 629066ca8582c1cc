"""Hints simulated from the photo itself, for training and for measuring hints (Zhang et al. 2017):
small square patches carrying the true mean ab of the patch, placed around the middle of the photo."""

from __future__ import annotations

import numpy as np
import torch

from ..color import AB_SCALE
from ..hint_canvas import HINT_CHANNELS


def simulate_hints(
    ab: torch.Tensor, rng: np.random.Generator, p_none: float = 0.5, max_points: int = 10, max_patch: int = 5
) -> torch.Tensor:
    """(B, 2, H, W) true ab -> (B, 3, H, W) hints: per photo none with probability `p_none`, else 1 to
    `max_points` patches of 1 to `max_patch` pixels a side, centred at a Gaussian around the middle
    (sigma = a quarter of the side, Zhang et al.'s), each holding its patch's mean ab."""
    counts = np.where(rng.random(ab.shape[0]) < p_none, 0, rng.integers(1, max_points + 1, ab.shape[0]))
    return hints_at(ab, [int(n) for n in counts], rng, max_patch)


def hints_at(ab: torch.Tensor, counts: list[int], rng: np.random.Generator, max_patch: int = 5) -> torch.Tensor:
    """(B, 2, H, W) true ab -> hints with exactly counts[i] patches on photo i."""
    b, _, h, w = ab.shape
    out = torch.zeros((b, HINT_CHANNELS, h, w), dtype=torch.float32, device=ab.device)
    for i, n in enumerate(counts):
        for _ in range(n):
            s = int(rng.integers(1, max_patch + 1))
            r = int(np.clip(rng.normal(h / 2, h / 4), 0, h - s))
            c = int(np.clip(rng.normal(w / 2, w / 4), 0, w - s))
            mean = ab[i, :, r : r + s, c : c + s].float().mean((1, 2)) / AB_SCALE
            out[i, :2, r : r + s, c : c + s] = mean[:, None, None]
            out[i, 2, r : r + s, c : c + s] = 1.0
    return out
