"""Photos -> encoder features at training time, for a GPU (or a test): the same recipe as the cache.

The GPU machine has none of `../shared` and takes at most 64 MiB of files, so its photos travel as a
shard: one .npz of small JPEGs with their relative names (the names decide the held-back slice,
exactly as for the cache). On the fly there is room for real augmentation: a random resized crop
and a flip per view, where the cache can only flip.
"""

from __future__ import annotations

import copy
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..aging import aged_lightness
from ..color import normalize_l
from ..errors import ConfigError, NoImages
from ..precision import channels_last_on
from .data import decode_square, is_val, random_resized_crop
from .feature_cache import rgb_to_input, shuffled_photos
from .metrics import colorfulness


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


def load_photos_any(source: str | Path, size: int, log=print) -> tuple[list[str], np.ndarray]:
    """A shard (.npz), a folder of shards (shard-*.npz) or a folder of photos -> (names, (N, S, S, 3) uint8).
    A folder's photos come in the feature cache's fixed shuffle, so its held-back photos come in the same
    order as in the cache and in the shards: the first N of them are the slice every earlier number used."""
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
                arrays.append(np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)))
        return [str(n) for n in names], np.stack(arrays)
    files = shuffled_photos(source)
    if not files:
        raise NoImages(f"no images under {source}")
    names, arrays = [], []
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # PIL and OpenCV release the GIL while decoding
        for i, (rel, (arr, _)) in enumerate(zip(files, pool.map(lambda r: decode_square(source / r, size), files))):
            if arr is not None:
                names.append(rel)
                arrays.append(arr)
            if (i + 1) % 2000 == 0:
                log(f"decoded {i + 1}/{len(files)} photos")
    if len(names) < len(files):
        log(f"skipped {len(files) - len(names)} unreadable of {len(files)} files")
    if not names:
        raise NoImages(f"none of the {len(files)} images under {source} could be read")
    return names, np.stack(arrays)


def drawing_weights(names: list[str], folder_weights: dict[str, float], log=print) -> np.ndarray | None:
    """Training photos' relative names and a weight per top-level folder (others 1) -> the cumulative weights to
    draw views by, None for uniform. A folder no photo is in is an error: a misspelt name would do nothing."""
    if not folder_weights:
        return None
    folders = np.array([Path(n).parts[0] if len(Path(n).parts) > 1 else "" for n in names])
    missing = sorted(set(folder_weights) - set(folders))
    if missing:
        known = ", ".join(sorted(set(folders)))
        raise ConfigError(f"folder_weights: no training photos in {', '.join(missing)} (folders: {known})")
    w = np.array([folder_weights.get(f, 1.0) for f in folders], np.float64)
    if not w.sum():
        raise ConfigError("folder_weights leave no photo to train on")
    shares = ", ".join(f"{f or '.'} {w[folders == f].sum() / w.sum():.0%}" for f in sorted(set(folders)))
    log(f"views drawn by folder weight: {shares}")
    return np.cumsum(w)


class OnTheFlySource:
    """Decoded photos in memory; a frozen encoder runs per batch on the training device (a trained one is
    the generator's own business: without `attach_encoder` the batches carry no features). A share
    `recipe.age` of the views are aged prints (`aging.py`): the encoder and the decoder see the aged L,
    the targets stay the photo's own colour."""

    def __init__(self, recipe, device: torch.device, log=print):
        self.size, self.device, self.recipe = recipe.size, device, recipe
        names, photos = load_photos_any(recipe.photos, recipe.size, log)
        cf = np.array([colorfulness(p) for p in photos])
        held = np.array([is_val(n, recipe.held_back_fraction) for n in names], bool)
        keep = cf >= recipe.min_colorfulness
        self.train_photos, self.held_photos = photos[keep & ~held], photos[keep & held]
        train_names = [n for n, t in zip(names, keep & ~held) if t]
        self.cumulative = drawing_weights(train_names, recipe.folder_weights, log)
        log(
            f"{len(photos)} photos: {len(self.train_photos)} to train on, {len(self.held_photos)} held back, "
            f"{int((~keep).sum())} near-gray left out"
        )
        if not len(self.train_photos):
            raise NoImages(f"no colour photos to train on in {recipe.photos}")
        self.encoder: torch.nn.Module | None = None
        self.cpu_input: torch.dtype | None = None  # the CPU copy's input format (channels-last); None: as given

    def attach_encoder(
        self, encoder: torch.nn.Module, dtype: torch.dtype = torch.float32, compile: bool = False
    ) -> None:
        """The trainer hands over its own (float16-exact) encoder once it is built. On the CPU the features
        come from a channels-last copy, in bf16 where the CPU has it natively (the trainer's own stays float32)."""
        self.cpu_input = dtype if channels_last_on(self.device) else None
        if self.cpu_input is not None:
            encoder = copy.deepcopy(encoder).to(dtype).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.encoder = torch.compile(encoder) if compile else encoder  # type: ignore[assignment]

    def train_count(self) -> int:
        return len(self.train_photos)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        """(B, 1, S, S) input L in [-1, 1] -> the frozen encoder's features, float32 (None without one)."""
        if self.encoder is None:
            return None
        x = x.to(self.device)
        if self.cpu_input is not None:
            x = x.to(self.cpu_input).contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            feats = self.encoder(x)
        return tuple(f.float() for f in feats)

    def _features(self, rgb: np.ndarray) -> tuple[torch.Tensor, ...] | None:
        return self._encode(rgb_to_input(rgb))

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n training photos' indices: uniform, or by the recipe's folder weights."""
        if self.cumulative is None:
            return rng.integers(0, len(self.train_photos), n)
        return np.searchsorted(self.cumulative, rng.random(n) * self.cumulative[-1], side="right")

    def sample_photos(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n augmented training views, (n, S, S, 3) uint8, without features."""
        idx = self._draw(rng, n)
        if self.recipe.crop_area >= 1.0:  # whole photos: a flip is the only change
            flips = rng.random(n) < 0.5 if self.recipe.flip else np.zeros(n, bool)
            return np.stack([self.train_photos[i][:, ::-1] if f else self.train_photos[i] for i, f in zip(idx, flips)])
        scale = (self.recipe.crop_area, 1.0)
        return np.stack([random_resized_crop(self.train_photos[i], rng, scale, self.recipe.flip) for i in idx])

    def train_batch(self, rng: np.random.Generator, n: int):
        rgb = self.sample_photos(rng, n)
        aged = rng.random(n) < self.recipe.age
        if not aged.any():
            return self._features(rgb), rgb, None
        l_in = rgb_to_input(rgb)
        for i in np.flatnonzero(aged):
            l_in[i, 0] = normalize_l(torch.from_numpy(aged_lightness(rgb[i], rng, p=0.5)))
        return self._encode(l_in), rgb, l_in

    def held_back(self, n: int) -> tuple[tuple[torch.Tensor, ...] | None, np.ndarray]:
        rgb = self.held_photos[:n]
        if self.encoder is None:
            return None, rgb
        if len(rgb) == 0:
            return tuple(torch.zeros(0) for _ in range(3)), rgb
        feats = [f for i in range(0, len(rgb), 64) if (f := self._features(rgb[i : i + 64])) is not None]
        return tuple(torch.cat([f[k] for f in feats]).cpu() for k in range(3)), rgb
