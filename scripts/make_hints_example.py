"""The README's colour-hints figure: the home page's example photo before, colorized automatically, and with two
colour hints (docs/hints-example.jpg), by the shipped model and its hint model.

    python scripts/make_hints_example.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import Colorizer  # noqa: E402
from scripts.make_example import SOURCE  # noqa: E402

# Two things a family might remember: her blouse was a faded blue, the boy's hair fair.
HINTS = [
    {"x": 0.6, "y": 0.62, "color": "#6f87a6", "radius": 0.02},
    {"x": 0.78, "y": 0.27, "color": "#b8945a", "radius": 0.02},
]
HEIGHT = 420


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=SOURCE)
    p.add_argument("--weights", help="generator file (default: the shipped one, with its hint model)")
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "hints-example.jpg")
    args = p.parse_args()
    c = Colorizer.from_checkpoint(args.weights)
    if not c.takes_hints:
        raise SystemExit("this model takes no hints")
    before = Image.open(args.source).convert("RGB")
    auto = Image.fromarray(c(before).pixels)
    hinted = Image.fromarray(c(before, c.options(hints=json.dumps(HINTS))).pixels)
    w = round(HEIGHT * before.width / before.height)
    panels = [
        im.resize((w, HEIGHT), Image.Resampling.LANCZOS) for im in (before.convert("L").convert("RGB"), auto, hinted)
    ]
    draw = ImageDraw.Draw(panels[2])
    for h in HINTS:  # where the hints were given, as the page shows its dots
        x, y, r = h["x"] * w, h["y"] * HEIGHT, 7
        draw.ellipse((x - r, y - r, x + r, y + r), fill=h["color"], outline="white", width=2)
    sheet = Image.new("RGB", (3 * w + 16, HEIGHT + 30), "white")
    for i, (panel, label) in enumerate(zip(panels, ("before", "automatic", "with two colour hints"))):
        sheet.paste(panel, (i * (w + 8), 30))
        ImageDraw.Draw(sheet).text((i * (w + 8) + 4, 8), label, fill="black")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=85, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1000:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
