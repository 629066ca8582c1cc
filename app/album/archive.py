"""`heirloom album export FILE` / `heirloom album import FILE`: the whole album (originals, every version,
captions, the trash) as one ZIP, and back into an empty data directory.

The archive holds `heirloom-album.json` (each photo's record, its versions and every file's SHA-256) and
the files under `photos/<id>/`. An import checks everything first (the manifest's shape and size, every
name, every file's size against the upload limits, every original through the upload probe, every
checksum, the free space) without writing; a damaged or foreign archive, or a data directory that already
has photos, is an `ArchiveError` and nothing is changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import struct
import time
import types
import zipfile
import zlib
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import IO, Any, get_args, get_type_hints

from model import HeirloomError, InvalidOption, formats
from model.header_check import check_header
from model.hints import parse_hints

from ..errors import AppError
from ..safe_files import ID_PATTERN
from ..settings import Settings
from .disk import storage_error
from .metadata import PhotoIndex, Record
from .storage import ORIGINAL_PREVIEW, Storage, display_name
from .versions import PREVIEW_SIDES, Version

FORMAT, FORMAT_VERSION = "heirloom-album", 1
# What a damaged or hostile ZIP makes the reader raise (bad CRC, a broken deflate stream, an unknown
# compression method, encryption, lying offsets): each is an ArchiveError with the member's name.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    zlib.error,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)
MAX_MANIFEST_BYTES = 64 << 20  # ~1 KB a photo: room for tens of thousands; an 800 MB one is a bomb
MANIFEST = "heirloom-album.json"
DATABASE = "heirloom.sqlite3"
_VERSION_ID = re.compile(r"^[0-9a-f]{8}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArchiveError(AppError):
    """Not an album archive, a damaged one, or nowhere to import it; nothing was changed."""


def default_data_dir() -> Path:
    return Path(os.environ.get("HEIRLOOM_DATA_DIR") or Settings.data_dir)


def _files(rec: Record, versions: list[Version]) -> list[str]:
    return [rec.original_file, *(n for v in versions for n in (v.result_file, v.thumb_file))]


def _previews(versions: list[Version]) -> list[str]:
    """The browser-viewable previews a photo may have (those from before previews have none): optional."""
    return [ORIGINAL_PREVIEW.format(side=s) for s in PREVIEW_SIDES] + [
        v.preview_file(s) for v in versions for s in PREVIEW_SIDES[1:]
    ]


def export_album(data_dir: Path, dest: Path, database_url: str | None = None) -> int:
    """Write the album in `data_dir` to `dest` (replaced only once complete); -> how many photos.
    It only reads: a running server may keep using the album (its half-written files are not touched).
    `database_url`: the album's records are in that PostgreSQL database, not `data_dir`'s SQLite file."""
    if not database_url and not (data_dir / DATABASE).exists():
        raise ArchiveError(f"There is no album in {data_dir} (no {DATABASE}).")
    index = PhotoIndex(data_dir / DATABASE, read_only=True, url=database_url)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    try:
        everything = index.everything()
        photos = []
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:  # photos are compressed already
            for rec, versions in everything:
                folder = data_dir / "photos" / rec.id
                sums = {}
                present = [n for n in _previews(versions) if (folder / n).is_file()]
                for name in [*_files(rec, versions), *present]:
                    zf.write(folder / name, f"photos/{rec.id}/{name}")
                    sums[name] = _sha256(open(folder / name, "rb"))
                photos.append(
                    {
                        "photo": {k: v for k, v in asdict(rec).items() if k != "favorite"},
                        "favorite": rec.favorite.id,
                        "versions": [asdict(v) for v in versions],
                        "files": sums,
                    }
                )
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "exported": time.time(), "photos": photos}
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1), zipfile.ZIP_DEFLATED)
        os.replace(tmp, dest)
    except FileNotFoundError as e:
        raise ArchiveError(f"The album in {data_dir} is missing a file ({e.filename}); nothing was written.") from e
    finally:
        tmp.unlink(missing_ok=True)
        index.close()
    return len(everything)


def _sha256(f: IO[bytes], copy_to: Path | None = None, limit: int | None = None) -> str:
    """The stream's SHA-256 (closing it), optionally writing it to `copy_to` on the way (fsynced). More than
    `limit` bytes is an ArchiveError, counted as they come: a member's declared size may lie."""
    h = hashlib.sha256()
    total = 0
    with f, open(copy_to, "wb") if copy_to else open(os.devnull, "wb") as out:
        for block in iter(lambda: f.read(1 << 20), b""):
            total += len(block)
            if limit is not None and total > limit:
                raise ArchiveError("The archive is damaged: a file holds more than its size says.")
            h.update(block)
            out.write(block)
        if copy_to:
            out.flush()
            os.fsync(out.fileno())
    return h.hexdigest()


# --- import: check everything, then write -------------------------------------------------------


def _typed(cls: type, data: object, what: str, skip: str = "") -> dict[str, Any]:
    """`data` as the fields of dataclass `cls` (no others, each of its declared type; one with a default may
    be missing: an archive from before the field existed)."""
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)} - {skip}
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING} - {skip}
    if not isinstance(data, dict) or not required <= set(data) <= names:
        raise ArchiveError(f"The archive's {what} does not have the fields this Heirloom expects.")
    for name in set(data):
        allowed = get_args(hints[name]) if isinstance(hints[name], types.UnionType) else (hints[name],)
        value = data[name]
        ok = isinstance(value, allowed) or (float in allowed and isinstance(value, int))
        if not ok or isinstance(value, bool):
            raise ArchiveError(f"The archive's {what} has a wrong value for {name!r}.")
    return data


def _photo(entry: object) -> tuple[Record, list[Version], dict[str, str]]:
    """One manifest entry, checked: ids, file names (only those we write), formats, checksums."""
    if not isinstance(entry, dict) or set(entry) != {"photo", "favorite", "versions", "files"}:
        raise ArchiveError("The archive's list of photos is not in the expected shape.")
    raw = entry["versions"] if isinstance(entry["versions"], list) else None
    if not raw:
        raise ArchiveError("A photo in the archive has no versions.")
    versions = [Version(**_typed(Version, v, "version")) for v in raw]
    for v in versions:
        try:
            parse_hints(v.hints)
        except InvalidOption as e:
            raise ArchiveError(f"A version in the archive has colour hints this Heirloom cannot read ({e}).") from e
    by_id = {v.id: v for v in versions}
    if entry["favorite"] not in by_id or len(by_id) != len(versions):
        raise ArchiveError("A photo in the archive names a favourite version it does not have.")
    rec = Record(**_typed(Record, entry["photo"], "photo", skip="favorite"), favorite=by_id[entry["favorite"]])
    ext = formats.extension
    good = (
        ID_PATTERN.match(rec.id)
        and rec.name == display_name(rec.name)
        and rec.original_format in formats.FORMATS
        and rec.original_file == f"original.{ext(rec.original_format)}"
        and all(
            _VERSION_ID.match(v.id)
            and v.result_format in formats.FORMATS
            and v.result_file == f"result-{v.id}.{ext(v.result_format)}"
            for v in versions
        )
    )
    files = entry["files"]
    required = set(_files(rec, versions))
    if not good or not isinstance(files, dict) or not required <= set(files) <= required | set(_previews(versions)):
        raise ArchiveError(f"The archive's photo {str(rec.id)[:24]!r} has names this Heirloom would not write.")
    if not all(isinstance(s, str) and _SHA256.match(s) for s in files.values()):
        raise ArchiveError("The archive's checksums are not SHA-256 digests.")
    return rec, versions, files


def _read_bounded(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused past `limit` by its declared size and again by what it inflates to."""
    if zf.getinfo(name).file_size > limit:
        raise ArchiveError(f"The archive's {name} is {zf.getinfo(name).file_size:,} bytes; at most {limit:,} are read.")
    with zf.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"The archive is damaged: {name} inflates past its size.")
    return data


def read_manifest(zf: zipfile.ZipFile) -> list[tuple[Record, list[Version], dict[str, str]]]:
    try:
        manifest = json.loads(_read_bounded(zf, MANIFEST, MAX_MANIFEST_BYTES))
    except KeyError:
        raise ArchiveError(f"This is not a Heirloom album archive (it has no {MANIFEST}).") from None
    except ZIP_ERRORS as e:
        raise ArchiveError(f"The archive's {MANIFEST} is damaged ({e}).") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"This is not a Heirloom album archive ({MANIFEST} is for something else).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"The archive has album format version {manifest.get('format_version')!r}; "
            f"this Heirloom reads version {FORMAT_VERSION}."
        )
    photos = manifest.get("photos")
    if not isinstance(photos, list):
        raise ArchiveError("The archive's list of photos is missing.")
    checked = [_photo(p) for p in photos]
    if len({rec.id for rec, _, _ in checked}) != len(checked):
        raise ArchiveError("The archive lists a photo twice.")
    return checked


def _limit(name: str, limits: Settings) -> int:
    """What one file may hold: an original what an upload may; a result or thumbnail what an image of the
    pixel limit takes uncompressed at its deepest (16-bit RGBA), the most any encoder writes for it."""
    return limits.max_upload_bytes if name.startswith("original.") else limits.max_pixels * 8 + (1 << 20)


def _check_files(
    zf: zipfile.ZipFile, photos: list[tuple[Record, list[Version], dict[str, str]]], limits: Settings
) -> int:
    """Every file there, within its limit (declared and actual), matching its checksum, and every original an
    image the upload probe accepts (read, not written); -> the bytes they take."""
    total = 0
    for rec, _, files in photos:
        for name, digest in files.items():
            member = f"photos/{rec.id}/{name}"
            limit = _limit(name, limits)
            try:
                size = zf.getinfo(member).file_size
                if size > limit:
                    raise ArchiveError(f"The archive's {member} is {size:,} bytes, over the limit of {limit:,}.")
                total += size
                if name.startswith("original."):  # read once: probed and hashed from the same bytes
                    data = _read_bounded(zf, member, size)
                    _probe_original(data, member, limits)
                    found = hashlib.sha256(data).hexdigest()
                else:
                    found = _sha256(zf.open(member), limit=size)
                if found != digest:
                    raise ArchiveError(f"The archive is damaged: {member} does not match its checksum.")
            except KeyError:
                raise ArchiveError(f"The archive is incomplete: {member} is missing.") from None
            except ZIP_ERRORS as e:
                raise ArchiveError(f"The archive is damaged: {member} cannot be read ({e}).") from e
    return total


def _probe_original(data: bytes, member: str, limits: Settings) -> None:
    """The same format allow-list and header probe as an upload (pixel limit and bombs included)."""
    try:
        check_header(data, limits.max_pixels)
    except HeirloomError as e:
        raise ArchiveError(f"The archive's {member} is not a photo this Heirloom accepts: {e}") from e


def _require_empty(data_dir: Path, database_url: str | None) -> None:
    if database_url or (data_dir / DATABASE).exists():
        index = PhotoIndex(data_dir / DATABASE, read_only=True, url=database_url)  # looks, changes nothing
        try:
            if index.ids():
                raise ArchiveError(
                    f"The album in {data_dir} already has photos; import into an empty data directory "
                    "(or move this one away first)."
                )
        finally:
            index.close()


def import_album(src: Path, data_dir: Path, database_url: str | None = None) -> int:
    """Import `src` into the empty album in `data_dir` (its records into `database_url`'s PostgreSQL
    database when given: the way from a SQLite album to PostgreSQL); -> how many photos. All or nothing."""
    try:
        zf = zipfile.ZipFile(src)
    except FileNotFoundError:
        raise ArchiveError(f"There is no file {src}.") from None
    except ZIP_ERRORS as e:
        raise ArchiveError(f"{src} is not a Heirloom album archive (not a readable ZIP file).") from e
    with zf:
        photos = read_manifest(zf)
        try:
            limits = Settings.from_env()  # the server's own upload limits ($HEIRLOOM_MAX_UPLOAD_MB, …)
        except ValueError as e:
            raise ArchiveError(f"The settings are not valid: {e}") from e
        needed = _check_files(zf, photos, limits)
        _require_empty(data_dir, database_url)
        data_dir.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(data_dir).free < needed * 1.05 + (1 << 20):
            raise ArchiveError(f"The disk holding {data_dir} has too little free space for this album.")
        storage = Storage(data_dir, database_url)
        storage.require_writable()
        staging = storage.tmp / f"import-{secrets.token_hex(4)}"
        done: list[str] = []
        try:
            with storage.writing():
                for rec, versions, files in photos:
                    folder = staging / rec.id
                    folder.mkdir(parents=True)
                    for name, digest in files.items():
                        member = f"photos/{rec.id}/{name}"
                        try:
                            same = _sha256(zf.open(member), folder / name, zf.getinfo(member).file_size) == digest
                        except ZIP_ERRORS as e:
                            if isinstance(e, OSError) and storage_error(e) is not None:
                                raise  # the disk's, not the archive's: 507 / read-only as for any write
                            raise ArchiveError(f"The archive is damaged: {member} cannot be read ({e}).") from e
                        if not same:
                            raise ArchiveError(f"The archive changed while it was read: photos/{rec.id}/{name}.")
                    os.replace(folder, storage.photos / rec.id)
                    done.append(rec.id)
                    storage.index.insert(rec, versions)
        except BaseException:
            for photo_id in done:  # back to the empty album it was
                storage.index.delete(photo_id)
                shutil.rmtree(storage.photos / photo_id, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            storage.close()
    return len(photos)
