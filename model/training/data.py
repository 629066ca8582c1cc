"""Training photos: find them, decode each once to a centred square, split off the held-back slice by
name, and cut augmented views (random resized crop, flip) from the squares."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import NoImages
from ..photo_io import find_images
from .metrics import colorfulness


def scan(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise NoImages(f"training folder {root} does not exist")
    return find_images(root)


def is_val(rel: str, fraction: float) -> bool:
    """Deterministic split from the file's path alone: stable across runs, machines and folder growth."""
    h = int.from_bytes(hashlib.sha1(rel.encode()).digest()[:4], "big")
    return h % 10_000 < fraction * 10_000


def decode_square(path: Path, size: int) -> tuple[np.ndarray | None, float]:
    """-> (size, size, 3) uint8 center square and its colorfulness, or (None, 0) if unreadable."""
    try:
        with Image.open(path) as f:
            f.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            im = f.convert("RGB")
            w, h = im.size
            s = size / min(w, h)
            new = (max(size, round(w * s)), max(size, round(h * s)))
            arr = np.asarray(im.resize(new, Image.Resampling.BICUBIC, reducing_gap=2.0))
    except Exception:  # any decoder failure means "skip and count": training must not die on one bad file
        return None, 0.0
    t, l = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    arr = np.ascontiguousarray(arr[t : t + size, l : l + size])
    return arr, colorfulness(arr)


def random_resized_crop(
    img: np.ndarray, rng: np.random.Generator, scale: tuple[float, float], flip: bool
) -> np.ndarray:
    s = img.shape[0]
    area = rng.uniform(*scale) * s * s
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    h = int(min(s, round(np.sqrt(area / ratio))))
    w = int(min(s, round(np.sqrt(area * ratio))))
    t, l = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
    out = cv2.resize(img[t : t + h, l : l + w], (s, s), interpolation=cv2.INTER_LINEAR)
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return out
