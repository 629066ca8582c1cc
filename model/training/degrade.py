"""Old-photo degradations of the input L only (the target stays clean): blur, grain, fading, JPEG."""

from __future__ import annotations

import cv2
import numpy as np


def degrade_l(l: np.ndarray, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    """(H, W) L* in [0, 100] -> degraded copy; each effect applied independently with probability p."""
    x = l.astype(np.float32)
    if rng.random() < p:  # soft focus / scanner blur, as in the write-up
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.5, 1.5)))
    if rng.random() < p:  # fading: contrast pulled towards the mean, shadows lifted
        c = float(rng.uniform(0.55, 0.9))
        x = x * c + (1 - c) * float(x.mean()) + float(rng.uniform(0, 8))
    if rng.random() < p:  # film grain
        x = x + rng.normal(0, rng.uniform(1.0, 5.0), x.shape).astype(np.float32)
    if rng.random() < p:  # JPEG artifacts of a poor scan
        q = int(rng.integers(15, 60))
        ok, buf = cv2.imencode(".jpg", np.clip(x * 2.55, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
        x = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 2.55
    return np.clip(x, 0, 100)
