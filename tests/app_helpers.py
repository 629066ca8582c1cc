"""Helpers for the app tests: settings, a client factory and tiny images. Imported by the tests that
need the web app (not by conftest.py, so the engine's tests never load FastAPI)."""

from __future__ import annotations

import io
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from app.main import create_app
from app.settings import Settings


def settings_for(data_dir: Path, weights: Path | None, **changes) -> Settings:
    base = Settings(weights=weights, device="cpu", data_dir=data_dir, workers=1, queue_size=4)
    return base.with_(**changes)


@contextmanager
def client_for(settings: Settings, **kw):
    from fastapi.testclient import TestClient

    kw.setdefault("base_url", "http://localhost")  # a Host the server answers to (loopback names by default)
    with TestClient(create_app(settings), **kw) as client:
        yield client


def image_bytes(w: int = 40, h: int = 24, fmt: str = "PNG", mode: str = "L", exif=None) -> bytes:
    rng = np.random.default_rng(w * 1000 + h)
    shape = (h, w) if mode == "L" else (h, w, 3)
    im = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode)
    buf = io.BytesIO()
    kw = {"exif": exif} if exif is not None else {}
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bomb(w: int = 100_000, h: int = 100_000) -> bytes:
    """A PNG header claiming w×h pixels: tiny on disk, enormous once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size
