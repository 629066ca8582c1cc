"""The work of one job, the same in a worker process or in-process: how a worker builds its Colorizer
(`WorkerSpec`), and `run_job`: decode, colorize, encode the result, its thumbnail and the browser previews.
Process management (children, timeouts, the pool) is `processes.py`'s."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model import formats
from model.options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_WORK_BYTES

from ..album.versions import PREVIEW_SIDES
from .contract import Job, ModelProfile, Outcome

if TYPE_CHECKING:  # torch and OpenCV load in the children, not in whoever imports this
    import numpy as np

    from model.photo_io import Photo
    from model.pipeline import Colorizer

THUMB_SIZE = PREVIEW_SIDES[0]  # a result's smallest preview is its thumbnail (album/storage.py serves it so)


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its Colorizer: everything a child needs, and nothing that cannot be pickled."""

    weights: str | None = None
    device: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_work_bytes: int = DEFAULT_MAX_WORK_BYTES
    torch_threads: int | None = None
    precision: str = "auto"  # auto | float32 | bfloat16 (model/precision.py)
    limit_memory: bool = True  # RLIMIT_AS in a child on the CPU (never on CUDA, whose mappings need the space)

    def build(self) -> Colorizer:
        from model.pipeline import Colorizer

        return Colorizer.from_checkpoint(
            self.weights, self.device, self.max_pixels, self.max_work_bytes, precision=self.precision
        )

    def profile(self, colorizer: Colorizer) -> ModelProfile:
        """What the parent needs to know of the model `build` made (it never loads one itself)."""
        from pathlib import Path

        from model.checkpoint import DEFAULT_WEIGHTS
        from model.weights_file import sha256_of

        path = Path(self.weights) if self.weights else DEFAULT_WEIGHTS
        return ModelProfile(
            colorizer.default_render_size,
            colorizer.multiple,
            str(colorizer.device),
            path.name,
            sha256_of(path),
            colorizer.precision,
            colorizer.takes_hints,
            (colorizer.footprint.weights, colorizer.footprint.fixed, colorizer.footprint.per_pixel),
            colorizer.max_work_bytes,
        )


def album_images(original: Photo, result: Photo) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    """The result's thumbnail, and JPEGs of both sides at each preview size, so a TIFF or HEIC scan (and a TIFF
    result) shows in any browser and a 4000 px photo's page loads a few hundred KB, not its full files. Each size
    is area-averaged from the next larger one, each photo made 8-bit once: resized from the full photo every time,
    a 12-MP photo's took 0.69 s, now 0.19 s (bench/bench_album_images.py)."""
    import cv2

    from model.photo_io import fitted_size, to_8bit

    thumb, out = b"", []
    for which, photo in (("original", original), ("result", result)):
        px = to_8bit(photo.pixels)  # the alpha is left out: a preview is a JPEG
        h, w = px.shape[:2]
        for side in sorted(PREVIEW_SIDES, reverse=True):
            size = fitted_size(w, h, side)  # from the full size: a chain of roundings would drift a pixel
            if size != (px.shape[1], px.shape[0]):
                px = cv2.resize(px, size, interpolation=cv2.INTER_AREA)
            if (which, side) == ("result", THUMB_SIZE):  # the result's smallest preview is its thumbnail
                thumb = _encoded(px, formats.THUMBNAIL.name, quality=85)
            else:
                out.append((f"{which}-{side}", _encoded(px, "JPEG", quality=82, optimize=True, progressive=True)))
    return thumb, tuple(out)


def _encoded(px: np.ndarray, container: str, **options: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(px, "L" if px.ndim == 2 else "RGB").save(buf, container, **options)
    return buf.getvalue()


def run_job(colorizer: Colorizer, job: Job) -> Outcome:
    """The work of one job: decode, colorize, encode the result and its thumbnail (or, for `suggest_at`,
    the model's plausible colours at that spot)."""
    if job.suggest_at is not None or job.max_side:
        from model.photo_io import load_photo, shrunk
        from model.suggest import suggest_colors

        photo = load_photo(
            job.data, colorizer.max_pixels, check=lambda w, h, deep: colorizer.check_work((h, w), job.options, deep)
        )
        photo = shrunk(photo, job.max_side) if job.max_side else photo
        if job.suggest_at is not None:
            colors = suggest_colors(colorizer, photo, *job.suggest_at, job.options)
            h, w = photo.pixels.shape[:2]
            return Outcome(b"", "", photo.format, w, h, b"", tuple(colors))
        source: Any = photo
    else:
        source = job.data
    result = colorizer.colorize(source, job.options)
    w, h = result.photo.size
    thumb, shown = album_images(result.source, result.photo) if job.thumbnail else (b"", ())
    return Outcome(result.encode(), result.format.name, result.source.format, w, h, thumb, previews=shown)
