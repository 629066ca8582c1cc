"""Hints placed on the render canvas and rasterised as the decoder's hint input (a·m, b·m, m)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .color import AB_SCALE
from .geometry import Plan
from .hints import Hint

HINT_CHANNELS = 3  # a·m and b·m (/ AB_SCALE) and the mask m


@dataclass(frozen=True)
class CanvasHint:
    """A hint placed on the render canvas: centre (row, col) and radius in canvas pixels."""

    row: float
    col: float
    radius: float
    a: float
    b: float


def hint_raster(points: Sequence[CanvasHint], shape: tuple[int, int]) -> np.ndarray:
    """(3, h, w) float32: a·m and b·m (/ AB_SCALE) and the mask m, one filled disc per hint (at least the
    pixel under its centre); later hints cover earlier ones."""
    h, w = shape
    out = np.zeros((HINT_CHANNELS, h, w), np.float32)
    rows, cols = np.arange(h, dtype=np.float32)[:, None] + 0.5, np.arange(w, dtype=np.float32)[None, :] + 0.5
    for p in points:
        disc = (rows - p.row) ** 2 + (cols - p.col) ** 2 <= max(p.radius, 0.5) ** 2
        r, c = int(min(h - 1, max(0, p.row))), int(min(w - 1, max(0, p.col)))
        disc[r, c] = True
        out[0][disc], out[1][disc], out[2][disc] = p.a / AB_SCALE, p.b / AB_SCALE, 1.0
    return out


def place_hints(hints: Sequence[Hint], plan: Plan) -> list[CanvasHint]:
    """The user's hints (relative to the photo as displayed, radius relative to its width) on the canvas;
    a hint on a part of the photo the canvas does not show (center-crop) is left out."""
    h, w = plan.source
    out = []
    for hint in hints:
        placed = plan.to_canvas(hint.y * h, hint.x * w)
        if placed is not None:
            a, b = hint.ab
            out.append(CanvasHint(placed[0], placed[1], hint.radius * w * placed[2], a, b))
    return out
