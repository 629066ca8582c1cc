"""ZIP downloads of several photos: each one's favourite result, and its original scan if asked.

The archive is written to a temporary file on the album's own disk (an album can be larger than
memory) and removed once sent. Photos are already compressed, so entries are stored, not deflated.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from model import formats

from .metadata import Record
from .storage import Storage


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name (2).ext`, … when another photo in the archive has the same one."""
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{ext}"
    taken.add(candidate.lower())
    return candidate


def write_zip(storage: Storage, records: Iterable[Record], dest: Path, originals: bool = False) -> int:
    """Write the archive; -> how many photos it holds. Results at the top (`<name>-color.<ext>`),
    originals under `originals/` with their own names."""
    taken: set[str] = set()
    count = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for rec in records:
            stem = rec.name.rsplit(".", 1)[0] or "photo"
            result = _unique(f"{stem}-color.{formats.extension(rec.favorite.result_format)}", taken)
            zf.write(storage.path(rec, "result"), result)
            if originals:
                original = _unique(f"originals/{stem}.{formats.extension(rec.original_format)}", taken)
                zf.write(storage.path(rec, "original"), original)
            count += 1
    return count
