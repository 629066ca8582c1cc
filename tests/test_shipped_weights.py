"""The default model in weights/: present, within budget, checksum verified at load, and it colorizes."""

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from model import ChecksumMismatch, Colorizer
from model.checkpoint import DEFAULT_WEIGHTS, checksum_path, read_generator, sha256_of
from model.color import lightness, rgb_to_lab, to_unit_float

from engine_helpers import photo_array


def test_shipped_weights_are_small_and_match_their_checksum():
    assert DEFAULT_WEIGHTS.exists(), "weights/ must ship the default generator"
    total = sum(p.stat().st_size for p in DEFAULT_WEIGHTS.parent.glob("*.safetensors"))
    assert total <= 50 * 1024 * 1024, "weights/ (generator and encoder together) stays within 50 MB"
    recorded = checksum_path(DEFAULT_WEIGHTS).read_text().split()[0]
    assert recorded == sha256_of(DEFAULT_WEIGHTS)
    gen = read_generator(DEFAULT_WEIGHTS)
    assert gen.info["step"] > 0 and "recipe" in gen.info
    if gen.encoder_path is not None:  # a hypercolumn generator: its encoder ships beside it, checksummed twice
        assert gen.encoder_path.parent.resolve() == DEFAULT_WEIGHTS.parent.resolve()
        recorded = checksum_path(gen.encoder_path).read_text().split()[0]
        assert recorded == sha256_of(gen.encoder_path) == gen.encoder_sha256


def test_default_colorizer_colorizes_a_small_gray_image(monkeypatch):
    monkeypatch.delenv("HEIRLOOM_WEIGHTS", raising=False)
    c = Colorizer.from_checkpoint()  # no path: the shipped weights, checksum verified
    gray = photo_array(60, 90, channels=1)
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "PNG")
    out = c(buf.getvalue())
    assert out.pixels.shape == (60, 90, 3)
    assert np.abs(lightness(out.pixels).astype(int) - lightness(gray).astype(int)).max() <= 1
    chroma = np.hypot(*rgb_to_lab(to_unit_float(out.pixels))[..., 1:].transpose(2, 0, 1))
    assert chroma.mean() > 2.0  # it added colour: not a gray passthrough


def test_a_tampered_copy_is_refused(tmp_path):
    copy = tmp_path / DEFAULT_WEIGHTS.name
    shutil.copy(DEFAULT_WEIGHTS, copy)
    shutil.copy(checksum_path(DEFAULT_WEIGHTS), checksum_path(copy))
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    copy.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatch):
        Colorizer.from_checkpoint(copy)


def test_bf16_matches_float32_within_half_a_ciede2000_unit():
    """The default precision's parity bound (the inference-speed issue): on a CPU with native bf16 the
    shipped model's results differ from float32's by a mean CIEDE2000 below 0.5."""
    import torch

    from model.photo_io import Photo
    from model.precision import resolve_precision
    from model.training.metrics import mean_ciede2000

    if resolve_precision("auto", torch.device("cpu")) != torch.bfloat16:
        pytest.skip("this CPU has no native bf16: auto runs float32")
    f32 = Colorizer.from_checkpoint(precision="float32")
    bf16 = Colorizer.from_checkpoint(precision="auto")
    assert "bfloat16" in bf16.precision and "float32" in f32.precision
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    rng = np.random.default_rng(0)
    diffs = []
    for i, (h, w) in enumerate([(96, 128), (160, 120), (128, 128), (200, 150)]):
        rgb = photo_array(h, w, seed=i)
        noisy = np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)  # texture for the encoder
        gray = np.repeat(lightness(noisy)[..., None], 3, 2)
        a, b = f32(Photo(gray)).pixels, bf16(Photo(gray)).pixels
        assert np.abs(lightness(b).astype(int) - lightness(gray).astype(int)).max() <= 1  # exact L kept
        diffs.append(mean_ciede2000(a, b))
    assert np.mean(diffs) < 0.5, diffs
    assert max(diffs) > 0, "bf16 really ran (identical results would mean float32 twice)"
