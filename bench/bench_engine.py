"""Engine benchmark: prints JSON.

1. Training images/s of the `cpu-small` networks at 128 and 256 px: Heirloom's trainer (photos
   decoded once into RAM, batched torch Lab, one D call on [real; fake], passive OpenMP waits)
   against a plain pix2pix loop over the same networks (JPEGs decoded every step, per-image
   numpy Lab, separate D calls for real and fake, as in the pix2pix reference code).
2. Colorizing a 12-megapixel scan end to end (decode, colorize, encode): seconds and peak memory.

    python bench/bench_engine.py [--photos DIR] [--steps 12] [--weights W]
Run it on an idle machine: other processes on the cores change every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

# Importing `model` sets OMP_WAIT_POLICY; torch is imported after it, inside the functions.
from model.color import srgb_to_linear
from model.training.discriminator import PatchDiscriminator, UNetGenerator


def synthetic_photos(folder: Path, n: int, size: int = 288) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        c = rng.random((3, 3))
        img = np.stack([np.clip(c[k, 0] + c[k, 1] * x + c[k, 2] * np.sin(6 * y + i), 0, 1) for k in range(3)], -1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"p{i:03d}.jpg", quality=90)
    return folder


def numpy_rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """Per-image float64 Lab, the way a plain pipeline does it (as skimage's rgb2lab)."""
    lin = srgb_to_linear(rgb)
    m = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
    xyz = lin @ m.T / np.array([0.950456, 1.0, 1.088754])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def plain_loop(cfg, files: list[Path], steps: int) -> float:
    """The unoptimized reference: decode + per-image Lab every step, D on real and fake separately."""
    import torch
    import torch.nn.functional as F

    from model.training.losses import d_loss, g_loss

    torch.manual_seed(0)
    G, D = UNetGenerator(cfg.generator), PatchDiscriminator(cfg.discriminator)
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    s, b = cfg.data.size, cfg.run.batch_size
    rng = np.random.default_rng(0)
    t0 = None
    for step in range(steps + 2):
        if step == 2:
            t0 = time.perf_counter()  # two warm-up steps
        labs = []
        for i in rng.integers(0, len(files), b):
            im = Image.open(files[i]).convert("RGB").resize((s, s), Image.BICUBIC)
            labs.append(numpy_rgb2lab(np.asarray(im) / 255.0))
        lab = torch.from_numpy(np.stack(labs)).permute(0, 3, 1, 2).float()
        x, y = lab[:, :1] / 50 - 1, lab[:, 1:] / 110
        fake = G(x)
        if step % cfg.optim.d_every == 0:
            loss_d = d_loss("hinge", D(x, y), D(x, fake.detach()))
            od.zero_grad()
            loss_d.backward()
            od.step()
        for p in D.parameters():
            p.requires_grad_(False)
        loss_g = g_loss("hinge", D(x, fake)) + 100 * F.l1_loss(fake, y)
        for p in D.parameters():
            p.requires_grad_(True)
        og.zero_grad()
        loss_g.backward()
        og.step()
    return steps * b / (time.perf_counter() - t0)


def heirloom_loop(cfg, steps: int) -> float:
    from model.training.data import load_photos
    from model.training.run_folder import RunFolder
    from model.training.trainer import Trainer

    photos = load_photos(cfg.data, log=lambda *a: None)
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(cfg, RunFolder(Path(d)), photos, log=lambda *a: None)
        trainer.G.train()
        trainer.D.train()
        for _ in range(2):
            trainer.train_step()
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        return steps * cfg.run.batch_size / (time.perf_counter() - t0)


def training_bench(photos: Path, steps: int) -> dict:
    from model.training.config import apply_overrides, preset

    out = {}
    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:2000]
    for size in (128, 256):
        cfg = apply_overrides(
            preset("cpu-small"),
            [f"data.root={photos}", f"data.size={size}", "data.cache_dir=", "loss.warmup_steps=0", "data.limit=2000"],
        )
        plain = plain_loop(cfg, files, steps)
        ours = heirloom_loop(cfg, steps)
        out[f"{size}px"] = {
            "plain_images_per_s": round(plain, 2),
            "heirloom_images_per_s": round(ours, 2),
            "speedup": round(ours / plain, 2),
        }
    return out


def scan_bench(weights: str | None) -> dict:
    """In a fresh process, so peak memory is this job's alone."""
    code = f"""
import io, json, os, resource, time
import numpy as np
from PIL import Image
from model import Colorizer
from model.networks import GeneratorConfig, UNetGenerator
from model.photo_io import encode_photo
w = {weights!r}
c = Colorizer.from_checkpoint(w) if w else Colorizer(UNetGenerator(GeneratorConfig()).eval(), 256)
y, x = np.mgrid[0:3000, 0:4000]
gray = ((np.sin(x / 150.0) * np.cos(y / 90.0) * 0.4 + 0.5) * 255).astype(np.uint8)
buf = io.BytesIO(); Image.fromarray(gray).save(buf, "JPEG", quality=92); data = buf.getvalue()
c(data); base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(3):
    t = time.perf_counter()
    out = c(data)
    t1 = time.perf_counter()
    encode_photo(out, "JPEG")
    t2 = time.perf_counter()
    times.append((t1 - t, t2 - t))
print(json.dumps({{"megapixels": 12.0, "render_size": c.default_render_size,
    "colorize_s_best": round(min(a for a, _ in times), 3),
    "with_jpeg_encode_s_best": round(min(b for _, b in times), 3),
    "colorize_s_median": round(sorted(a for a, _ in times)[1], 3),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "output_size": list(out.size)}}))
"""
    root = Path(__file__).resolve().parent.parent
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", help="folder of colour photos (default: 64 synthetic JPEGs)")
    ap.add_argument("--steps", type=int, default=12, help="timed training steps per loop")
    ap.add_argument("--weights", help="generator for the 12-MP test (default: shipped weights if present)")
    ap.add_argument("--skip-training", action="store_true")
    a = ap.parse_args()
    import torch

    from model.checkpoint import DEFAULT_WEIGHTS

    weights = a.weights or (str(DEFAULT_WEIGHTS) if DEFAULT_WEIGHTS.exists() else None)
    result = {
        "cpu_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "scan_12mp": scan_bench(weights),
    }
    if not a.skip_training:
        with tempfile.TemporaryDirectory() as d:
            photos = Path(a.photos) if a.photos else synthetic_photos(Path(d) / "photos", 64)
            result["training_cpu_small"] = training_bench(photos, a.steps)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
