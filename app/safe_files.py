"""Files that survive a crash, and ids that never become unexpected paths: shared by the album and the job
store, which both write into the data directory and name folders after ids."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

# What `new_id` makes (and an album photo made from a job keeps its job's id); nothing else becomes a path.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def new_id() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits: unguessable, URL-safe


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync, so that a rename after it never publishes a file whose bytes are not on disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def sync_dir(path: Path) -> None:
    """fsync a folder, so that the renames into it survive a crash (best effort: not every file system can)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
