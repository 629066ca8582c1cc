"""Contact sheet of original | model A | model B ... for a folder of (old, black-and-white) photos.

    python bench/compare_sheet.py ../shared/data/oldbw -o docs/model/oldbw-compare.jpg \
        --model previous=/var/tmp/heirloom-runs/previous-generator.safetensors \
        --model new=weights/heirloom-generator.safetensors

Each model colours at its own default render size; rows are numbered so a table can refer to them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model.contact_sheet import contact_sheet
from model.photo_io import find_images, load_photo
from model.pipeline import Colorizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos")
    p.add_argument("-o", "--output", required=True, help="sheet image (.jpg or .png)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=WEIGHTS")
    p.add_argument("--height", type=int, default=200)
    a = p.parse_args()
    models = {}
    for spec in a.model:
        name, _, path = spec.partition("=")
        models[name] = Colorizer.from_checkpoint(path)
    files = find_images(Path(a.photos))
    rows = []
    for i, f in enumerate(files, 1):
        photo = load_photo(f)
        row = [photo.pixels] + [c.colorize(photo, c.options()).photo.pixels for c in models.values()]
        label = np.array(_label(f"{i}", row[0].shape[0]))
        rows.append([label] + row)
        print(f"{i:2d}  {f.relative_to(a.photos)}")
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
