"""Regenerate the home page's example (static/example/before.jpg and after.jpg) with the shipped model.

    python scripts/make_example.py                      # after the model in weights/ changes
    python scripts/make_example.py --weights other.safetensors

The photo is the one exception to "no data from ../shared in the repository": a public-domain family portrait
(Dorothea Lange's "Migrant Mother", 1936) that the DDColor repository ships among its example photos; the
credit is on the About page
(templates/about.html). It is colorized at full size by `heirloom colorize` at the model's defaults, then both
sides are cut to the same small JPEGs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (  # "Migrant Mother", Dorothea Lange, 1936 (FSA, Library of Congress: public domain)
    ROOT.parent
    / "shared/data/oldbw/ddcolor_assets"
    / "February 1936. Nipomo, Calif. Destitute pea pickers living in tent in migrant camp. Mother of seven children.jpg"
)
OUT = ROOT / "static" / "example"
WIDTH = 560  # px: sharp enough on a phone, about 70 KB a side


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=SOURCE)
    p.add_argument("--weights", help="generator file (default: the shipped one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "heirloom.cli", "colorize", str(args.source), "-o", tmp]
        subprocess.run(cmd + (["--weights", args.weights] if args.weights else []), check=True, cwd=ROOT)
        after = Image.open(Path(tmp) / args.source.name).convert("RGB")
        before = Image.open(args.source).convert("L")
        size = (WIDTH, round(WIDTH * before.height / before.width))
        OUT.mkdir(parents=True, exist_ok=True)
        for name, im in (("before.jpg", before), ("after.jpg", after)):
            im.resize(size, Image.Resampling.LANCZOS).save(OUT / name, quality=75, optimize=True, progressive=True)
            print(f"wrote {OUT / name} ({(OUT / name).stat().st_size / 1000:.0f} KB, {size[0]}×{size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
