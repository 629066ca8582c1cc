"""Where a hint's colour must not go: for each hint model, n truth hints per photo (the protocol's points,
`photo_hints`), and the change of CIEDE2000 they make against the automatic result, on the pixels whose true
colour is far from every hint's colour (the spill: > 0 means the hints painted their colour onto things of
other colours, e.g. a blouse's blue onto a face) and on the pixels of the hinted colours. The mean CIEDE2000
with hints rewards a hint that recolours the whole photo when the training photos' colour casts make that
pay; the spill shows what a family sees when it does not.

    python bench/bench_hint_spill.py ../shared/data/train --held-back 0.02 \\
        --weights weights/heirloom-generator-hints.safetensors RUN-A.safetensors
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from model import Colorizer
from model.color import gray_of
from model.errors import HeirloomError
from model.photo_io import Photo, load_photo, to_8bit
from model.training.evaluate import held_back_photos, list_photos, photo_hints
from model.training.metrics import FAR_FROM_HINT, hint_spill, mean_ciede2000

SCORE_SIDE = 256  # scored at this longest side: per-pixel CIEDE2000 of full scans would take minutes a photo


def _small(rgb: np.ndarray) -> np.ndarray:
    im = Image.fromarray(rgb)
    im.thumbnail((SCORE_SIDE, SCORE_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(im)


def score(colorizer: Colorizer, files: list[Path], n: int) -> dict[str, float]:
    spill, same, auto_de, hinted_de = [], [], [], []
    for path in files:
        try:
            real = load_photo(path).pixels
        except HeirloomError:
            continue
        if real.ndim == 2:
            continue
        real = to_8bit(real)
        hints = photo_hints(real, n, path.name)
        gray = Photo(gray_of(real))
        auto = _small(colorizer.colorize(gray, colorizer.options()).photo.pixels)
        hinted = _small(colorizer.colorize(gray, replace(colorizer.options(), hints=hints)).photo.pixels)
        small = _small(real)
        other, near = hint_spill(auto, hinted, small, np.array([h.ab for h in hints]))
        if other is not None:
            spill.append(other)
        if near is not None:
            same.append(near)
        auto_de.append(mean_ciede2000(auto, small))
        hinted_de.append(mean_ciede2000(hinted, small))
    return {
        "photos": len(auto_de),
        "ciede2000_auto": float(np.mean(auto_de)),
        "ciede2000_hinted": float(np.mean(hinted_de)),
        "spill": float(np.mean(spill)),
        "same_colour": float(np.mean(same)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--weights", nargs="+", required=True, help="generators with a hint input")
    p.add_argument("--hints", type=int, default=5)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--held-back", type=float, metavar="FRACTION", help="only the training folder's held-back slice")
    p.add_argument("-o", "--output", help="write the rows here as JSON")
    args = p.parse_args()
    folder = Path(args.folder)
    files = held_back_photos(folder, args.held_back) if args.held_back else list_photos(folder)
    files = files[: args.limit or None]
    rows = []
    print(f"{args.hints} hints; spill: CIEDE2000 change where true colour is > {FAR_FROM_HINT:g} ab from each hint's")
    print("| weights | photos | CIEDE2000 auto | with hints | spill | same colour |\n|---|---:|---:|---:|---:|---:|")
    for w in args.weights:
        c = Colorizer.from_checkpoint(w)
        if not c.takes_hints:
            raise SystemExit(f"{w} has no hint input")
        r = {"weights": w, "hints": args.hints, **score(c, files, args.hints)}
        rows.append(r)
        print(
            f"| {Path(w).name} | {r['photos']} | {r['ciede2000_auto']:.2f} | {r['ciede2000_hinted']:.2f} "
            f"| {r['spill']:+.2f} | {r['same_colour']:+.2f} |",
            flush=True,
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"folder": args.folder, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
