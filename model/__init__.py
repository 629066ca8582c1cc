"""Heirloom's colorization engine. Importing `model` is cheap: torch and OpenCV load with the first
use of `Colorizer` (or of a module that needs them). Training lives in `model.training` and is
never imported by the web app."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import (
    CheckpointError,
    ChecksumMismatch,
    ConfigError,
    HeirloomError,
    ImageTooLarge,
    InvalidOption,
    NoImages,
    UnreadableImage,
    UnsupportedImage,
    WorkTooLarge,
)
from .options import ColorizeOptions

if TYPE_CHECKING:
    from .pipeline import Colorized, Colorizer

# Threads that spin while waiting steal the CPU from other processes (server workers, tests
# beside a training run); passive waiting was 4-7x faster under contention. Every import of
# torch in Heirloom comes after this line, because every module of it lives in this package.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "Colorizer",
    "Colorized",
    "ColorizeOptions",
    "HeirloomError",
    "UnreadableImage",
    "UnsupportedImage",
    "ImageTooLarge",
    "CheckpointError",
    "ChecksumMismatch",
    "InvalidOption",
    "NoImages",
    "ConfigError",
    "WorkTooLarge",
]


def __getattr__(name: str) -> Any:
    """`from model import Colorizer` imports torch only when it is asked for."""
    if name in ("Colorizer", "Colorized"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
