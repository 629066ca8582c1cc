"""What time and old film do to a photo's lightness: the inputs families bring, simulated from colour photos.

Old prints are not clean gray renders of sharp colour photos. Their film saw colour differently
(orthochromatic emulsions barely see red: lips and red cloth print dark, blue sky prints pale), their
tone was shifted by sepia or selenium toning and by fading (contrast lost, blacks lifted), and they
come to us grainy, soft, dusty, scratched and JPEG'd. A colorizer trained only on clean renders meets
all of this for the first time in a family's hands; the trainer therefore ages the gray input (the
colour target stays clean), and `heirloom evaluate --aged SEED` scores on an aged copy made the same
way. Sizes scale with the photo's short side, so a 128-px training crop and a 500-px evaluation photo
age alike. Deterministic for a given generator state.
"""

from __future__ import annotations

import cv2
import numpy as np

from .color import join_l_ab, luminance


def film_lightness(rgb: np.ndarray, rng: np.random.Generator, p_ortho: float = 0.25) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W) L* as a film would have recorded it: the eye's luminance
    (panchromatic film), or (with probability `p_ortho`) an orthochromatic film's, blind to red (into the
    1920s): little red, more blue."""
    if rng.random() >= p_ortho:
        return luminance(rgb)
    red = rng.uniform(0.0, 0.15)
    green = rng.uniform(0.45, 0.7)
    return luminance(rgb, np.array([red, green, 1.0 - red - green], np.float32))


def age_lightness(l: np.ndarray, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    """(H, W) L* in [0, 100] -> an aged print's L*; each effect applied independently with probability p."""
    x: np.ndarray = l.astype(np.float32)
    h, w = x.shape
    s = min(h, w) / 128.0  # effect sizes are given for a 128-px photo
    if rng.random() < p:  # toning / a toned print turned back to L: the tone curve bends
        x = 100.0 * (x / 100.0) ** float(rng.uniform(0.7, 1.4))
    if rng.random() < p:  # fading: contrast pulled towards the mean, blacks lifted, whites dulled
        c = float(rng.uniform(0.5, 0.9))
        x = x * c + (1 - c) * float(x.mean()) + float(rng.uniform(0, 10))
    if rng.random() < p:  # soft focus, an old lens, a scanner's blur
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.4, 1.4)) * s)
    if rng.random() < p * 0.5:  # uneven exposure and vignetting of an old camera
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
        x = x * (1 - float(rng.uniform(0.1, 0.35)) * np.clip(r2 / 2, 0, 1))
    if rng.random() < p:  # film grain: noise with a little spatial extent
        g = rng.normal(0, rng.uniform(1.5, 6.0), x.shape).astype(np.float32)
        x = x + cv2.GaussianBlur(g, (0, 0), 0.5 * s) * 1.6
    if rng.random() < p * 0.75:  # dust specks and scratches, light or dark
        x = _dust_and_scratches(x, rng, s)
    if rng.random() < p * 0.75:  # the JPEG of a poor scan
        q = int(rng.integers(20, 70))
        ok, buf = cv2.imencode(".jpg", np.clip(x * 2.55, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
        decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
        if decoded is not None:
            x = decoded.astype(np.float32) / 2.55
    clipped: np.ndarray = np.clip(x, 0, 100)
    return clipped


def _dust_and_scratches(x: np.ndarray, rng: np.random.Generator, s: float) -> np.ndarray:
    h, w = x.shape
    marks = np.zeros_like(x)
    for _ in range(int(rng.integers(2, 25))):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(marks, c, max(0, round(float(rng.uniform(0, 1.2)) * s)), float(rng.choice([-1.0, 1.0])), -1)
    for _ in range(int(rng.integers(0, 3))):
        x0 = int(rng.integers(0, w))
        x1 = int(np.clip(x0 + rng.normal(0, 0.08) * w, 0, w - 1))
        cv2.line(marks, (x0, 0), (x1, h - 1), float(rng.choice([-1.0, 1.0])) * 0.7, max(1, round(0.5 * s)))
    return x + marks * float(rng.uniform(25, 60))


def aged_lightness(rgb: np.ndarray, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    """(H, W, 3) uint8 colour photo -> (H, W) L* of an old print of it."""
    return age_lightness(film_lightness(rgb, rng), rng, p)


def aged_gray(rgb: np.ndarray, seed: int, name: str, p: float = 0.4) -> np.ndarray:
    """An evaluation photo's aged copy as 8-bit gray RGB: the same photo, seed and name age the same way."""
    import hashlib

    key = int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "big")
    l = aged_lightness(rgb, np.random.default_rng([seed, key]), p)
    l8 = np.clip(l * 2.55 + 0.5, 0, 255).astype(np.uint8)  # OpenCV's 8-bit L, as `lightness` gives
    return join_l_ab(l8, np.zeros(l.shape + (2,), np.float32), np.dtype(np.uint8))  # gray, as `gray_of`
