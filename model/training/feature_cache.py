"""Frozen-encoder features of every training photo, computed once and memory-mapped from disk.

With a frozen encoder, the trained decoder is all that learns, so the encoder's forward pass is
paid once per photo instead of once per view: at 128 px VGG16 runs ~25 photos/s on 2 cores, the
decoder trains several times faster on cached features. Per photo the cache holds the relu3_3,
relu4_3 and relu5_3 maps (float16, ~0.9 MB) and the 128-px RGB square (targets, FID reference).

The build appends in order and records how far it got, so an interrupted build resumes.
Horizontal flips are applied to the cached maps at training time (the blur-pooled encoder is close
to flip-equivariant), which doubles the views at no cost.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..encoders import FrozenEncoder
from .data import decode_square, is_val, scan

LAYERS = ("f3", "f4", "f5")


def feature_shapes(encoder: FrozenEncoder, size: int) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        f = encoder(torch.zeros(1, 1, size, size))
    return {name: tuple(t.shape[1:]) for name, t in zip(LAYERS, f)}


def rgb_to_input(rgb: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 1, S, S) L normalised to [-1, 1], the generator's input."""
    from ..color import normalize_l, rgb_to_lab_torch

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 255.0
    return normalize_l(rgb_to_lab_torch(x)[:, :1])


@dataclass
class FeatureCache:
    """Read side: memory-mapped arrays plus the per-photo table (file, held-back flag, colourfulness)."""

    root: Path
    files: list[str]
    count: int
    size: int
    arrays: dict[str, np.ndarray]
    held_back: np.ndarray  # (N,) bool: the 2 % slice for selection, never trained on
    colorfulness: np.ndarray  # (N,) float

    @classmethod
    def open(cls, root: str | Path) -> FeatureCache:
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"no feature cache at {root} (build it with `heirloom cache-features`)")
        meta = json.loads(meta_path.read_text())
        n = int(meta["done"])
        arrays = {k: np.load(root / f"{k}.npy", mmap_mode="r")[:n] for k in (*LAYERS, "rgb")}
        table = np.load(root / "table.npz")
        return cls(
            root, meta["files"][:n], n, int(meta["size"]), arrays, table["held_back"][:n], table["colorfulness"][:n]
        )

    def indices(self, held_back: bool, min_colorfulness: float) -> np.ndarray:
        keep = (self.held_back == held_back) & (self.colorfulness >= min_colorfulness)
        return np.flatnonzero(keep)

    def batch(self, idx: np.ndarray, flip: np.ndarray | None = None) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
        """-> ((f3, f4, f5) float32, rgb (B, S, S, 3) uint8); flip[i] mirrors photo i."""
        order = np.argsort(idx)  # sorted reads are kinder to the page cache and the disk
        feats = []
        for k in LAYERS:
            a = np.empty((len(idx),) + self.arrays[k].shape[1:], np.float16)
            a[order] = self.arrays[k][idx[order]]
            feats.append(a)
        rgb = np.empty((len(idx),) + self.arrays["rgb"].shape[1:], np.uint8)
        rgb[order] = self.arrays["rgb"][idx[order]]
        if flip is not None and flip.any():
            for a in feats:
                a[flip] = a[flip][..., ::-1]
            rgb[flip] = rgb[flip][:, :, ::-1]
        return tuple(torch.from_numpy(a).float() for a in feats), rgb


def shuffled_photos(photos_root: Path) -> list[str]:
    """Every photo under `photos_root` (relative names) in a fixed shuffle: whatever prefix is cached
    or packed so far is a fair sample of every source folder, so training can start before the end."""
    files = [str(f.relative_to(photos_root)) for f in scan(photos_root)]
    return [files[i] for i in np.random.default_rng(0).permutation(len(files))]


def build(
    photos_root: str | Path,
    out: str | Path,
    encoder: FrozenEncoder,
    size: int = 128,
    held_back_fraction: float = 0.02,
    batch: int = 32,
    limit: int = 0,
    precision: str = "auto",
    log=print,
) -> FeatureCache:
    """Compute (or finish computing) the cache of every photo under `photos_root` into `out`. On a CPU
    with native bf16 the encoder runs in bf16 channels-last (~3x float32); a cache is finished in the
    precision it was started in, so its features never mix two."""
    from ..precision import resolve_precision

    dtype = resolve_precision(precision, torch.device("cpu"))
    photos_root, out = Path(photos_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    files = shuffled_photos(photos_root)
    if limit:
        files = files[:limit]
    n = len(files)
    shapes = feature_shapes(encoder, size)
    shapes["rgb"] = (size, size, 3)
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["files"] != files or meta["size"] != size or meta["encoder"] != encoder.name:
            raise ValueError(f"{out} holds a cache of other photos or settings; choose another folder")
        started = meta.get("precision", "float32")  # caches from before this field were float32
        if started != str(dtype).removeprefix("torch."):
            raise ValueError(f"{out} was started in {started}: finish it with --precision {started}")
        mode = "r+"
    else:
        meta = {
            "files": files,
            "size": size,
            "encoder": encoder.name,
            "photos_root": str(photos_root),
            "done": 0,
            "held_back_fraction": held_back_fraction,
            "precision": str(dtype).removeprefix("torch."),
        }
        mode = "w+"
    arrays = {
        k: np.lib.format.open_memmap(
            out / f"{k}.npy", mode=mode, dtype=np.uint8 if k == "rgb" else np.float16, shape=(n,) + shapes[k]
        )
        for k in shapes
    }
    table_path = out / "table.npz"
    if table_path.exists():
        t = np.load(table_path)
        cf, ok = t["colorfulness"].copy(), t["ok"].copy()
    else:
        cf, ok = np.zeros(n, np.float32), np.zeros(n, bool)
    held = np.array([is_val(f, held_back_fraction) for f in files], bool)
    done, t0 = int(meta["done"]), time.time()
    start = done
    encoder = encoder.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # ~20 % faster convs on CPU, more in bf16
    if dtype == torch.bfloat16:
        encoder = copy.deepcopy(encoder).to(dtype)
    while done < n:
        chunk = range(done, min(done + batch, n))
        rgb = np.zeros((len(chunk), size, size, 3), np.uint8)
        for j, i in enumerate(chunk):
            arr, c = decode_square(photos_root / files[i], size)
            if arr is not None:
                rgb[j], cf[i], ok[i] = arr, c, True
        with torch.no_grad():
            feats = encoder(rgb_to_input(rgb).to(dtype).contiguous(memory_format=torch.channels_last))
        for k, f in zip(LAYERS, feats):
            arrays[k][chunk.start : chunk.stop] = f.half().contiguous().numpy()
        arrays["rgb"][chunk.start : chunk.stop] = rgb
        done = chunk.stop
        if (done // batch) % 20 == 0 or done == n:  # persist progress every ~640 photos
            for a in arrays.values():
                a.flush()
            np.savez(out / "table.tmp.npz", colorfulness=cf, ok=ok, held_back=held)
            (out / "table.tmp.npz").replace(table_path)
            meta["done"] = done
            tmp = out / "meta.json.tmp"
            tmp.write_text(json.dumps(meta))
            tmp.replace(meta_path)
            rate = (done - start) / max(time.time() - t0, 1e-9)
            print(f"\rfeatures {done}/{n} photos ({rate:.1f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    cache = FeatureCache.open(out)  # unreadable photos keep colourfulness 0: the filter drops them
    log(f"feature cache {out}: {n} photos, {int((~ok).sum())} unreadable, {int(held.sum())} held back")
    return cache


def main(argv: list[str] | None = None) -> None:
    import argparse
    import os

    from .pretrained import pretrained_vgg16

    p = argparse.ArgumentParser(description="Cache frozen VGG16 features of a folder of colour photos.")
    p.add_argument("photos", help="folder of colour photos (searched recursively)")
    p.add_argument("cache", help="output folder (memory-mapped arrays; resumes if interrupted)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=int(os.environ.get("HEIRLOOM_THREADS", "0")))
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    build(a.photos, a.cache, pretrained_vgg16(), a.size, limit=a.limit)


if __name__ == "__main__":
    main()
