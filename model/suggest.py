"""The colours the model itself finds plausible at one spot of a photo: its class head's distribution
there (Zhang et al. 2017's suggested-colour palette), the most likely distinct ab bins, each shown with
the photo's own lightness at that spot, as #rrggbb."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from .architectures.hypercolumn import ab_bin_centers
from .color import lightness, normalize_l, to_lstar
from .geometry import make_plan
from .options import ColorizeOptions
from .photo_io import Photo

if TYPE_CHECKING:
    from .pipeline import Colorizer

MIN_SHARE = 0.03  # a colour less likely than this is not offered, unless fewer than AT_LEAST are
AT_LEAST = 3  # a family always has a choice


def _hex(l: float, a: float, b: float) -> str:
    """An sRGB colour with this L*, a, b; chroma halved until it is inside the gamut (as `join_l_ab`)."""
    for _ in range(6):
        lab = np.array([[[l, a, b]]], np.float32)
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)[0, 0]
        back = cv2.cvtColor(np.clip(rgb, 0, 1)[None, None].astype(np.float32), cv2.COLOR_RGB2Lab)[0, 0]
        if abs(back[0] - l) < 2 and abs(back[1] - a) < 4 and abs(back[2] - b) < 4:
            break
        a, b = a / 2, b / 2
    r, g, bl = (int(round(float(v) * 255)) for v in np.clip(rgb, 0, 1))
    return f"#{r:02x}{g:02x}{bl:02x}"


@torch.inference_mode()
def suggest_colors(
    colorizer: Colorizer, photo: Photo, x: float, y: float, opts: ColorizeOptions, k: int = 6
) -> list[str]:
    """Up to `k` colours for the spot (x, y) (0-1 of the width and height), most likely first; distinct
    (no two from neighbouring bins of the class head's grid)."""
    model = colorizer.model
    l_full = lightness(photo.pixels)
    plan = make_plan(l_full.shape, opts.render_size, opts.policy, colorizer.multiple)
    h, w = l_full.shape
    placed = plan.to_canvas(min(h - 1.0, y * h), min(w - 1.0, x * w))
    if placed is None:  # cut off by a center-crop: the nearest the canvas shows
        placed = plan.to_canvas(h / 2, w / 2)
        assert placed is not None
    l_canvas = to_lstar(plan.apply(l_full))
    logits, _ = model.heads(colorizer.network_input(normalize_l(l_canvas)))
    gh, gw = logits.shape[-2:]
    ch, cw = plan.canvas
    r = min(gh - 1, int(placed[0] / ch * gh))
    c = min(gw - 1, int(placed[1] / cw * gw))
    p = torch.softmax(logits[0, :, r, c].float(), 0).cpu().numpy()
    centers = ab_bin_centers(model.cfg).numpy()
    n = model.cfg.bins_per_axis
    rr, cc = min(ch - 1, int(placed[0])), min(cw - 1, int(placed[1]))
    l_here = float(l_canvas[max(0, rr - 1) : rr + 2, max(0, cc - 1) : cc + 2].mean())
    chosen: list[int] = []
    for q in np.argsort(-p):
        if len(chosen) >= k or (p[q] < MIN_SHARE and len(chosen) >= AT_LEAST):
            break
        if any(abs(q // n - o // n) <= 1 and abs(q % n - o % n) <= 1 for o in chosen):
            continue  # a neighbour of a colour already offered: the same colour to the eye
        chosen.append(int(q))
    out: list[str] = []
    for q in chosen:
        color = _hex(l_here, float(centers[q, 0]), float(centers[q, 1]))
        if color not in out:
            out.append(color)
    return out
