"""Contact sheet of original | model A | model B ... for a folder of (old, black-and-white) photos.

    python bench/compare_sheet.py ../shared/data/oldbw -o docs/model/oldbw-compare.jpg \
        --model previous=/var/tmp/heirloom-runs/previous-generator.safetensors \
        --model new=weights/heirloom-generator.safetensors

Each model colours at its own default render size; rows are numbered so a table can refer to them.
Prints each photo's colourfulness as scanned (a sepia or toned print is colourful already) and as each
model returns it, flags results that come back *less* colourful than the print that went in, and with
--table writes the same as JSON, with the medians.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model.contact_sheet import contact_sheet
from model.photo_io import find_images, load_photo, to_8bit
from model.pipeline import Colorizer
from model.training.metrics import colorfulness


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos")
    p.add_argument("-o", "--output", required=True, help="sheet image (.jpg or .png)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=WEIGHTS")
    p.add_argument("--height", type=int, default=200)
    p.add_argument("--table", help="write the per-photo colourfulness table here (JSON)")
    a = p.parse_args()
    models = {}
    for spec in a.model:
        name, _, path = spec.partition("=")
        models[name] = Colorizer.from_checkpoint(path)
    files = find_images(Path(a.photos))
    rows, table = [], []
    print(f"{'#':>2}  {'input CF':>8}  " + "  ".join(f"{n:>10}" for n in models) + "  photo")
    for i, f in enumerate(files, 1):
        photo = load_photo(f)
        row = [photo.pixels] + [c.colorize(photo, c.options()).photo.pixels for c in models.values()]
        label = np.array(_label(f"{i}", row[0].shape[0]))
        rows.append([label] + row)
        cf_in = colorfulness(to_8bit(photo.pixels)) if photo.pixels.ndim == 3 else 0.0
        cfs = {n: colorfulness(to_8bit(out)) for n, out in zip(models, row[1:])}
        grayer = [n for n, v in cfs.items() if v < cf_in]
        table.append({"n": i, "photo": str(f.relative_to(a.photos)), "input_cf": cf_in, "cf": cfs, "grayer": grayer})
        flags = f"  (grayer than the print: {', '.join(grayer)})" if grayer else ""
        values = "  ".join(f"{v:10.1f}" for v in cfs.values())
        print(f"{i:2d}  {cf_in:8.1f}  {values}  {table[-1]['photo']}{flags}")
    medians = {n: float(np.median([t["cf"][n] for t in table])) for n in models}
    print("median CF: " + ", ".join(f"{n} {v:.1f}" for n, v in medians.items()))
    if a.table:
        Path(a.table).write_text(json.dumps({"photos": table, "median_cf": medians}, indent=2))
    sheet = contact_sheet(rows, ["#", "original", *models], height=a.height)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.output, quality=88) if a.output.endswith(".jpg") else sheet.save(a.output)
    print(f"wrote {a.output} ({sheet.size[0]}x{sheet.size[1]})")


def _label(text: str, height: int) -> Image.Image:
    img = Image.new("RGB", (max(8, height // 6), height), "white")
    ImageDraw.Draw(img).text((2, height // 2 - 6), text, fill=(0, 0, 0))
    return img


if __name__ == "__main__":
    main()
