"""The input allow-list and typed decode errors (issue 9): only the formats the README promises reach a
decoder, each only its own; every malformed file is an UnreadableImage, never another exception."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, features

from model import ImageTooLarge, UnreadableImage, UnsupportedImage, formats
from model.photo_io import HEIF_READABLE, load_photo

from engine_helpers import photo_array

EPS_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n{ } loop\n"  # Ghostscript would spin forever


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_eps_never_reaches_ghostscript(monkeypatch):
    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a) or 1 / 0)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    assert len(EPS_LOOP) < 64
    with pytest.raises(UnreadableImage, match=r"not an image we can read \(JPEG, PNG"):
        load_photo(EPS_LOOP)
    with pytest.raises(UnreadableImage):
        load_photo(save(Image.new("L", (4, 4)), "EPS"))
    assert calls == []


FOREIGN = {
    "ICO": lambda im: save(im, "ICO"),
    "DDS": lambda im: save(im.convert("RGB"), "DDS"),
    "SPIDER": lambda im: save(im.convert("F"), "SPIDER"),
    "PCX": lambda im: save(im, "PCX"),
    "TGA": lambda im: save(im, "TGA"),
    "PPM": lambda im: save(im, "PPM"),
    "SGI": lambda im: save(im, "SGI"),
    "IM": lambda im: save(im, "IM"),
    "PDF": lambda im: save(im, "PDF"),
    "XBM": lambda im: save(im.convert("1"), "XBM"),
    "EPS": lambda im: save(im, "EPS"),
}
if features.check("jpg_2000"):
    FOREIGN["JPEG2000"] = lambda im: save(im, "JPEG2000")
if features.check("avif"):
    FOREIGN["AVIF"] = lambda im: save(im.convert("RGB"), "AVIF")


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_formats_we_never_promised_are_refused_unread(name):
    data = FOREIGN[name](Image.fromarray(photo_array(16, 16, channels=1)))
    assert formats.sniff(data[:32]) is None
    with pytest.raises(UnreadableImage, match="not an image we can read"):
        load_photo(data)


def _mpo() -> bytes:
    a, b = (Image.fromarray(photo_array(20, 30, seed=s)) for s in (0, 1))
    return save(a, "MPO", save_all=True, append_images=[b])


def _gif_animated() -> bytes:
    frames = [Image.fromarray(photo_array(12, 10, seed=s, channels=1)).convert("P") for s in (0, 1, 2)]
    return save(frames[0], "GIF", save_all=True, append_images=frames[1:])


def _tiff_pages() -> bytes:
    a, b = Image.new("L", (10, 8), 30), Image.new("L", (4, 4), 200)
    return save(a, "TIFF", save_all=True, append_images=[b])


ALLOWED = {
    "JPEG": lambda: save(Image.fromarray(photo_array(20, 30)), "JPEG"),
    "MPO": _mpo,
    "PNG": lambda: save(Image.new("LA", (30, 20)), "PNG"),
    "GIF": _gif_animated,
    "TIFF": _tiff_pages,
    "WEBP": lambda: save(Image.new("RGB", (30, 20)), "WEBP"),
    "BMP": lambda: save(Image.new("P", (30, 20)), "BMP"),
}
if HEIF_READABLE:
    ALLOWED["HEIF"] = lambda: save(Image.fromarray(photo_array(20, 30)), "HEIF")


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_every_promised_format_is_read(name):
    photo = load_photo(ALLOWED[name]())
    assert photo.format == name and photo.pixels.shape[:2] in [(20, 30), (12, 10), (8, 10)]


def test_heic_is_read_and_written_back_as_png():
    if not HEIF_READABLE:
        pytest.skip("pillow-heif is not installed")
    assert formats.output_format("HEIF").name == "PNG" and formats.find("heic").name == "HEIF"


def damaged_second_ifd() -> bytes:
    """A TIFF whose second directory has no width or height (Pillow: TypeError 'Missing dimensions')."""
    data = bytearray(save(Image.new("L", (8, 6), 90), "TIFF"))
    first = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[first : first + 2])[0]
    data[first + 2 + 12 * n : first + 6 + 12 * n] = struct.pack("<I", len(data))
    data += struct.pack("<H", 1) + struct.pack("<HHII", 262, 3, 1, 1) + struct.pack("<I", 0)
    return bytes(data)


def test_tiff_with_a_damaged_second_directory_reads_its_first_page():
    photo = load_photo(damaged_second_ifd())  # was TypeError from the frame count: a 500
    assert photo.pixels.shape == (6, 8) and int(photo.pixels[0, 0]) == 90


SAMPLES = {
    "png": lambda: save(Image.fromarray(photo_array(24, 20)), "PNG"),
    "jpeg": lambda: save(Image.fromarray(photo_array(24, 20)), "JPEG"),
    "tiff": _tiff_pages,
    "gif": _gif_animated,
    "webp": lambda: save(Image.new("RGB", (9, 7)), "WEBP"),
    "bmp": lambda: save(Image.new("RGB", (9, 7)), "BMP"),
    "tiff-ifd": damaged_second_ifd,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_truncations_and_bit_flips_give_typed_errors_only(name):
    data = SAMPLES[name]()
    rng = np.random.default_rng(9)
    variants = [data[:n] for n in sorted({*rng.integers(0, len(data), 40).tolist(), 8, 16, 33})]
    for _ in range(60):
        flipped = bytearray(data)
        for i in rng.integers(0, len(data), int(rng.integers(1, 8))):
            flipped[i] ^= 1 << int(rng.integers(0, 8))
        variants.append(bytes(flipped))
    for v in variants:
        try:
            load_photo(v, max_pixels=1_000_000)
        except (UnreadableImage, UnsupportedImage, ImageTooLarge):
            pass
        except Exception as e:  # the point of the test: anything else would be a 500
            pytest.fail(f"{name}: {type(e).__name__}: {e}")


@pytest.mark.parametrize(
    "head,name",
    [
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"GIF89a", "GIF"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"),
        (b"\0\0\0\x1cftypheic\0\0\0\0mif1heic", "HEIF"),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1", None),
        (b"%!PS", None),
        (b"", None),
        (b"BM", None),
    ],
)
def test_sniff(head, name):
    found = formats.sniff(head + b"\0" * 24 if name == "BMP" else head)
    assert (found.name if found else None) == name


# --- 16-bit TIFF layouts (issue 9: gray + alpha was 415, CMYK was "damaged") -------------------------


def _tiff16(arr: np.ndarray, **kw) -> bytes:
    tifffile = pytest.importorskip("tifffile")
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def test_16bit_gray_alpha_tiff_keeps_16_bits_and_alpha():
    arr = np.zeros((20, 30, 2), np.uint16)
    arr[..., 0] = np.arange(30, dtype=np.uint16) * 2000 + 7
    arr[..., 1] = 40000
    photo = load_photo(_tiff16(arr, photometric="minisblack", extrasamples=["unassalpha"]))
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, arr[..., 0])
    assert photo.alpha is not None and int(photo.alpha[0, 0]) == 40000 and photo.format == "TIFF"


def test_16bit_cmyk_tiff_is_read_as_rgb():
    arr = np.zeros((20, 30, 4), np.uint16)
    arr[..., 0] = 65535  # full cyan, no black: (0, 1, 1)
    photo = load_photo(_tiff16(arr, photometric="separated"))
    assert photo.pixels.shape == (20, 30, 3) and photo.pixels.dtype == np.uint16
    assert photo.pixels[0, 0].tolist() == [0, 65535, 65535]


def test_16bit_tiffs_colorize_end_to_end():
    from model import Colorizer

    from engine_helpers import tiny_generator

    c = Colorizer(tiny_generator(), 32)
    arr = np.full((12, 16, 2), 30000, np.uint16)
    out = c.colorize(_tiff16(arr, photometric="minisblack", extrasamples=["unassalpha"]))
    assert out.photo.pixels.shape == (12, 16, 3) and out.photo.alpha is not None
    assert load_photo(out.encode()).pixels.dtype == np.uint16  # written back with all 16 bits


def test_tiff_with_bits_no_decoder_handles_is_415_not_500():
    # Found by bench/fuzz_uploads.py: a bit flip made BitsPerSample 24; tifffile raised NotImplementedError.
    data = bytearray(_tiff16(np.full((6, 8), 1000, np.uint16), photometric="minisblack"))
    first = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[first : first + 2])[0]):
        e = first + 2 + 12 * i
        if struct.unpack("<H", data[e : e + 2])[0] == 258:  # BitsPerSample
            data[e + 8 : e + 10] = struct.pack("<H", 24)
    with pytest.raises((UnreadableImage, UnsupportedImage)):
        load_photo(bytes(data))
