"""The cheap checks of an upload, from its first bytes and its header only: is it a format we read, and are
its pixels within the limit? `open_checked` is the one probe, used by the engine (`photo_io`) before it
decodes and by a process that holds no model (the web side of the queue mode) through `check_header`.

Pixels are never decoded here. Pillow parses the header in Python for every format we allow, and
only that format's own plugin sees the bytes; HEIF headers need libheif, so HEIF is left to the
worker's bounded processes, and so is a TIFF that Pillow cannot open (the 16-bit gray + alpha layout
that model.photo_io reads with tifffile). The worker decodes everything again anyway.
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from . import formats
from .errors import ImageTooLarge, UnreadableImage

# What malformed input makes a decoder raise; each becomes UnreadableImage (never a 500).
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    TypeError,
    KeyError,
    IndexError,
    ZeroDivisionError,
    NotImplementedError,
    struct.error,
)


def open_checked(source: BinaryIO, fmt: formats.ImageFormat, max_pixels: int) -> Image.Image:
    """The one probe of an upload, for the web side and the engine alike: only `fmt`'s own Pillow plugin sees
    the bytes, its header alone is read, and an image over `max_pixels` (a decompression bomb included) is an
    ImageTooLarge, a damaged header an UnreadableImage, each with a sentence."""
    old = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                im = Image.open(source, formats=list(fmt.pillow))
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"The image has more pixels than the limit of {max_pixels:,}.") from e
    except DECODE_ERRORS as e:
        raise UnreadableImage(f"This file is not an image we can read: its {fmt.name} header is damaged.") from e
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLarge(f"The image is {w}×{h} = {w * h:,} pixels; the limit is {max_pixels:,}.")
    return im


def check_header(data: bytes, max_pixels: int) -> str:
    """-> the format's name, or UnreadableImage / ImageTooLarge with a sentence."""
    fmt = formats.sniff(data[:32])
    if fmt is None:
        readable = ", ".join(formats.FORMATS)
        raise UnreadableImage(f"This file is not an image we can read ({readable}).")
    if fmt.name == "HEIF":
        return fmt.name
    try:
        open_checked(io.BytesIO(data), fmt, max_pixels).close()
    except UnreadableImage:
        if fmt.name == "TIFF":
            return fmt.name
        raise
    return fmt.name
