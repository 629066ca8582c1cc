"""The Colorizer end to end: every input kind keeps its size and its L; bad input gets a typed error."""

import io
import threading
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from PIL import Image, ImageOps

from model import ColorizeOptions, Colorizer, ImageTooLarge, InvalidOption, UnreadableImage
from model.color import lightness
from model.options import DEFAULT_POLICY, POLICIES
from model.photo_io import Photo, encode_photo, load_photo

from engine_helpers import photo_array, tiny_generator


@pytest.fixture(scope="module")
def colorizer():
    return Colorizer(tiny_generator(bias=2.0), render_size=32)  # strong colour: stresses gamut mapping


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def _assert_same_l(out: Photo, source_pixels: np.ndarray):
    assert out.pixels.shape[:2] == source_pixels.shape[:2]
    diff = np.abs(lightness(out.pixels).astype(np.float32) - lightness(source_pixels).astype(np.float32))
    assert diff.max() <= (1 if source_pixels.dtype == np.uint8 else 0.5)


RGB = photo_array(45, 70)


@pytest.mark.parametrize(
    "kind",
    [
        "gray",
        "rgb",
        "rgba",
        "la",
        "palette",
        "palette-transparent",
        "cmyk",
        "gray16",
        "rgb16",
        "tiff16",
        "webp",
        "bmp",
        "jpeg-sepia",
    ],
)
def test_output_keeps_size_and_lightness(colorizer, kind):
    gray = RGB[..., 1]
    if kind == "gray":
        data, src = _png(Image.fromarray(gray)), gray
    elif kind == "rgb":
        data, src = _png(Image.fromarray(RGB)), RGB
    elif kind == "rgba":
        alpha = np.linspace(0, 255, 70, dtype=np.uint8)[None].repeat(45, 0)
        data, src = _png(Image.fromarray(np.dstack([RGB, alpha]), "RGBA")), RGB
    elif kind == "la":
        data, src = _png(Image.fromarray(np.dstack([gray, gray]), "LA")), gray
    elif kind.startswith("palette"):
        p = Image.fromarray(RGB).convert("P", palette=Image.ADAPTIVE, colors=64)
        kw = {"transparency": 0} if kind.endswith("transparent") else {}
        data = _png(p, **kw)
        src = np.asarray(p.convert("RGB"))
    elif kind == "cmyk":
        im = Image.fromarray(RGB).convert("CMYK")
        data = _png(im, format="TIFF")
        src = np.asarray(im.convert("RGB"))
    elif kind == "gray16":
        g16 = photo_array(45, 70, channels=1, dtype=np.uint16)
        data, src = _png(Image.fromarray(g16)), g16
    elif kind in ("rgb16", "tiff16"):
        import cv2

        src = photo_array(45, 70, dtype=np.uint16)
        ok, buf = cv2.imencode(".png" if kind == "rgb16" else ".tif", cv2.cvtColor(src, cv2.COLOR_RGB2BGR))
        data = buf.tobytes()
    elif kind in ("webp", "bmp"):
        data = _png(Image.fromarray(RGB), format=kind.upper(), **({"lossless": True} if kind == "webp" else {}))
        src = RGB
    else:  # a yellowed scan: its luminance becomes the output's, the yellow cast does not survive
        sepia = np.clip(np.dstack([gray * 1.0, gray * 0.85, gray * 0.6]), 0, 255).astype(np.uint8)
        data = _png(Image.fromarray(sepia), format="JPEG", quality=95)
        src = load_photo(data).pixels
    out = colorizer(data)
    _assert_same_l(out, src)
    if kind in ("gray16", "rgb16", "tiff16"):
        assert out.pixels.dtype == np.uint16
        assert encode_photo(out)[:4] in (b"\x89PNG", b"II*\x00", b"MM\x00*")
        assert load_photo(encode_photo(out)).pixels.dtype == np.uint16  # 16-bit out, 16-bit file
    if kind in ("rgba", "la", "palette-transparent"):
        assert out.alpha is not None and out.alpha.shape == src.shape[:2]
    if kind == "rgba":
        assert np.array_equal(out.alpha, np.linspace(0, 255, 70, dtype=np.uint8)[None].repeat(45, 0))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(colorizer, orientation):
    im = Image.fromarray(photo_array(30, 50))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _png(im, exif=exif.tobytes())
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    photo = load_photo(data)
    assert np.array_equal(photo.pixels, upright)
    out = colorizer(data)
    _assert_same_l(out, upright)
    assert out.pixels.shape[:2] == ((50, 30) if orientation >= 5 else (30, 50))


@pytest.mark.parametrize("shape", [(1, 1), (3, 1000), (1001, 333)])
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_keeps_extreme_sizes(colorizer, shape, policy):
    px = photo_array(*shape)
    out = colorizer.colorize_photo(Photo(px), colorizer.options(policy=policy))
    _assert_same_l(out, px)


@pytest.mark.slow
def test_twelve_megapixel_scan_keeps_size(colorizer):
    px = photo_array(3000, 4000, channels=1)
    out = colorizer.colorize_photo(Photo(px))
    assert out.pixels.shape == (3000, 4000, 3)
    _assert_same_l(out, px)


def test_saturation_scales_chroma(colorizer):
    px = photo_array(40, 40)
    flat = colorizer.colorize_photo(Photo(px), colorizer.options(saturation=0.0)).pixels.astype(int)
    assert np.abs(flat - flat[..., :1]).max() <= 1  # no chroma: neutral gray
    half = colorizer.colorize_photo(Photo(px), colorizer.options(saturation=0.5)).pixels.astype(int)
    full = colorizer.colorize_photo(Photo(px), colorizer.options(saturation=1.0)).pixels.astype(int)

    def spread(a):
        return np.abs(a - a.mean(-1, keepdims=True)).mean()

    assert spread(flat) < spread(half) < spread(full)


def test_concurrent_calls_are_independent(colorizer):
    inputs = [photo_array(40 + i, 50, seed=i) for i in range(6)]
    expected = [colorizer.colorize_photo(Photo(x)).pixels for x in inputs]
    results = [None] * 6

    def work(i):
        for _ in range(3):
            results[i] = colorizer.colorize_photo(Photo(inputs[i])).pixels

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))


def test_bad_inputs_raise_typed_errors(colorizer, tmp_path):
    with pytest.raises(UnreadableImage, match="not an image"):
        colorizer(b"this is not an image")
    full = _png(Image.fromarray(RGB), format="JPEG")
    with pytest.raises(UnreadableImage):
        colorizer(full[: len(full) // 2])  # truncated
    with pytest.raises(UnreadableImage):
        colorizer(tmp_path / "missing.jpg")
    small_limit = Colorizer(tiny_generator(), 32, max_pixels=1000)
    with pytest.raises(ImageTooLarge, match="limit"):
        small_limit(_png(Image.fromarray(RGB)))  # 3150 pixels > 1000
    # a decompression bomb: a tiny file that claims to be huge
    bomb = _png(Image.new("L", (20000, 20000)))
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageTooLarge):
        Colorizer(tiny_generator(), 32, max_pixels=10_000_000)(bomb)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    "field,value",
    [
        ("render_size", 30),
        ("render_size", 0),
        ("render_size", 4096),
        ("policy", "zoom"),
        ("saturation", -1),
        ("saturation", 4.5),
        ("saturation", 2.1),  # one range everywhere: the web slider's 0-2
        ("format", "gif"),
        ("format", "raw"),
    ],
)
def test_bad_options_are_refused_where_they_are_made(colorizer, field, value):
    with pytest.raises(InvalidOption) as e:
        colorizer.options(**{field: value})
    assert e.value.field == field and str(value) in str(e.value)


def test_options_take_the_model_defaults_and_normalise_the_format(colorizer):
    opts = colorizer.options()
    assert (opts.render_size, opts.policy, opts.saturation, opts.format) == (32, DEFAULT_POLICY, 1.0, None)
    assert colorizer.options(format="jpg").format == "JPEG" and colorizer.options(format="TIF").format == "TIFF"
    assert colorizer.options(render_size=64, policy="stretch", saturation=0) == ColorizeOptions(
        64, "stretch", 0.0, None
    )
    with pytest.raises(FrozenInstanceError):
        opts.policy = "stretch"  # type: ignore[misc]


@pytest.mark.parametrize(
    "source,requested,written",
    [("PNG", None, "PNG"), ("MPO", None, "JPEG"), ("GIF", None, "PNG"), ("JPEG", "webp", "WEBP")],
)
def test_result_format_follows_the_source_unless_asked(colorizer, source, requested, written):
    result = colorizer.colorize(Photo(photo_array(20, 30), None, source), colorizer.options(format=requested))
    assert result.format.name == written and result.source.format == source
    assert load_photo(result.encode()).format == written


# --- the work budget (issue 9) ------------------------------------------------------------------


def test_work_budget_is_decided_from_the_header_before_decoding(monkeypatch):
    from model import WorkTooLarge, photo_io

    budgeted = Colorizer(tiny_generator(), 32, max_work_bytes=300 * 2**20)
    assert budgeted.footprint.weights > 0 and budgeted.footprint.per_pixel > 0  # measured on the model
    decoded = []
    monkeypatch.setattr(photo_io, "_decode_8bit", lambda im: decoded.append(im) or 1 / 0)
    big = _png(Image.new("L", (6000, 2000)))  # 12 MP x 40 bytes > 300 MB
    with pytest.raises(WorkTooLarge, match=r"6000×2000.*render size 32.*limit for one photo is 300 MB"):
        budgeted(big)
    with pytest.raises(WorkTooLarge, match="render size 2048"):
        budgeted(_png(Image.fromarray(RGB)), budgeted.options(render_size=2048))
    assert decoded == []  # refused before any pixel was decoded


def test_render_size_budget_counts_the_model_activations():
    small = Colorizer(tiny_generator(), 32)
    # Same photo and canvas: a model with twice the activations per pixel needs more of the budget.
    from model import budget

    a = budget.estimate(100, 1024 * 1024, False, small.footprint)
    wider = budget.ModelFootprint(small.footprint.weights, 0, small.footprint.per_pixel * 2)
    assert budget.estimate(100, 1024 * 1024, False, wider) - a >= small.footprint.per_pixel * 1024 * 1024 * 0.99


@pytest.mark.parametrize("policy", POLICIES)
def test_extreme_strip_colorizes_in_bounded_memory(colorizer, policy):
    # Issue 9: a 5000x1 PNG with center-crop at 512 built a 512 x 2,560,000 array.
    strip = photo_array(1, 5000, channels=1)
    from model.geometry import make_plan

    plan = make_plan(strip.shape, 512, policy, colorizer.multiple)  # checked first: a regression fails, not OOMs
    assert plan.scaled[0] * plan.scaled[1] <= (512 + colorizer.multiple) ** 2
    out = colorizer(Photo(strip), colorizer.options(render_size=512, policy=policy))
    assert out.pixels.shape == (1, 5000, 3)
