"""Originals and results as files under the data directory; their records in `PhotoIndex`.

Layout:  <data>/photos/<id>/original.<ext>, result-<v>.<ext>, thumb-<v>.jpg;  <data>/heirloom.sqlite3
A photo's files are written into <data>/tmp, fsynced, and renamed into place *before* its
record is committed, so a record never points at a half-written file; a crash leaves at most
an orphan folder, removed at the next start. The original is stored byte for byte.

Storage errors are typed: a full disk is `StorageFull` (507); a data directory that cannot be
written (read-only mount, no permission) makes the album read-only from the start (viewable;
uploads, re-runs and deletes get `StorageReadOnly`, 503), instead of a server that will not start.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from model import formats

from .errors import NotFound, StorageFull, StorageReadOnly
from .metadata import CAPTION_FIELDS, PhotoIndex, Record, clean_caption

log = logging.getLogger("heirloom.app")
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
FULL_MESSAGE = (
    "The disk that holds the album is full, so this photo was not stored. "
    "Free some space (or delete photos from the album) and try again."
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
THUMB_FORMAT = formats.THUMBNAIL


def _thumb_file(version: str) -> str:
    return f"thumb-{version}{THUMB_FORMAT.extension}"


def new_id() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits: unguessable, URL-safe


def display_name(filename: str | None) -> str:
    """A harmless label for the album and for download names; it never becomes a path."""
    name = unicodedata.normalize("NFKC", Path(filename or "").name)
    name = re.sub(r"[^\w .()+-]", "_", name).strip(" .")[:120]
    return name or "photo"


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
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


def probe_writable(root: Path) -> None:
    """Create the folders and write (and remove) a file: OSError if the data directory cannot be written.
    Permissions alone say little (root ignores them); only a write tells."""
    for folder in (root, root / "photos", root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    probe = root / "tmp" / f".probe-{secrets.token_hex(4)}"
    _write_synced(probe, b"ok")
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


class Storage:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)
        self.photos = self.root / "photos"
        self.tmp = self.root / "tmp"
        self.read_only = False
        try:
            probe_writable(self.root)
        except OSError as e:
            if e.errno not in READ_ONLY:
                raise
            self.read_only = True
            log.warning("The data directory %s cannot be written (%s): the album is read-only.", self.root, e.strerror)
        self.index = PhotoIndex(self.root / "heirloom.sqlite3", read_only=self.read_only)
        if not self.read_only:
            self._sweep()

    def require_writable(self) -> None:
        if self.read_only:
            raise StorageReadOnly(
                "The album is read-only: its data directory cannot be written, so new photos "
                "cannot be stored. It can still be viewed; /colorize still works."
            )

    @contextmanager
    def _writing(self) -> Iterator[None]:
        self.require_writable()
        try:
            yield
        except (OSError, sqlite3.Error) as e:
            typed = storage_error(e)
            if typed is None:
                raise
            log.error("storage: %s", e)
            raise typed from e

    def _sweep(self) -> None:
        """Drop what an interrupted write or delete left behind: temp files and folders without a record."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(exist_ok=True)
        known = self.index.ids()
        for folder in self.photos.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    def folder(self, photo_id: str) -> Path:
        if not ID_PATTERN.match(photo_id):
            raise NotFound("There is no photo with this id.")
        return self.photos / photo_id

    def add(
        self,
        *,
        name: str,
        original: bytes,
        original_format: str,
        result: bytes,
        result_format: str,
        thumb: bytes,
        width: int,
        height: int,
        render_size: int | None,
        policy: str,
        saturation: float,
        photo_id: str | None = None,
    ) -> Record:
        """`photo_id`: the queue mode's job id, so that storing a job's result twice finds it stored."""
        with self._writing():
            return self._add(
                name=name,
                original=original,
                original_format=original_format,
                result=result,
                result_format=result_format,
                thumb=thumb,
                width=width,
                height=height,
                render_size=render_size,
                policy=policy,
                saturation=saturation,
                photo_id=photo_id,
            )

    def _add(
        self,
        *,
        name: str,
        original: bytes,
        original_format: str,
        result: bytes,
        result_format: str,
        thumb: bytes,
        width: int,
        height: int,
        render_size: int | None,
        policy: str,
        saturation: float,
        photo_id: str | None = None,
    ) -> Record:
        photo_id = photo_id or new_id()
        version = secrets.token_hex(4)
        rec = Record(
            id=photo_id,
            created=time.time(),
            name=display_name(name),
            original_file=f"original.{formats.extension(original_format)}",
            original_format=original_format,
            original_bytes=len(original),
            result_file=f"result-{version}.{formats.extension(result_format)}",
            result_format=result_format,
            width=width,
            height=height,
            render_size=render_size,
            policy=policy,
            saturation=saturation,
        )
        staging = self.tmp / photo_id
        staging.mkdir()
        try:
            _write_synced(staging / rec.original_file, original)
            _write_synced(staging / rec.result_file, result)
            _write_synced(staging / _thumb_file(version), thumb)
            _sync_dir(staging)
            os.replace(staging, self.photos / photo_id)
            _sync_dir(self.photos)
            self.index.insert(rec)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(self.photos / photo_id, ignore_errors=True)
            raise
        return rec

    def replace_result(
        self,
        photo_id: str,
        *,
        result: bytes,
        result_format: str,
        thumb: bytes,
        render_size: int | None,
        policy: str,
        saturation: float,
    ) -> Record:
        """Re-run: new result files beside the old ones, then one record update, then the old files go."""
        with self._writing():
            return self._replace_result(
                photo_id,
                result=result,
                result_format=result_format,
                thumb=thumb,
                render_size=render_size,
                policy=policy,
                saturation=saturation,
            )

    def _replace_result(
        self,
        photo_id: str,
        *,
        result: bytes,
        result_format: str,
        thumb: bytes,
        render_size: int | None,
        policy: str,
        saturation: float,
    ) -> Record:
        old = self.get(photo_id)
        folder = self.folder(photo_id)
        version = secrets.token_hex(4)
        rec = replace(
            old,
            result_file=f"result-{version}.{formats.extension(result_format)}",
            result_format=result_format,
            render_size=render_size,
            policy=policy,
            saturation=saturation,
        )
        written = []
        try:
            for name, data in ((rec.result_file, result), (_thumb_file(version), thumb)):
                tmp = self.tmp / f"{photo_id}-{name}"
                _write_synced(tmp, data)
                os.replace(tmp, folder / name)
                written.append(folder / name)
            _sync_dir(folder)
            self.index.update(rec)
        except BaseException:
            for path in written:  # the old result stays the one on record
                path.unlink(missing_ok=True)
            raise
        for stale in (old.result_file, self._thumb_name(old)):
            (folder / stale).unlink(missing_ok=True)
        return rec

    def set_caption(self, photo_id: str, **caption: str | None) -> Record:
        """Change the caption fields given (who, where, when); None leaves a field as it is."""
        unknown = set(caption) - set(CAPTION_FIELDS)
        if unknown:
            raise ValueError(f"not caption fields: {sorted(unknown)}")
        changes = {k: clean_caption(k, v) for k, v in caption.items() if v is not None}
        self.folder(photo_id)  # validates the id's shape
        with self._writing():
            rec = self.index.set_caption(photo_id, changes)
        if rec is None:
            raise NotFound("There is no photo with this id.")
        return rec

    def search(self, text: str, limit: int = 100, offset: int = 0) -> tuple[int, list[Record]]:
        return self.index.search(text, limit, offset)

    def get(self, photo_id: str) -> Record:
        self.folder(photo_id)  # validates the id's shape before any lookup
        rec = self.index.get(photo_id)
        if rec is None:
            raise NotFound("There is no photo with this id.")
        return rec

    def newest_first(self, limit: int = 100, offset: int = 0) -> list[Record]:
        return self.index.newest_first(limit, offset)

    def count(self) -> int:
        return self.index.count()

    @staticmethod
    def _thumb_name(rec: Record) -> str:
        return _thumb_file(rec.result_file.split("-", 1)[1].split(".")[0])

    def path(self, rec: Record, kind: str) -> Path:
        name = {"original": rec.original_file, "result": rec.result_file, "thumbnail": self._thumb_name(rec)}[kind]
        return self.folder(rec.id) / name

    def delete(self, photo_id: str) -> None:
        """Record first (one transaction), then files: a crash in between leaves only an orphan folder."""
        folder = self.folder(photo_id)
        with self._writing():
            if not self.index.delete(photo_id):
                raise NotFound("There is no photo with this id.")
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self.index.close()
