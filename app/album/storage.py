"""Originals and results as files under the data directory; their records in `PhotoIndex`.

Layout:  <data>/photos/<id>/original.<ext>, and per version result-<v>.<ext>, thumb-<v>.jpg;
<data>/heirloom.sqlite3
A photo's files are written into <data>/tmp, fsynced, and renamed into place *before* its
record is committed, so a record never points at a half-written file; a crash leaves at most
an orphan folder, removed at the next start. The original is stored byte for byte.

Storage errors are typed (disk.py): a full disk is `StorageFull` (507); a data directory that cannot be
written (read-only mount, no permission) makes the album read-only from the start (viewable;
uploads, re-runs and deletes get `StorageReadOnly`, 503), instead of a server that will not start.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

from model import InvalidOption, formats
from model.hints import hints_json

from ..errors import NotFound, StorageFull, StorageReadOnly, TooManyVersions
from ..safe_files import ID_PATTERN, new_id, sync_dir, write_synced
from .batch_index import MAX_BATCH, Batch, BatchItem
from .disk import READ_ONLY, probe_writable, still_writable, storage_error
from .idempotency import Answer
from .metadata import CAPTION_FIELDS, PhotoIndex, Record, clean_caption
from .versions import PREVIEW_SIDES, Rendering, Version

log = logging.getLogger("heirloom.app")
THUMB_FORMAT = formats.THUMBNAIL


ORIGINAL_PREVIEW = "preview-original-{side}.jpg"


def _preview_files(version: Version, previews: tuple[tuple[str, bytes], ...]) -> list[tuple[str, bytes]]:
    """("original-960", jpeg) -> ("preview-original-960.jpg", jpeg); ("result-960", …) -> the version's file."""
    out = []
    for name, data in previews:
        which, _, side = name.partition("-")
        if not side.isdigit() or int(side) not in PREVIEW_SIDES:
            continue
        file = ORIGINAL_PREVIEW.format(side=side) if which == "original" else version.preview_file(int(side))
        out.append((file, data))
    return out


def display_name(filename: str | None) -> str:
    """A harmless label for the album and for download names; it never becomes a path."""
    name = unicodedata.normalize("NFKC", Path(filename or "").name)
    name = re.sub(r"[^\w .()+-]", "_", name).strip(" .")[:120]
    return name or "photo"


MAX_VERSIONS = 100  # per photo: re-runs, hints and repairs all make versions; each is a full-size result
RECHECK_S = 1.0  # how often a write (or /healthz) looks again whether the data directory is still writable


SHARED_SWEEP_AGE_S = 3600.0  # a shared album's leftovers are swept at start-up once this old


class Storage:
    def __init__(self, data_dir: Path, database_url: str | None = None):
        """The files live in `data_dir`; the records in its SQLite file, or in PostgreSQL at `database_url`."""
        self.root = Path(data_dir)
        self.photos = self.root / "photos"
        self.tmp = self.root / "tmp"
        self.read_only = False
        self._started_read_only = False
        self._checked = time.monotonic()
        try:
            probe_writable(self.root)
        except OSError as e:
            if e.errno not in READ_ONLY:
                raise
            self.read_only = self._started_read_only = True
            log.warning("The data directory %s cannot be written (%s): the album is read-only.", self.root, e.strerror)
        self.index = PhotoIndex(self.root / "heirloom.sqlite3", read_only=self.read_only, url=database_url)
        if not self.read_only:
            self._sweep(SHARED_SWEEP_AGE_S if database_url else 0.0)

    def writable(self) -> bool:
        """Whether the album can be changed now: looked at again at most every RECHECK_S (read-only since
        the start stays so: its database was opened read-only)."""
        if self._started_read_only or time.monotonic() - self._checked < RECHECK_S:
            return not self.read_only
        self._checked = time.monotonic()
        try:
            still_writable(self.root)
        except OSError as e:
            if e.errno not in READ_ONLY:
                raise
            if not self.read_only:
                log.error("The data directory %s turned read-only (%s): the album is read-only.", self.root, e)
            self.read_only = True
        else:
            if self.read_only:
                log.info("The data directory %s can be written again.", self.root)
            self.read_only = False
        return not self.read_only

    def require_writable(self) -> None:
        if not self.writable():
            raise StorageReadOnly(
                "The album is read-only: its data directory cannot be written, so new photos "
                "cannot be stored. It can still be viewed; /colorize still works."
            )

    @contextmanager
    def writing(self) -> Iterator[None]:
        self.require_writable()
        try:
            yield
        except (OSError, sqlite3.Error) as e:
            typed = storage_error(e)
            if typed is None:
                raise
            log.error("storage: %s", e)
            raise typed from e

    def _sweep(self, min_age_s: float = 0.0) -> None:
        """Drop what an interrupted write or delete left behind: temp files and folders without a record.
        With `min_age_s` only what is at least that old: with a shared database several servers share the
        data directory, and a younger leftover may be another server's write in progress."""
        if not min_age_s:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir(exist_ok=True)
        cutoff = time.time() - min_age_s

        def old(path: Path) -> bool:
            try:
                return not min_age_s or path.lstat().st_mtime <= cutoff
            except FileNotFoundError:
                return False

        for entry in list(self.tmp.iterdir()):
            if old(entry):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        known = self.index.ids()
        for folder in self.photos.iterdir():
            if folder.name not in known and old(folder):
                shutil.rmtree(folder, ignore_errors=True)

    def folder(self, photo_id: str) -> Path:
        if not ID_PATTERN.match(photo_id):
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            )
        return self.photos / photo_id

    def _version(self, r: Rendering, version_id: str | None = None) -> Version:
        vid = version_id or secrets.token_hex(4)
        return Version(
            id=vid,
            created=time.time(),
            result_file=f"result-{vid}.{formats.extension(r.result_format)}",
            result_format=r.result_format,
            render_size=r.opts.render_size,
            policy=r.opts.policy,
            saturation=r.opts.saturation,
            model_name=r.model.name,
            model_sha256=r.model.sha256,
            hints=hints_json(r.opts.hints) if r.opts.hints else "",
        )

    def add(
        self,
        *,
        name: str,
        original: bytes,
        original_format: str,
        width: int,
        height: int,
        r: Rendering,
        photo_id: str | None = None,
    ) -> Record:
        """A new photo: its original and first version, written and renamed into place, then recorded.
        `photo_id`: the queue mode's job id, so that storing a job's result twice finds it stored."""
        with self.writing():
            version = self._version(r)
            rec = Record(
                id=photo_id or new_id(),
                created=version.created,
                name=display_name(name),
                original_file=f"original.{formats.extension(original_format)}",
                original_format=original_format,
                original_bytes=len(original),
                width=width,
                height=height,
                favorite=version,
            )
            staging = self.tmp / rec.id
            staging.mkdir()
            try:
                write_synced(staging / rec.original_file, original)
                write_synced(staging / version.result_file, r.result)
                write_synced(staging / version.thumb_file, r.thumb)
                for name, data in _preview_files(version, r.previews):
                    write_synced(staging / name, data)
                sync_dir(staging)
                os.replace(staging, self.photos / rec.id)
                sync_dir(self.photos)
                self.index.insert(rec)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                shutil.rmtree(self.photos / rec.id, ignore_errors=True)
                raise
            return rec

    def add_version(self, photo_id: str, r: Rendering, version_id: str | None = None) -> Record:
        """Re-run: the new version's files beside the others, then one transaction records it as the favourite.
        `version_id`: the queue mode's, made from the job's id, so that storing a job twice adds one version."""
        with self.writing():
            folder = self.folder(photo_id)
            rec = self.get(photo_id)
            if version_id is not None and any(v.id == version_id for v in self.index.versions(photo_id)):
                return rec
            self.require_version_room(photo_id)
            version = self._version(r, version_id)
            written = []
            try:
                files = [(version.result_file, r.result), (version.thumb_file, r.thumb)]
                for name, data in _preview_files(version, r.previews):  # the original's only where still missing
                    if not (name.startswith("preview-original") and (folder / name).exists()):
                        files.append((name, data))
                for name, data in files:
                    tmp = self.tmp / f"{photo_id}-{name}"
                    write_synced(tmp, data)
                    os.replace(tmp, folder / name)
                    written.append(folder / name)
                sync_dir(folder)
                return self.index.add_version(photo_id, version)
            except BaseException:
                for path in written:  # nothing on record points at them
                    path.unlink(missing_ok=True)
                raise

    def require_version_room(self, photo_id: str) -> None:
        """TooManyVersions (409) when the photo holds MAX_VERSIONS: checked before any work is done for one."""
        if len(self.versions(photo_id)) >= MAX_VERSIONS:
            raise TooManyVersions(
                f"This photo has {MAX_VERSIONS} versions, the most one photo keeps; delete some of them "
                f"(on its page) before making another."
            )

    def versions(self, photo_id: str) -> list[Version]:
        self.get(photo_id)  # a 404 for an unknown photo, not an empty list
        return self.index.versions(photo_id)

    def version(self, photo_id: str, version_id: str) -> tuple[Record, Version]:
        rec = self.get(photo_id)
        found = next((v for v in self.index.versions(photo_id) if v.id == version_id), None)
        if found is None:
            raise NotFound("This photo has no version with this id.")
        return rec, found

    def set_favorite(self, photo_id: str, version_id: str) -> Record:
        self.get(photo_id)  # in the album: a photo in the trash is not changed
        with self.writing():
            return self.index.set_favorite(photo_id, version_id)

    def delete_version(self, photo_id: str, version_id: str) -> Record:
        """Record first, then its files (as `delete`)."""
        folder = self.folder(photo_id)
        self.get(photo_id)
        with self.writing():
            rec, gone = self.index.delete_version(photo_id, version_id)
        for name in (gone.result_file, gone.thumb_file, *(gone.preview_file(s) for s in PREVIEW_SIDES)):
            (folder / name).unlink(missing_ok=True)
        return rec

    def preview_path(self, rec: Record, side: int, version: Version | None = None) -> Path | None:
        """A browser-viewable JPEG of the original (no version) or of a version's result with this long side;
        None where none was made (photos colorized before previews existed)."""
        if side not in PREVIEW_SIDES:
            return None
        if version is not None and side == PREVIEW_SIDES[0]:
            return self.path(rec, "thumbnail", version)  # the thumbnail is the result's smallest preview
        name = ORIGINAL_PREVIEW.format(side=side) if version is None else version.preview_file(side)
        path = self.folder(rec.id) / name
        return path if path.is_file() else None

    def set_caption(self, photo_id: str, **caption: str | None) -> Record:
        """Change the caption fields given (who, where, when); None leaves a field as it is."""
        unknown = set(caption) - set(CAPTION_FIELDS)
        if unknown:
            raise ValueError(f"not caption fields: {sorted(unknown)}")
        changes = {k: clean_caption(k, v) for k, v in caption.items() if v is not None}
        self.folder(photo_id)  # validates the id's shape
        with self.writing():
            rec = self.index.set_caption(photo_id, changes)
        if rec is None:
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            )
        return rec

    def create_batch(self, names: list[str]) -> Batch:
        if not 1 <= len(names) <= MAX_BATCH:
            raise InvalidOption("names", f"A batch holds 1 to {MAX_BATCH} photos; this one has {len(names)}.")
        batch = Batch(new_id(), time.time(), [BatchItem(i, display_name(n)) for i, n in enumerate(names)])
        with self.writing():
            self.index.batches.create(batch)
        return batch

    def batch(self, batch_id: str) -> Batch:
        found = self.index.batches.get(batch_id) if ID_PATTERN.match(batch_id) else None
        if found is None:
            raise NotFound("There is no batch with this id.")
        return found

    def settle(self, batch_id: str, position: int, photo_id: str | None, error: str = "") -> bool:
        """-> False when the place already holds a photo (a second upload of it: its photo is not kept)."""
        with self.writing():
            return self.index.batches.settle(batch_id, position, photo_id, error)

    def arrived(self, batch_id: str, position: int) -> None:
        with self.writing():
            self.index.batches.arrived(batch_id, position, time.time())

    def declare_missing(self, batch_id: str, positions: list[int]) -> int:
        batch = self.batch(batch_id)
        if any(not 0 <= p < len(batch.items) for p in positions):
            raise InvalidOption("positions", f"The batch has photos 0 to {len(batch.items) - 1}.")
        with self.writing():
            return self.index.batches.declare_missing(batch_id, positions)

    def recent_batches(self, limit: int = 50) -> list[Batch]:
        return self.index.batches.recent(limit)

    # Idempotency-Key (app/album/idempotency.py): each write as every other, read-only and full disks told.
    def claim_key(self, key: str) -> Answer | None:
        with self.writing():
            return self.index.idempotency.claim(key)

    def answer_key(self, key: str, status: int, body: dict[str, Any], location: str = "") -> None:
        with self.writing():
            self.index.idempotency.answer(key, status, body, location)

    def release_key(self, key: str) -> None:
        with self.writing():
            self.index.idempotency.release(key)

    def listing(
        self, text: str = "", sort: str = "newest", limit: int = 100, offset: int = 0
    ) -> tuple[int, list[Record]]:
        return self.index.listing(text, sort, limit, offset)

    def get(self, photo_id: str) -> Record:
        self.folder(photo_id)  # validates the id's shape before any lookup
        rec = self.index.get(photo_id)
        if rec is None:
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            )
        return rec

    def newest_first(self, limit: int = 100, offset: int = 0) -> list[Record]:
        return self.index.newest_first(limit, offset)

    def count(self) -> int:
        return self.index.count()

    def path(self, rec: Record, kind: str, version: Version | None = None) -> Path:
        """A photo's original, or a version's result or thumbnail (the favourite's unless one is given)."""
        v = version or rec.favorite
        name = {"original": rec.original_file, "result": v.result_file, "thumbnail": v.thumb_file}[kind]
        return self.folder(rec.id) / name

    def delete(self, photo_id: str) -> None:
        """For good (app/album/trash.py moves photos to the trash first). Record first (one transaction), then
        files: a crash in between leaves only an orphan folder."""
        folder = self.folder(photo_id)
        try:
            with self.writing():
                deleted = self.index.delete(photo_id)
        except StorageFull:
            # A full disk must still be cleared from the app: the files go first to make room for the
            # record's change (a crash in between leaves a record without files, for a photo already
            # on its way out), then the record, which now fits.
            shutil.rmtree(folder, ignore_errors=True)
            with self.writing():
                deleted = self.index.delete(photo_id)
        if not deleted:
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            )
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self.index.close()
