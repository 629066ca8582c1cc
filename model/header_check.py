"""The cheap checks of an upload, from its first bytes and its header only, for a process that holds no
model (the web side of the queue mode): is it a format we read, and are its pixels within the limit?

Pixels are never decoded here. Pillow parses the header in Python for every format we allow, and
only that format's own plugin sees the bytes; HEIF headers need libheif, so HEIF is left to the
worker's bounded processes, and so is a TIFF that Pillow cannot open (the 16-bit gray + alpha layout
that model.photo_io reads with tifffile). The worker decodes everything again anyway.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from . import formats
from .errors import ImageTooLarge, UnreadableImage

_HEADER_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error, KeyError)


def check_header(data: bytes, max_pixels: int) -> str:
    """-> the format's name, or UnreadableImage / ImageTooLarge with a sentence."""
    fmt = formats.sniff(data[:32])
    if fmt is None:
        readable = ", ".join(formats.FORMATS)
        raise UnreadableImage(f"This file is not an image we can read ({readable}).")
    if fmt.name == "HEIF":
        return fmt.name
    old = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                with Image.open(io.BytesIO(data), formats=list(fmt.pillow)) as im:
                    w, h = im.size
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"The image has more pixels than the limit of {max_pixels:,}.") from e
    except _HEADER_ERRORS as e:
        if fmt.name == "TIFF":
            return fmt.name
        raise UnreadableImage(f"This file is not an image we can read: its {fmt.name} header is damaged.") from e
    if w * h > max_pixels:
        raise ImageTooLarge(f"The image is {w}×{h} = {w * h:,} pixels; the limit is {max_pixels:,}.")
    return fmt.name
