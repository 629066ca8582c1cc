"""The fuzzer's uploads (bench/fuzz_uploads.py, tests/test_fuzz.py): valid photos in every format, mode and EXIF
orientation; truncations; bit flips; decompression bombs in every container; extreme strips with every policy and
render size; foreign formats; garbage; bad options. Deterministic for a seed."""

from __future__ import annotations

import collections
import io
import os
import random
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

POLICIES = ("pad-reflect", "pad-black", "stretch", "rotate-portrait", "center-crop", "pad-multiple")


@dataclass
class Case:
    kind: str  # the class: valid, truncated, bitflip, bomb, strip, foreign, garbage, options
    name: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    url: str = "/colorize"


# --- generators ------------------------------------------------------------------------------------


def _photo(rng: random.Random, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.5 * np.sin((x + y) / (3 + rng.random() * 9))], -1)
    return (base * 255).astype(np.uint8)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _cv2_16bit(arr: np.ndarray, ext: str) -> bytes:
    import cv2

    return cv2.imencode(ext, arr)[1].tobytes()


def valid_images(rng: random.Random) -> list[tuple[str, bytes]]:
    """Every promised format, every mode, every EXIF orientation, at small random sizes."""
    out: list[tuple[str, bytes]] = []
    h, w = rng.randint(5, 160), rng.randint(5, 160)
    rgb = Image.fromarray(_photo(rng, h, w))
    gray = rgb.convert("L")
    modes = {
        "L": gray,
        "RGB": rgb,
        "RGBA": rgb.convert("RGBA"),
        "LA": gray.convert("LA"),
        "P": rgb.convert("P"),
        "1": gray.convert("1"),
        "CMYK": rgb.convert("CMYK"),
        "I;16": gray.convert("I;16"),
        "F": gray.convert("F"),
    }
    writers = {
        "PNG": ("L", "RGB", "RGBA", "LA", "P", "1", "I;16"),
        "JPEG": ("L", "RGB", "CMYK"),
        "TIFF": ("L", "RGB", "RGBA", "LA", "P", "1", "CMYK", "I;16", "F"),
        "WEBP": ("L", "RGB", "RGBA"),
        "BMP": ("L", "RGB", "P", "1"),
        "GIF": ("L", "P"),
    }
    for fmt, ok in writers.items():
        for mode in ok:
            try:
                out.append((f"{fmt}-{mode}", _save(modes[mode], fmt)))
            except (OSError, ValueError, KeyError):
                pass
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out.append((f"JPEG-exif{orientation}", _save(rgb, "JPEG", exif=exif)))
    out.append(("MPO", _save(rgb, "MPO", save_all=True, append_images=[gray.convert("RGB")])))
    out.append(("GIF-animated", _save(gray.convert("P"), "GIF", save_all=True, append_images=[rgb.convert("P")])))
    out.append(("TIFF-pages", _save(rgb, "TIFF", save_all=True, append_images=[gray.convert("RGB")])))
    arr16 = _photo(rng, h, w).astype(np.uint16) * 257
    out.append(("PNG-rgb16", _cv2_16bit(arr16, ".png")))
    out.append(("TIFF-rgb16", _cv2_16bit(arr16, ".tif")))
    out.append(("PNG-rgba16", _cv2_16bit(np.dstack([arr16, arr16[..., 0]]), ".png")))
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        out.append(("HEIC", _save(rgb, "HEIF")))
    except ImportError:
        pass
    return out


def foreign_images(rng: random.Random) -> list[tuple[str, bytes]]:
    from PIL import features

    im = Image.fromarray(_photo(rng, 16, 16))
    out = [("EPS-loop", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n{ } loop\n")]
    for fmt, conv in (
        ("EPS", "RGB"),
        ("ICO", "RGB"),
        ("DDS", "RGB"),
        ("SPIDER", "F"),
        ("PCX", "RGB"),
        ("TGA", "RGB"),
        ("PPM", "RGB"),
        ("SGI", "RGB"),
        ("PDF", "RGB"),
        ("XBM", "1"),
        ("ICNS", "RGB"),
        ("QOI", "RGB"),
        ("JPEG2000", "RGB"),
        ("AVIF", "RGB"),
        ("IM", "RGB"),
    ):
        if fmt in ("JPEG2000", "AVIF") and not features.check({"JPEG2000": "jpg_2000", "AVIF": "avif"}[fmt]):
            continue
        try:
            out.append((fmt, _save(im.convert(conv), fmt)))
        except (OSError, ValueError, KeyError):
            pass
    out += [
        ("SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>'),
        ("HTML", b"<html><script>alert(1)</script></html>"),
        ("ZIP", b"PK\x03\x04" + bytes(40)),
    ]
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bombs(rng: random.Random) -> list[tuple[str, bytes]]:
    """Tiny files whose headers claim enormous images, one per container."""
    import zlib

    out = []
    for w, h in ((100_000, 100_000), (65_535, 65_535), (1_000_000, 1)):
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
        out.append(
            (
                f"PNG-{w}x{h}",
                b"\x89PNG\r\n\x1a\n"
                + _png_chunk(b"IHDR", ihdr)
                + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                + _png_chunk(b"IEND", b""),
            )
        )
    small = Image.new("L", (8, 8), 128)
    jpeg = bytearray(_save(small, "JPEG"))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    out.append(("JPEG-65000x65000", bytes(jpeg)))
    gif = bytearray(_save(small.convert("P"), "GIF"))
    gif[6:10] = struct.pack("<HH", 65_535, 65_535)
    desc = gif.find(b"\x2c", 13)
    gif[desc + 5 : desc + 9] = struct.pack("<HH", 65_535, 65_535)
    out.append(("GIF-65535x65535", bytes(gif)))
    bmp = bytearray(_save(small, "BMP"))
    bmp[18:26] = struct.pack("<ii", 50_000, 50_000)
    out.append(("BMP-50000x50000", bytes(bmp)))
    tif = bytearray(_save(small, "TIFF"))
    first = struct.unpack("<I", tif[4:8])[0]
    for i in range(struct.unpack("<H", tif[first : first + 2])[0]):
        e = first + 2 + 12 * i
        tag, typ = struct.unpack("<HH", tif[e : e + 4])
        if tag in (256, 257):
            tif[e + 8 : e + 12] = struct.pack("<I", 200_000) if typ == 4 else struct.pack("<HH", 65_000, 0)
    out.append(("TIFF-huge", bytes(tif)))
    webp = bytearray(_save(small.convert("RGB"), "WEBP", lossless=False))
    vp8 = webp.find(b"\x9d\x01\x2a")
    if vp8 > 0:
        webp[vp8 + 3 : vp8 + 7] = struct.pack("<HH", 16_383, 16_383)
        out.append(("WEBP-16383x16383", bytes(webp)))
    return out


def truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, max(0, len(data) - 1))]


def bitflipped(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


STRIPS = ((1, 5000), (5000, 1), (1, 20_000), (20_000, 1), (3, 30_000))


def make_cases(n: int, seed: int = 0, render_sizes: tuple[int, ...] = (32, 256, 512, 2048)) -> list[Case]:
    """`n` cases (at least one of every class), shuffled; deterministic for a seed."""
    rng = random.Random(seed)
    valid = valid_images(rng)
    cases: list[Case] = []
    for name, data in foreign_images(rng):
        cases.append(Case("foreign", name, data))
    for name, data in bombs(rng):
        cases.append(Case("bomb", name, data))
    strip_cases = []
    for h, w in STRIPS:
        png = _save(Image.fromarray(_photo(rng, h, w)[..., 0]), "PNG")
        for policy in POLICIES:
            for size in render_sizes:
                strip_cases.append(
                    Case("strip", f"{w}x{h}-{policy}-{size}", png, {"policy": policy, "render_size": str(size)})
                )
    rng.shuffle(strip_cases)
    cases += strip_cases[: max(len(POLICIES), n // 8)]
    for name, data in valid:
        cases.append(Case("valid", name, data, {"policy": rng.choice(POLICIES)}))
    garbage = [
        b"",
        b"\0",
        os.urandom(64),
        b"GIF89a",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"II*\x00",
        b"RIFF\0\0\0\0WEBP",
        b"BM" + bytes(60),
    ]
    for i, g in enumerate(garbage):
        cases.append(Case("garbage", f"garbage-{i}", g))
    bad_options = [
        {"render_size": "0"},
        {"render_size": "-32"},
        {"render_size": "99999999999"},
        {"render_size": "1e9"},
        {"render_size": "33"},
        {"policy": "../../etc"},
        {"saturation": "nan"},
        {"saturation": "inf"},
        {"saturation": "-1"},
        {"format": "eps"},
        {"format": "gif"},
    ]
    for opts in bad_options:
        cases.append(Case("options", "options-" + "-".join(opts.values()), valid[0][1], opts))
    while len(cases) < n:
        name, data = rng.choice(valid)
        roll = rng.random()
        if roll < 0.4:
            cases.append(Case("truncated", f"{name}-trunc", truncated(rng, data)))
        elif roll < 0.8:
            cases.append(Case("bitflip", f"{name}-flip", bitflipped(rng, data)))
        else:
            cases.append(
                Case(
                    "valid",
                    name,
                    data,
                    {"policy": rng.choice(POLICIES), "render_size": str(rng.choice(render_sizes[:2]))},
                )
            )
    for c in cases:
        if rng.random() < 0.15 and c.kind not in ("strip",):
            c.url = "/api/photos"  # the stored path too
    rng.shuffle(cases)
    return cases


def sample(cases: list[Case], k: int, seed: int = 0) -> list[Case]:
    """`k` cases with every class represented."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Case]] = collections.defaultdict(list)
    for c in cases:
        by_kind[c.kind].append(c)
    picked = [rng.choice(v) for v in by_kind.values()]
    rest = [c for c in cases if c not in picked]
    return picked + rng.sample(rest, max(0, min(len(rest), k - len(picked))))
