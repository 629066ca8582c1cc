"""Image quality metrics used by the data filter and `heirloom evaluate` (numpy, vectorized)."""

from __future__ import annotations

import numpy as np

from ..color import rgb_to_lab, to_unit_float


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colorfulness M of an (H, W, 3) RGB image on the 0..255 scale.

    About 0 for gray, ~15 slightly colourful, ~33 moderately, ~59 quite, 100+ extremely.
    """
    x = to_unit_float(rgb) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over RGB on the 0..1 scale (capped at 100 dB for identical images)."""
    mse = float(np.mean((to_unit_float(a) - to_unit_float(b)) ** 2))
    return 100.0 if mse <= 1e-10 else 10.0 * np.log10(1.0 / mse)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two (..., 3) Lab arrays (Sharma, Wu & Dalal 2005), per pixel."""
    l1, a1, b1 = [lab1[..., i].astype(np.float64) for i in range(3)]
    l2, a2, b2 = [lab2[..., i].astype(np.float64) for i in range(3)]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    l_bar, c_bar_p = (l1 + l2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) > 180, np.where(hsum < 360, hsum + 360, hsum - 360), hsum) / 2
    h_bar = np.where(c1p * c2p == 0, hsum, h_bar)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_bar_p**7 / (c_bar_p**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_bar_p, 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dc / s_c) * (dH / s_h))


def mean_ciede2000(rgb1: np.ndarray, rgb2: np.ndarray) -> float:
    return float(ciede2000(rgb_to_lab(to_unit_float(rgb1)), rgb_to_lab(to_unit_float(rgb2))).mean())


NEUTRAL_CHROMA = 5.0  # C*ab below this in the photo counts as neutral (walls, roads, concrete, gray cloth)


def neutral_tint(out: np.ndarray, real: np.ndarray) -> float | None:
    """Mean chroma C*ab of `out` where the true photo is neutral (C*ab < 5): what vividness bought by
    tinting walls and roads costs. None when the photo has no neutral pixels."""
    true = rgb_to_lab(to_unit_float(real))
    mask = np.hypot(true[..., 1], true[..., 2]) < NEUTRAL_CHROMA
    if not mask.any():
        return None
    pred = rgb_to_lab(to_unit_float(out))
    return float(np.hypot(pred[..., 1], pred[..., 2])[mask].mean())


FAR_FROM_HINT = 20.0  # ab units: a pixel this far from every hint's colour is not the colour any hint gave


def hint_spill(
    auto: np.ndarray, hinted: np.ndarray, real: np.ndarray, hint_ab: np.ndarray, far: float = FAR_FROM_HINT
) -> tuple[float | None, float | None]:
    """What hints did beyond their own colour: the mean change of CIEDE2000 against `real` (hinted minus
    automatic) on the pixels whose true a/b is farther than `far` from every hint's a/b (`hint_ab`, (k, 2)),
    and on the rest. The first is the spill: above 0 where a hint's colour reached things of other colours
    (a blue blouse's hint turning a face blue), below 0 where the hints also mended them. None for an empty part."""
    true = rgb_to_lab(to_unit_float(real))
    dist = np.linalg.norm(true[..., None, 1:] - np.asarray(hint_ab, np.float64)[None, None], axis=-1).min(-1)
    change = ciede2000(rgb_to_lab(to_unit_float(hinted)), true) - ciede2000(rgb_to_lab(to_unit_float(auto)), true)
    other = dist > far
    return (
        float(change[other].mean()) if other.any() else None,
        float(change[~other].mean()) if (~other).any() else None,
    )
