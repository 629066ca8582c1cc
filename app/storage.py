"""Originals and results as files under the data directory; their records in `PhotoIndex`.

Layout:  <data>/photos/<id>/original.<ext>, result-<v>.<ext>, thumb-<v>.jpg;  <data>/heirloom.sqlite3
A photo's files are written into <data>/tmp, fsynced, and renamed into place *before* its
record is committed, so a record never points at a half-written file; a crash leaves at most
an orphan folder, removed at the next start. The original is stored byte for byte.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

from model import formats

from .errors import NotFound
from .metadata import PhotoIndex, Record

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
THUMB_FORMAT = formats.THUMBNAIL


def _thumb_file(version: str) -> str:
    return f"thumb-{version}{THUMB_FORMAT.extension}"


def new_id() -> str:
    return secrets.token_urlsafe(18)   # 144 random bits: unguessable, URL-safe


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


class Storage:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)
        self.photos = self.root / "photos"
        self.tmp = self.root / "tmp"
        self.photos.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.index = PhotoIndex(self.root / "heirloom.sqlite3")
        self._sweep()

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

    def add(self, *, name: str, original: bytes, original_format: str, result: bytes, result_format: str,
            thumb: bytes, width: int, height: int, render_size: int | None, policy: str,
            saturation: float) -> Record:
        photo_id = new_id()
        version = secrets.token_hex(4)
        rec = Record(id=photo_id, created=time.time(), name=display_name(name),
                     original_file=f"original.{formats.extension(original_format)}",
                     original_format=original_format, original_bytes=len(original),
                     result_file=f"result-{version}.{formats.extension(result_format)}", result_format=result_format,
                     width=width, height=height, render_size=render_size, policy=policy, saturation=saturation)
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

    def replace_result(self, photo_id: str, *, result: bytes, result_format: str, thumb: bytes,
                       render_size: int | None, policy: str, saturation: float) -> Record:
        """Re-run: new result files beside the old ones, then one record update, then the old files go."""
        old = self.get(photo_id)
        folder = self.folder(photo_id)
        version = secrets.token_hex(4)
        rec = replace(old, result_file=f"result-{version}.{formats.extension(result_format)}",
                      result_format=result_format, render_size=render_size, policy=policy,
                      saturation=saturation)
        for name, data in ((rec.result_file, result), (_thumb_file(version), thumb)):
            tmp = self.tmp / f"{photo_id}-{name}"
            _write_synced(tmp, data)
            os.replace(tmp, folder / name)
        _sync_dir(folder)
        self.index.update(rec)
        for stale in (old.result_file, self._thumb_name(old)):
            (folder / stale).unlink(missing_ok=True)
        return rec

    def get(self, photo_id: str) -> Record:
        self.folder(photo_id)   # validates the id's shape before any lookup
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
        if not self.index.delete(photo_id):
            raise NotFound("There is no photo with this id.")
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self.index.close()
