"""What the disk under the album says: whether the data directory can be written, and what a failed write
means for the person who made it (`StorageFull`, 507; `StorageReadOnly`, 503), so the album, the batch
uploads and the archive import all answer a full or read-only disk the same way."""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
from pathlib import Path

from ..errors import StorageFull, StorageReadOnly
from ..safe_files import write_synced

FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
FULL_MESSAGE = (
    "The disk that holds the album is full, so this was not stored. Free some space (empty the trash, or "
    "delete photos there for good: that works on a full disk) and try again."
)


def probe_writable(root: Path) -> None:
    """Create the folders and write (and remove) a file: OSError if the data directory cannot be written.
    Permissions alone say little (root ignores them); only a write tells."""
    for folder in (root, root / "photos", root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    probe = root / "tmp" / f".probe-{secrets.token_hex(4)}"
    write_synced(probe, b"ok")
    probe.unlink()


def storage_error(e: BaseException) -> Exception | None:
    """The typed error for a failed write, or None when it is not about the disk."""
    if isinstance(e, OSError) and e.errno in FULL:
        return StorageFull(FULL_MESSAGE)
    if isinstance(e, OSError) and e.errno in READ_ONLY:
        return StorageReadOnly(
            "The album's data directory cannot be written (read-only or no permission); "
            "the album can be viewed but not changed."
        )
    if isinstance(e, sqlite3.OperationalError):
        text = str(e).lower()
        if "full" in text:
            return StorageFull(FULL_MESSAGE)
        if "readonly" in text or "read-only" in text:
            return StorageReadOnly("The album's database cannot be written; the album can be viewed but not changed.")
    return None


def still_writable(root: Path) -> None:
    """A cheap look (create and remove an empty file, no fsync): OSError if the directory cannot be written
    now. A mount can turn read-only while the server runs, and a database handle opened before may still
    accept writes that the album's files no longer can."""
    probe = root / "tmp" / f".probe-{secrets.token_hex(4)}"
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    probe.unlink()
