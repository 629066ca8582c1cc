"""`heirloom colorize`: files and folders in, colorized files out with the same names (and formats).

One Colorizer serves every file; a bad file is reported by name and skipped, and the
exit status says whether any failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .contact_sheet import contact_sheet
from .errors import HeirloomError, NoImages
from .options import ColorizeOptions
from .photo_io import find_images, write_atomic
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


def colorize_paths(
    colorizer: Colorizer,
    inputs: list[str],
    out_dir: Path,
    opts: ColorizeOptions,
    sheet: Path | None = None,
    sheet_rows: int = 40,
) -> int:
    pairs = collect(inputs)
    if not pairs:
        raise NoImages("no images found in the given inputs")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    rows: list[list[np.ndarray]] = []
    progress = Progress(len(pairs), label="photo")
    for i, (src, rel) in enumerate(pairs):
        try:
            result = colorizer.colorize(src, opts)
            data = result.encode()
            if sheet is not None and len(rows) < sheet_rows:
                rows.append([result.source.pixels, result.photo.pixels])
            target = out_dir / rel
            if target.suffix.lower() not in result.format.extensions:  # --format, or a source we cannot write
                target = target.with_suffix(result.format.extension)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
        except HeirloomError as e:
            failed += 1
            print(f"\n{src}: {e}", file=sys.stderr)
        progress.update(i + 1, src.name)
    progress.close()
    if sheet is not None and rows:
        contact_sheet(rows, ["original", "colorized"], height=240).save(sheet)
    print(
        f"colorized {len(pairs) - failed} of {len(pairs)} into {out_dir}" + (f"; {failed} failed" if failed else ""),
        file=sys.stderr,
    )
    return 1 if failed else 0
