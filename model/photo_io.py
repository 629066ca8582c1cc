"""Reading and writing photos: any common format and mode in, plain arrays out, typed errors on bad input.

Pillow decodes 8-bit images (all modes, EXIF orientation); 16-bit PNG/TIFF go through
OpenCV, which keeps all 16 bits of colour images where Pillow would reduce them to 8.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from . import formats
from .errors import ImageTooLarge, UnreadableImage, UnsupportedImage
from .header_check import DECODE_ERRORS as HEADER_ERRORS
from .header_check import open_checked
from .options import DEFAULT_MAX_PIXELS

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is an error, not a gray half-photo
HEIF_READABLE = importlib.util.find_spec("pillow_heif") is not None
if HEIF_READABLE:
    import pillow_heif

    pillow_heif.register_heif_opener()
READABLE = ", ".join(f.name for f in formats.FORMATS.values() if f.name != "HEIF" or HEIF_READABLE)

# What malformed input makes a decoder raise (the probe's, and OpenCV's); each becomes UnreadableImage.
DECODE_ERRORS = (*HEADER_ERRORS, cv2.error)

Source = str | os.PathLike[str] | bytes | BinaryIO | Image.Image


@dataclass
class Photo:
    """Decoded pixels in display orientation. `pixels` is (H, W) gray or (H, W, 3) RGB, uint8 or uint16."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None  # (H, W), same dtype as pixels
    format: str = "PNG"  # the source's container, used to write the result alike

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


def fitted_size(w: int, h: int, side: int) -> tuple[int, int]:
    """(width, height) of a w x h photo with its long side at most `side`, the aspect kept (never enlarged)."""
    s = side / max(h, w)
    return (w, h) if s >= 1 else (max(1, round(w * s)), max(1, round(h * s)))


def shrunk(photo: Photo, side: int) -> Photo:
    """The photo with its long side at most `side` (area-averaged), in 8 bits: a preview's input."""
    h, w = photo.pixels.shape[:2]
    size = fitted_size(w, h, side)
    px, alpha = to_8bit(photo.pixels), None if photo.alpha is None else to_8bit(photo.alpha)
    if size == (w, h):
        return Photo(px, alpha, photo.format)
    px = cv2.resize(px, size, interpolation=cv2.INTER_AREA)
    alpha = None if alpha is None else cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return Photo(px, alpha, photo.format)


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder`, recursively, sorted (by suffix; decoding decides what is really an image)."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in formats.FOLDER_SUFFIXES)


def to_8bit(a: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by dropping the low byte; uint8 is returned as it is."""
    return (a >> 8).astype(np.uint8) if a.dtype == np.uint16 else a


def _allowed(source: str | os.PathLike[str] | BinaryIO) -> formats.ImageFormat:
    """The file's format from its content, before any decoder sees it; refused unless it is in the table."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                head = f.read(32)
        else:
            pos = source.tell()
            head = source.read(32)
            source.seek(pos)
    except FileNotFoundError as e:
        raise UnreadableImage(f"There is no file at {source}.") from e
    except OSError as e:
        raise UnreadableImage("The file cannot be read.") from e
    fmt = formats.sniff(head)
    if fmt is None or (fmt.name == "HEIF" and not HEIF_READABLE):
        raise UnreadableImage(f"This file is not an image we can read ({READABLE}): save or scan it as one of those.")
    return fmt


def _open(source: Source, max_pixels: int) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return open_checked(source, _allowed(source), max_pixels)  # type: ignore[arg-type]  # bytes made a file above


def _is_16bit(im: Image.Image) -> bool:
    if im.mode.startswith("I;16") or im.mode == "I":
        return True
    tile = getattr(im, "tile", None)  # ImageFile's undecoded tiles: their raw mode tells the bit depth
    raw = tile[0][3] if tile else None
    raw = raw[0] if isinstance(raw, tuple) else raw
    return isinstance(raw, str) and ";16" in raw


_ORIENT = {  # EXIF orientation -> how to turn the stored pixels upright
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _decode_16bit(im: Image.Image, data: bytes | None, path: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    buf = np.frombuffer(data, np.uint8) if data is not None else np.fromfile(cast(str, path), np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UnreadableImage(
            "This 16-bit image is damaged and cannot be decoded: save it again from the scanning program."
        )
    if arr.dtype != np.uint16:
        arr = arr.astype(np.uint16) * 257
    alpha = None
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha, arr = arr[..., 3], cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    elif arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr, alpha


def _decode_8bit(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("PA", "LA", "La"):
        im = im.convert("LA")
    elif mode in ("RGBA", "RGBa"):
        im = im.convert("RGBA")
    elif mode in ("1", "L"):
        im = im.convert("L")
    elif mode in ("RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode == "F":
        arr = np.asarray(im, np.float32)
        top = max(float(arr.max()), 1.0)
        return (np.clip(arr / top, 0, 1) * 255 + 0.5).astype(np.uint8), None
    else:
        raise UnsupportedImage(f"Images in colour mode {mode} are not supported; save it as RGB or grayscale.")
    arr = np.asarray(im)
    if im.mode in ("RGBA", "LA"):
        return np.ascontiguousarray(arr[..., :-1].squeeze(-1) if im.mode == "LA" else arr[..., :3]), arr[..., -1].copy()
    return arr, None


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _bytes(data: bytes | None, path: str | None) -> bytes:
    return data if data is not None else Path(cast(str, path)).read_bytes()


def _head(data: bytes | None, path: str | None) -> bytes:
    if data is not None:
        return data[:8]
    with open(cast(str, path), "rb") as f:
        return f.read(8)


def _deep_tiff(data: bytes, max_pixels: int, check: Callable[[int, int, bool], None] | None) -> Photo:
    """The 16-bit TIFFs that neither Pillow nor OpenCV reads whole, through tifffile: gray + alpha
    (Pillow has no such mode, OpenCV drops the alpha) and CMYK (OpenCV refuses it; converted to RGB
    as Pillow converts 8-bit CMYK). First page only, like every other multi-page file."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            page = tf.pages.first
            h, w = int(page.imagelength), int(page.imagewidth)
            if w * h > max_pixels:
                raise ImageTooLarge(f"The image is {w}×{h} = {w * h:,} pixels; the limit is {max_pixels:,}.")
            if check is not None:
                check(w, h, True)
            arr = page.asarray()
            photometric, planar = int(page.photometric), int(page.planarconfig)
            tag = page.tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except (tifffile.TiffFileError, *DECODE_ERRORS) as e:
        raise UnreadableImage(
            "This TIFF is damaged or uses a layout we cannot read: save it again as an ordinary TIFF, or as JPEG."
        ) from e
    if planar == 2 and arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)  # (samples, H, W) -> (H, W, samples)
    if arr.dtype != np.uint16 or arr.ndim != 3:
        raise UnsupportedImage("This TIFF's sample layout is not supported; save it as 8- or 16-bit RGB or gray.")
    alpha: np.ndarray | None
    if photometric == 1 and arr.shape[2] == 2:  # MINISBLACK + alpha
        pixels, alpha = np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 1])
    elif photometric == 5 and arr.shape[2] in (4, 5):  # SEPARATED: CMYK (+ alpha)
        c, m, y, k = (arr[..., i].astype(np.float32) / 65535 for i in range(4))
        rgb = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], -1)
        pixels = (rgb * 65535 + 0.5).astype(np.uint16)
        alpha = np.ascontiguousarray(arr[..., 4]) if arr.shape[2] == 5 else None
    else:
        raise UnsupportedImage("This TIFF's colour layout is not supported; save it as RGB or grayscale.")
    turn = _ORIENT.get(orientation)
    if turn is not None:
        pixels = np.ascontiguousarray(turn(pixels))
        alpha = None if alpha is None else np.ascontiguousarray(turn(alpha))
    return Photo(pixels, alpha, "TIFF")


def load_photo(
    source: Source, max_pixels: int = DEFAULT_MAX_PIXELS, check: Callable[[int, int, bool], None] | None = None
) -> Photo:
    """Decode any common image into a `Photo` in display orientation.

    `check(width, height, sixteen_bit)` sees the header's size before any pixel is decoded (the work
    budget) and may raise. Raises UnreadableImage, UnsupportedImage or ImageTooLarge with a sentence.
    """
    data = path = None
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = str(source)
    elif hasattr(source, "read"):
        data = source.read()
    try:
        im = _open(data if data is not None else source, max_pixels)
    except UnreadableImage as e:
        if not isinstance(e.__cause__, UnidentifiedImageError) or _head(data, path)[:4] not in _TIFF_MAGIC:
            raise
        return _deep_tiff(_bytes(data, path), max_pixels, check)  # 16-bit gray + alpha: Pillow has no mode
    w, h = im.size
    # Several frames (animated GIF/WebP, multi-page TIFF, MPO): the first, where Pillow opened the file.
    # Counting the frames would walk every TIFF directory, and a damaged one raised outside the checks.
    fmt = im.format or "PNG"
    try:
        deep = getattr(formats.find(fmt), "deep", False)
        sixteen = deep and _is_16bit(im)  # before getexif(), which may load and drop tiles
        if check is not None:
            check(w, h, sixteen)
        orientation = im.getexif().get(0x0112, 1)
        if sixteen and fmt == "TIFF" and im.mode == "CMYK":
            return _deep_tiff(_bytes(data, path), max_pixels, None)  # OpenCV cannot read 16-bit CMYK
        if sixteen:
            pixels, alpha = _decode_16bit(im, data, path)
        else:
            im.load()
            pixels, alpha = _decode_8bit(im)
    except DECODE_ERRORS as e:
        raise UnreadableImage("The image is truncated or damaged and cannot be decoded.") from e
    turn = _ORIENT.get(orientation)
    if turn is not None:
        pixels = np.ascontiguousarray(turn(pixels))
        alpha = None if alpha is None else np.ascontiguousarray(turn(alpha))
    return Photo(pixels, alpha, fmt)


def encode_photo(photo: Photo, fmt: str | None = None, quality: int = 95) -> bytes:
    """Encode to bytes in `fmt` (default: the photo's own). No EXIF is written, so no GPS leaks."""
    name = fmt or photo.format
    out = formats.find(name)
    if out is None or not out.writable:
        raise UnsupportedImage(f"Cannot write {name}; choose one of {', '.join(f.name for f in formats.WRITABLE)}.")
    px, alpha = photo.pixels, photo.alpha
    if not out.alpha:
        alpha = None
    if px.dtype == np.uint16 and out.deep:
        arr = px if px.ndim == 2 else cv2.cvtColor(px, cv2.COLOR_RGB2BGR)
        if alpha is not None:
            arr = np.dstack([arr if arr.ndim == 3 else np.dstack([arr] * 3), alpha])
        ok, buf = cv2.imencode(out.extension, arr)
        if not ok:
            raise UnsupportedImage(f"Could not encode a 16-bit {out.name}.")
        return buf.tobytes()
    px = to_8bit(px)
    alpha = None if alpha is None else to_8bit(alpha)
    if alpha is not None:
        base = px if px.ndim == 3 else np.dstack([px] * 3)
        im = Image.fromarray(np.dstack([base, alpha]), "RGBA")
    else:
        im = Image.fromarray(px, "L" if px.ndim == 2 else "RGB")
    stream = io.BytesIO()
    kw = {"quality": quality} if out.lossy else {}
    im.save(stream, format=out.name, **kw)
    return stream.getvalue()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Temp file then rename, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
