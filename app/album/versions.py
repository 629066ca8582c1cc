"""Versions: each colorization of a photo's original is kept, with the options and the model that made it.

A photo has one or more versions and one favourite among them (what the album, the thumbnail and the
downloads show). A re-run adds a version and makes it the favourite; any other can be marked instead,
and any but the last can be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model import ColorizeOptions, formats

PREVIEW_SIDES = (480, 960, 1920)  # long sides of the browser previews (srcset); a result's 480 is its thumbnail


@dataclass(frozen=True)
class ModelId:
    """Which model made a version: the weights file's name and its SHA-256 (the name alone can be reused)."""

    name: str = ""
    sha256: str = ""

    @classmethod
    def of_file(cls, path: Path) -> ModelId:
        from model.weights_file import sha256_of  # it loads torch; `heirloom album` never needs that

        return cls(path.name, sha256_of(path))


@dataclass(frozen=True)
class Version:
    id: str  # 8 hex digits, unique within its photo; also in its file names
    created: float  # Unix time
    result_file: str  # file names inside the photo's folder, chosen by us
    result_format: str
    render_size: int | None
    policy: str
    saturation: float
    model_name: str = ""  # "" for versions made before models were recorded
    model_sha256: str = ""
    hints: str = ""  # the colour hints it was made with, as their JSON (model/hints.py); "" = none

    @property
    def thumb_file(self) -> str:
        return f"thumb-{self.id}{formats.THUMBNAIL.extension}"  # thumbnails are JPEG whatever the result

    def preview_file(self, side: int) -> str:
        return f"preview-{self.id}-{side}.jpg"


@dataclass(frozen=True)
class Rendering:
    """A colorization about to be stored as a version: the encoded result and thumbnail, and what made them."""

    result: bytes
    result_format: str
    thumb: bytes
    opts: ColorizeOptions
    model: ModelId
    previews: tuple[tuple[str, bytes], ...] = ()  # ("original-960", jpeg), ("result-1920", jpeg)… (serving/job_work.py)
