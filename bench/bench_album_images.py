"""Time the album's images of one colorized photo (the result's thumbnail and the JPEG previews of both sides,
app/serving/job_work.album_images) on a synthetic scan of a given size; prints the median of a few runs.

    python bench/bench_album_images.py [--width 4000 --height 3000 --runs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from app.serving.job_work import album_images
from model.photo_io import Photo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : a.height, 0 : a.width]
    base = (np.sin(x / 200) + np.cos(y / 150)) * 60 + 128  # smooth shapes and grain: JPEG sizes like a photo's
    gray = (base + rng.normal(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
    colour = (np.stack([base + 20, base, base - 20], -1) + rng.normal(0, 8, (*base.shape, 3))).clip(0, 255)
    original, result = Photo(gray), Photo(colour.astype(np.uint8))
    album_images(original, result)  # warm-up
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        thumb, shown = album_images(original, result)
        times.append(time.perf_counter() - t)
    kb = (len(thumb) + sum(len(b) for _, b in shown)) / 1024
    print(f"{a.width}x{a.height}: album images median {np.median(times) * 1000:.0f} ms over {a.runs} runs, {kb:.0f} KB")


if __name__ == "__main__":
    main()
