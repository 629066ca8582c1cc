"""Hints simulated from the photo itself, for training and for measuring hints (Zhang et al. 2017):
small square patches carrying the true mean ab of the patch, placed around the middle of the photo."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..color import AB_SCALE
from ..hint_canvas import HINT_CHANNELS
from ..hints import Hint


class WrongHint(NamedTuple):
    """A simulated hint of a colour the photo does not have: where it sits and how far it moves the colour."""

    photo: int
    row: int
    col: int
    side: int
    shift: tuple[float, float]  # the hinted ab minus the patch's true mean ab


class SimulatedHints(NamedTuple):
    canvas: torch.Tensor  # (B, 3, H, W): ab / AB_SCALE and the mask, what the decoder gets
    wrong: list[WrongHint]  # the hints whose colour is not the photo's: `wrong_targets` says what they mean


def simulate_hints(
    ab: torch.Tensor,
    rng: np.random.Generator,
    p_none: float = 0.5,
    max_points: int = 10,
    max_patch: int = 5,
    p_wrong: float = 0.0,
) -> SimulatedHints:
    """(B, 2, H, W) true ab -> hints: per photo none with probability `p_none`, else 1 to `max_points`
    patches of 1 to `max_patch` pixels a side, centred at a Gaussian around the middle (sigma = a quarter of
    the side, Zhang et al.'s), each holding its patch's mean ab, or with probability `p_wrong` a random
    colour (`wrong_targets` then says what the photo should look like)."""
    counts = np.where(rng.random(ab.shape[0]) < p_none, 0, rng.integers(1, max_points + 1, ab.shape[0]))
    return hints_at(ab, [int(n) for n in counts], rng, max_patch, p_wrong)


def hints_at(
    ab: torch.Tensor, counts: list[int], rng: np.random.Generator, max_patch: int = 5, p_wrong: float = 0.0
) -> SimulatedHints:
    """(B, 2, H, W) true ab -> hints with exactly counts[i] patches on photo i."""
    b, _, h, w = ab.shape
    out = torch.zeros((b, HINT_CHANNELS, h, w), dtype=torch.float32, device=ab.device)
    wrong = []
    for i, n in enumerate(counts):
        for _ in range(n):
            s = int(rng.integers(1, max_patch + 1))
            r = int(np.clip(rng.normal(h / 2, h / 4), 0, h - s))
            c = int(np.clip(rng.normal(w / 2, w / 4), 0, w - s))
            mean = ab[i, :, r : r + s, c : c + s].float().mean((1, 2)) / AB_SCALE
            if p_wrong and rng.random() < p_wrong:  # within the gamut's usual reach: |a|, |b| <= 60
                true = mean
                mean = torch.as_tensor(rng.uniform(-60, 60, 2) / AB_SCALE, dtype=mean.dtype, device=mean.device)
                shift = ((mean - true) * AB_SCALE).tolist()
                wrong.append(WrongHint(i, r, c, s, (shift[0], shift[1])))
            out[i, :2, r : r + s, c : c + s] = mean[:, None, None]
            out[i, 2, r : r + s, c : c + s] = 1.0
    return SimulatedHints(out, wrong)


def wrong_targets(lab: torch.Tensor, wrong: list[WrongHint], reach: float = 0.15, alike: float = 10.0) -> torch.Tensor:
    """(B, 3, H, W) the photos' true Lab and their wrong hints -> the ab the result should have: a wrong hint
    says the thing it was put on has another colour (the dress was blue), so its shift is taken by its own patch
    and, fading, by the pixels around it that look like the patch (Lab within ~`alike`, a Gaussian of
    `reach` x the width around it); far away, and on things unlike it, the photo keeps its own colours.
    This is what teaches a decoder to carry a hint only as far as the photo says it belongs: true hints alone
    reward spreading one colour over every look-alike in the photo."""
    ab = lab[:, 1:].clone()
    if not wrong:
        return ab
    h, w = lab.shape[-2:]
    yy = torch.arange(h, device=lab.device, dtype=lab.dtype)[:, None]
    xx = torch.arange(w, device=lab.device, dtype=lab.dtype)[None, :]
    for hint in wrong:
        i, r, c, s = hint.photo, hint.row, hint.col, hint.side
        true = lab[i, :, r : r + s, c : c + s].mean((1, 2))
        near = ((yy - (r + (s - 1) / 2)) ** 2 + (xx - (c + (s - 1) / 2)) ** 2) / (reach * w) ** 2
        like = ((lab[i] - true[:, None, None]) ** 2).sum(0) / alike**2
        weight = torch.exp(-0.5 * (near + like))
        weight[r : r + s, c : c + s] = 1.0
        ab[i] += weight * torch.as_tensor(hint.shift, dtype=lab.dtype, device=lab.device)[:, None, None]
    return ab


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
