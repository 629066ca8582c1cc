"""Photos -> encoder features at training time, for a GPU (or a test): the same recipe as the cache.

The GPU machine has none of `../shared` and takes at most 64 MiB of files, so its photos travel as a
shard: one .npz of small JPEGs with their relative names (the names decide the held-back slice,
exactly as for the cache). On the fly there is room for real augmentation: a random resized crop
and a flip per view, where the cache can only flip.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..metrics import colorfulness
from .data import decode_square, is_val, random_resized_crop, scan
from .feature_cache import rgb_to_input, shuffled_photos


def pack_shard(
    photos_root: str | Path,
    out: str | Path,
    size: int = 128,
    max_mb: float = 20.0,
    quality: int = 90,
    skip: int = 0,
    log=print,
) -> Path:
    """Cut photos to `size` squares, JPEG them, and pack until `max_mb`; `skip` starts later in the
    fixed shuffle (so consecutive shards hold different photos)."""
    photos_root, out = Path(photos_root), Path(out)
    files = shuffled_photos(photos_root)[skip:]
    names, blobs, total = [], [], 0
    for rel in files:
        arr, _ = decode_square(photos_root / rel, size)
        if arr is None:
            continue
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=quality)
        if total + buf.tell() > max_mb * 1e6:
            break
        names.append(rel)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
        total += buf.tell()
    out.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    data = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
    np.savez(out, names=np.array(names), offsets=offsets, data=data, size=np.array(size))
    log(f"shard {out}: {len(names)} photos, {total / 1e6:.1f} MB (photos {skip}..{skip + len(names)} of the shuffle)")
    return out


def load_photos_any(source: str | Path, size: int) -> tuple[list[str], np.ndarray]:
    """A shard (.npz), a folder of shards (shard-*.npz) or a folder of photos -> (names, (N, S, S, 3) uint8)."""
    source = Path(source)
    shards = sorted(source.glob("*.npz")) if source.is_dir() else []
    if shards:
        parts = [load_photos_any(s, size) for s in shards]
        return [n for p in parts for n in p[0]], np.concatenate([p[1] for p in parts])
    if source.suffix == ".npz":
        z = np.load(source)
        names, off, data = list(z["names"]), z["offsets"], z["data"]
        arrays = []
        for i in range(len(names)):
            with Image.open(io.BytesIO(data[off[i] : off[i + 1]].tobytes())) as im:
                arrays.append(np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC)))
        return [str(n) for n in names], np.stack(arrays)
    names, arrays = [], []
    for f in scan(source):
        arr, _ = decode_square(f, size)
        if arr is not None:
            names.append(str(f.relative_to(source)))
            arrays.append(arr)
    return names, np.stack(arrays)


class OnTheFlySource:
    """Decoded photos in memory; the frozen encoder runs per batch on the training device."""

    def __init__(self, recipe, device: torch.device):
        self.size, self.device, self.recipe = recipe.size, device, recipe
        names, photos = load_photos_any(recipe.photos, recipe.size)
        cf = np.array([colorfulness(p) for p in photos])
        held = np.array([is_val(n, recipe.held_back_fraction) for n in names], bool)
        keep = cf >= recipe.min_colorfulness
        self.train_photos, self.held_photos = photos[keep & ~held], photos[keep & held]
        self.encoder: torch.nn.Module | None = None

    def attach_encoder(self, encoder: torch.nn.Module) -> None:
        """The trainer hands over its own (float16-exact) encoder once it is built."""
        self.encoder = encoder

    def train_count(self) -> int:
        return len(self.train_photos)

    def _features(self, rgb: np.ndarray) -> tuple[torch.Tensor, ...]:
        assert self.encoder is not None, "attach_encoder first"
        x = rgb_to_input(rgb).to(self.device)
        with torch.no_grad(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            feats = self.encoder(x)
        return tuple(f.float() for f in feats)

    def train_batch(self, rng: np.random.Generator, n: int) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
        idx = rng.integers(0, len(self.train_photos), n)
        rgb = np.stack([random_resized_crop(self.train_photos[i], rng, (0.5, 1.0), self.recipe.flip) for i in idx])
        return self._features(rgb), rgb

    def held_back(self, n: int) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
        rgb = self.held_photos[:n]
        if len(rgb) == 0:
            return tuple(torch.zeros(0) for _ in range(3)), rgb
        feats = [self._features(rgb[i : i + 64]) for i in range(0, len(rgb), 64)]
        return tuple(torch.cat([f[k] for f in feats]).cpu() for k in range(3)), rgb
