"""The work one model call does, in a pool thread: decode, colorize, encode the result and a thumbnail."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model import Colorizer, InvalidOption
from model.photo_io import FORMATS, Photo, encode_photo, load_photo

OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
THUMB_SIZE = 480


@dataclass(frozen=True)
class Options:
    render_size: int | None = None
    policy: str = "pad-reflect"
    saturation: float = 1.0
    format: str | None = None    # PNG | JPEG | WEBP; None: the upload's own format


@dataclass(frozen=True)
class Outcome:
    data: bytes
    format: str
    source_format: str
    width: int
    height: int
    thumb: bytes


def make_options(colorizer: Colorizer | None, render_size: int | None, policy: str | None,
                 saturation: float | None, fmt: str | None) -> Options:
    """Validate the options before the upload is queued, so a typo costs no model time."""
    out = None
    if fmt:
        out = OUTPUT_FORMATS.get(fmt.strip().lower())
        if out is None:
            raise InvalidOption("format", f"format must be png, jpeg or webp, got {fmt!r}.")
    opts = Options(render_size, policy or "pad-reflect", 1.0 if saturation is None else saturation, out)
    if colorizer is not None:
        colorizer.check_options(opts.render_size, opts.policy, opts.saturation)
    return opts


def thumbnail(photo: Photo) -> bytes:
    px = photo.pixels
    if px.dtype == np.uint16:
        px = (px >> 8).astype(np.uint8)
    im = Image.fromarray(px, "L" if px.ndim == 2 else "RGB")
    im.thumbnail((THUMB_SIZE, THUMB_SIZE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def colorize_bytes(colorizer: Colorizer, data: bytes, opts: Options, with_thumb: bool = True) -> Outcome:
    source = load_photo(data, colorizer.max_pixels)
    result = colorizer.colorize_photo(source, opts.render_size, opts.policy, opts.saturation)
    fmt = opts.format or {"MPO": "JPEG"}.get(source.format, source.format)
    if fmt not in FORMATS:
        fmt = "PNG"   # e.g. GIF: write a lossless format we support
    encoded = encode_photo(result, fmt)   # writes no EXIF: GPS and other metadata never reach the result
    w, h = result.size
    return Outcome(encoded, fmt, source.format, w, h, thumbnail(result) if with_thumb else b"")
