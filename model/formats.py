"""The image formats Heirloom reads and writes: one table, read by photo I/O, the CLI's choices,
the API's enums and storage's file names and media types.

It is also the allow-list of inputs: `sniff` names a file's format from its first bytes, and only
a format in this table is ever handed to Pillow, and only to that format's own decoder. Everything
else Pillow knows (EPS through Ghostscript, DDS, SPIDER, ICO, AVIF, JPEG 2000…) is refused unread.

Imports nothing heavy (no Pillow, OpenCV or torch), so `heirloom --help` can list it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidOption


@dataclass(frozen=True)
class ImageFormat:
    name: str  # the container's name as Pillow reports it: "JPEG"
    extensions: tuple[str, ...]  # the first is the one we write: ".jpg"
    media_type: str  # "image/jpeg"
    writable: bool = True  # results can be written in it (every format here is readable)
    deep: bool = False  # holds 16 bits per channel: read and written with all 16
    lossy: bool = False  # takes a quality setting
    alpha: bool = True  # can hold transparency
    in_folders: bool = True  # picked up when a folder is searched for photos
    aliases: tuple[str, ...] = ()  # other names for the same container
    decoders: tuple[str, ...] = ()  # the Pillow plugins allowed to open it (default: its name)

    @property
    def extension(self) -> str:
        return self.extensions[0]

    @property
    def pillow(self) -> tuple[str, ...]:
        return self.decoders or (self.name,)

    @property
    def choice(self) -> str:
        """How the CLI and the API spell it: 'jpeg'."""
        return self.name.lower()


FORMATS: dict[str, ImageFormat] = {
    f.name: f
    for f in (
        # MPO: a JPEG with extra frames (some cameras); its first frame is a plain JPEG.
        ImageFormat(
            "JPEG",
            (".jpg", ".jpeg"),
            "image/jpeg",
            lossy=True,
            alpha=False,
            aliases=("JPG", "MPO"),
            decoders=("JPEG", "MPO"),
        ),
        ImageFormat("PNG", (".png",), "image/png", deep=True),
        ImageFormat("WEBP", (".webp",), "image/webp", lossy=True),
        ImageFormat("TIFF", (".tif", ".tiff"), "image/tiff", deep=True, aliases=("TIF",)),
        ImageFormat("BMP", (".bmp",), "image/bmp"),
        ImageFormat("GIF", (".gif",), "image/gif", writable=False, in_folders=False),  # uploads only; first frame
        # iPhone photos of prints; read through pillow-heif (libheif), written back as PNG.
        ImageFormat("HEIF", (".heic", ".heif"), "image/heic", writable=False, aliases=("HEIC",)),
    )
}
_BY_NAME = {n: f for f in FORMATS.values() for n in (f.name, *f.aliases)}

WRITABLE: tuple[ImageFormat, ...] = tuple(f for f in FORMATS.values() if f.writable)
CHOICES: tuple[str, ...] = tuple(f.choice for f in WRITABLE)  # output formats, as flags spell them
FOLDER_SUFFIXES: frozenset[str] = frozenset(e for f in FORMATS.values() if f.in_folders for e in f.extensions)
THUMBNAIL = FORMATS["JPEG"]  # album thumbnails are small JPEGs whatever the result's format
FALLBACK = FORMATS["PNG"]  # results of a source we cannot write (GIF, or a format outside the table)
OCTET_STREAM = "application/octet-stream"


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}


def sniff(head: bytes) -> ImageFormat | None:
    """The format of a file from its first 32 bytes, for the formats in the table only; None otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return FORMATS["JPEG"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["PNG"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FORMATS["GIF"]
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic and BigTIFF
        return FORMATS["TIFF"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FORMATS["WEBP"]
    if head[:2] == b"BM" and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):  # BMP info header
        return FORMATS["BMP"]
    if head[4:8] == b"ftyp":  # ISO media: HEIC yes; AVIF (same box, brand 'avif') no
        major, compatible = head[8:12], {head[i : i + 4] for i in range(16, len(head) - 3, 4)}
        if b"avif" not in compatible | {major} and (major in _HEIF_BRANDS or compatible & _HEIF_BRANDS):
            return FORMATS["HEIF"]
    return None


def find(name: str | None) -> ImageFormat | None:
    """'jpg', 'JPEG', 'tif', 'MPO', ' png ' … -> its format; None for a name outside the table."""
    return _BY_NAME.get((name or "").strip().upper())


def writable(name: str) -> ImageFormat:
    """An output format the user asked for by name; InvalidOption('format') if we cannot write it."""
    fmt = find(name)
    if fmt is None or not fmt.writable:
        raise InvalidOption("format", f"format must be one of {', '.join(CHOICES)}, got {name!r}.")
    return fmt


def output_format(source: str, requested: str | None = None) -> ImageFormat:
    """What a result is written as: the requested format, else the source's own where we can write it."""
    if requested:
        return writable(requested)
    fmt = find(source)
    return fmt if fmt is not None and fmt.writable else FALLBACK


def extension(name: str) -> str:
    """File name extension without the dot ('jpg'); 'bin' for a format outside the table."""
    fmt = find(name)
    return fmt.extension[1:] if fmt else "bin"


def media_type(name: str) -> str:
    fmt = find(name)
    return fmt.media_type if fmt else OCTET_STREAM
