"""`heirloom colorize`: files and folders in, colorized files out with the same names (and formats).

One Colorizer serves every file; a bad file is reported by name and skipped, and the
exit status says whether any failed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .errors import HeirloomError
from .contact_sheet import contact_sheet
from .photo_io import FORMATS, find_images, format_name, load_photo, save_photo
from .pipeline import Colorizer
from .progress import Progress


def collect(inputs: list[str]) -> list[tuple[Path, Path]]:
    """-> (source file, path relative to the output folder); folders keep their structure."""
    pairs = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pairs += [(f, f.relative_to(p)) for f in find_images(p)]
        else:
            pairs.append((p, Path(p.name)))
    return pairs


def colorize_paths(inputs: list[str], out_dir: Path, weights: str | None = None, render_size: int | None = None,
                   policy: str = "pad-reflect", saturation: float = 1.0, fmt: str | None = None,
                   device: str | None = None, sheet: Path | None = None, sheet_limit: int = 40) -> int:
    colorizer = Colorizer.from_checkpoint(weights, device=device)
    colorizer.check_options(render_size, policy, saturation)
    pairs = collect(inputs)
    if not pairs:
        print("error: no images found in the given inputs", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    rows = []
    progress = Progress(len(pairs), label="photo")
    for i, (src, rel) in enumerate(pairs):
        try:
            original = load_photo(src, colorizer.max_pixels)
            result = colorizer.colorize_photo(original, render_size, policy, saturation)
            if sheet is not None and len(rows) < sheet_limit:
                rows.append([original.pixels, result.pixels])
            target = out_dir / rel
            if fmt:
                target = target.with_suffix(FORMATS[format_name(fmt)])
            target.parent.mkdir(parents=True, exist_ok=True)
            save_photo(result, target, fmt)
        except HeirloomError as e:
            failed += 1
            print(f"\n{src}: {e}", file=sys.stderr)
        progress.update(i + 1, src.name)
    progress.close()
    if sheet is not None and rows:
        contact_sheet(rows, ["original", "colorized"], height=240).save(sheet)
    print(f"colorized {len(pairs) - failed} of {len(pairs)} into {out_dir}"
          + (f"; {failed} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
