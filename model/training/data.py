"""Training photos: scan a folder, decode once into RAM (cached on disk), filter near-gray, split, sample batches.

Decoding JPEGs competes with training for the cores, so every photo is decoded once,
center-cropped to a square of `size` and kept as one uint8 array; batches are cut
from it with a generator seeded by (seed, step), which makes `--resume` exact and
lets every DDP rank draw its own share of the same global batch.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from ..aging import age_lightness
from ..color import rgb_to_lab_torch
from ..errors import NoImages
from ..formats import FOLDER_SUFFIXES
from ..metrics import colorfulness
from ..photo_io import find_images
from .config import DataConfig


@dataclass
class PhotoSet:
    train: np.ndarray  # (N, S, S, 3) uint8
    val: np.ndarray  # (M, S, S, 3) uint8
    unreadable: int  # files skipped because they could not be decoded
    near_gray: int  # photos dropped by the colorfulness filter

    def summary(self) -> str:
        return (
            f"{len(self.train)} train / {len(self.val)} val photos; skipped {self.unreadable} unreadable "
            f"and {self.near_gray} near-gray"
        )


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
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            im = im.convert("RGB")
            w, h = im.size
            s = size / min(w, h)
            im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BICUBIC, reducing_gap=2.0)
            arr = np.asarray(im)
    except Exception:  # any decoder failure means "skip and count": training must not die on one bad file
        return None, 0.0
    t, l = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    arr = np.ascontiguousarray(arr[t : t + size, l : l + size])
    return arr, colorfulness(arr)


def _decode_job(args):
    return decode_square(*args)


def load_photos(cfg: DataConfig, workers: int = 2, log=print) -> PhotoSet:
    files = scan(cfg.root)
    if cfg.limit:
        files = files[: cfg.limit]
    if not files:
        raise NoImages(f"no images ({', '.join(sorted(FOLDER_SUFFIXES))}) under {cfg.root}")
    key = hashlib.sha1(("\n".join(str(f) for f in files) + f"|{cfg.size}").encode()).hexdigest()[:16]
    cache = Path(cfg.cache_dir) / f"photos-{cfg.size}-{key}.npz" if cfg.cache_dir else None
    if cache is not None and cache.exists():
        z = np.load(cache)
        arrays, cf, ok = z["arrays"], z["colorfulness"], z["ok"]
        log(f"loaded {len(arrays)} decoded photos from cache {cache}")
    else:
        arrays = np.zeros((len(files), cfg.size, cfg.size, 3), np.uint8)
        cf, ok = np.zeros(len(files), np.float32), np.zeros(len(files), bool)
        jobs = [(f, cfg.size) for f in files]
        with ProcessPoolExecutor(workers) as pool:
            for i, (arr, c) in enumerate(pool.map(_decode_job, jobs, chunksize=64)):
                if arr is not None:
                    arrays[i], cf[i], ok[i] = arr, c, True
                if (i + 1) % 1000 == 0 or i + 1 == len(files):
                    print(f"\rdecoding photos {i + 1}/{len(files)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp.npz")
            np.savez(tmp, arrays=arrays, colorfulness=cf, ok=ok)
            tmp.replace(cache)
    colorful = cf >= cfg.min_colorfulness
    rels = [str(f.relative_to(cfg.root)) for f in files]
    val_mask = np.array([is_val(r, cfg.val_fraction) for r in rels], bool)
    keep = ok & colorful
    return PhotoSet(
        arrays[keep & ~val_mask],
        arrays[keep & val_mask],
        unreadable=int((~ok).sum()),
        near_gray=int((ok & ~colorful).sum()),
    )


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


def make_batch(
    photos: np.ndarray, cfg: DataConfig, seed: int, step: int, batch_size: int, rank: int = 0, world: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (l_in, l, ab), each (B, C, S, S) float: l_in is the (maybe degraded) network input in L*,
    l the clean L*, ab the target chroma. Same (seed, step) gives the same global batch."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(photos), size=batch_size * world)
    crops = [random_resized_crop(photos[i], rng, cfg.crop_scale, cfg.flip) for i in idx]
    mine = np.stack(crops[rank * batch_size : (rank + 1) * batch_size])
    rgb = torch.from_numpy(mine).permute(0, 3, 1, 2).float() / 255.0
    lab = rgb_to_lab_torch(rgb)
    l, ab = lab[:, :1], lab[:, 1:]
    l_in = l
    if cfg.degrade:
        drng = np.random.default_rng([seed, step, 1, rank])
        l_in = torch.from_numpy(np.stack([age_lightness(x[0].numpy(), drng) for x in l]))[:, None]
    return l_in, l, ab
