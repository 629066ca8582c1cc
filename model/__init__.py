"""Heirloom's colorization engine. Importing `model` gives the inference path only; training lives in
`model.training` and is never imported by the web app."""
import os

# Threads that spin while waiting steal the CPU from other processes (server workers, tests
# beside a training run); passive waiting was 4-7x faster under contention. Must precede torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import (CheckpointError, ChecksumMismatch, HeirloomError, ImageTooLarge,  # noqa: E402
                     InvalidOption, UnreadableImage, UnsupportedImage)
from .pipeline import Colorizer  # noqa: E402

__all__ = ["Colorizer", "HeirloomError", "UnreadableImage", "UnsupportedImage", "ImageTooLarge",
           "CheckpointError", "ChecksumMismatch", "InvalidOption"]
