"""The work one model call does, in a pool thread: decode, colorize, encode the result and a thumbnail."""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from model import ColorizeOptions, Colorizer
from model.photo_io import Photo, to_8bit

from .storage import THUMB_FORMAT

THUMB_SIZE = 480


@dataclass(frozen=True)
class Outcome:
    data: bytes
    format: str
    source_format: str
    width: int
    height: int
    thumb: bytes


def thumbnail(photo: Photo) -> bytes:
    px = to_8bit(photo.pixels)
    im = Image.fromarray(px, "L" if px.ndim == 2 else "RGB")
    im.thumbnail((THUMB_SIZE, THUMB_SIZE))
    buf = io.BytesIO()
    im.save(buf, THUMB_FORMAT.name, quality=85)
    return buf.getvalue()


def colorize_bytes(colorizer: Colorizer, data: bytes, opts: ColorizeOptions, with_thumb: bool = True) -> Outcome:
    result = colorizer.colorize(data, opts)
    w, h = result.photo.size
    return Outcome(result.encode(), result.format.name, result.source.format, w, h,
                   thumbnail(result.photo) if with_thumb else b"")
