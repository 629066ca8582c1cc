"""Engine benchmark: prints JSON.

1. Training photos/s of the one trainer (`heirloom train`) on the shipped architecture: the shipped
   recipe (frozen VGG16 computed per batch, decoder trained) in float32 and in the CPU's best precision,
   and the write-up's `pix2pix-part2` (the U-Net trained from scratch, PatchGAN, 256 px).
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


def synthetic_photos(folder: Path, n: int, size: int = 288) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        c = rng.random((3, 3))
        img = np.stack([np.clip(c[k, 0] + c[k, 1] * x + c[k, 2] * np.sin(6 * y + i), 0, 1) for k in range(3)], -1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"p{i:03d}.jpg", quality=90)
    return folder


def trainer_photos_per_s(photos: Path, recipe: str, steps: int, sets: list[str]) -> float:
    """Photos per second of `steps` training steps after two warm-up steps, data preparation included."""
    import torch

    from model.training.generator_trainer import GeneratorTrainer
    from model.training.onthefly import OnTheFlySource
    from model.training.recipe import load_recipe

    r = load_recipe(recipe, [f"photos={photos}", "held_back_fraction=0", "min_colorfulness=0", *sets])
    with tempfile.TemporaryDirectory() as d:
        t = GeneratorTrainer(r, d, OnTheFlySource(r, torch.device("cpu"), log=lambda *a: None), "cpu", lambda *a: None)
        t.net.train()
        for _ in range(2):
            t.train_step()
        t0 = time.perf_counter()
        for _ in range(steps):
            t.train_step()
        return steps * r.batch_size / (time.perf_counter() - t0)


def training_bench(photos: Path, steps: int) -> dict:
    runs = {
        "heirloom_float32": ("heirloom", ["precision=float32"]),
        "heirloom_auto": ("heirloom", ["precision=auto"]),
        "pix2pix_part2_auto": ("pix2pix-part2", ["batch_size=4"]),
    }
    return {name: round(trainer_photos_per_s(photos, r, steps, sets), 2) for name, (r, sets) in runs.items()}


def scan_bench(weights: str | None) -> dict:
    """In a fresh process, so peak memory is this job's alone."""
    code = f"""
import io, json, os, resource, time
import numpy as np
from PIL import Image
from model import Colorizer
from model.photo_io import encode_photo
c = Colorizer.from_checkpoint({weights!r})
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
    ap.add_argument("--weights", help="generator for the 12-MP test (default: the shipped weights)")
    ap.add_argument("--skip-training", action="store_true")
    a = ap.parse_args()
    import torch

    from model.checkpoint import DEFAULT_WEIGHTS

    weights = a.weights or str(DEFAULT_WEIGHTS)
    result = {
        "cpu_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "scan_12mp": scan_bench(weights),
    }
    if not a.skip_training:
        with tempfile.TemporaryDirectory() as d:
            photos = Path(a.photos) if a.photos else synthetic_photos(Path(d) / "photos", 64)
            result["training_photos_per_s"] = training_bench(photos, a.steps)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
