"""Self-describing generator files: round trip, strict loading, clear errors, checksums."""

import json

import pytest
import torch
from safetensors.torch import save_file

from model import CheckpointError, ChecksumMismatch, Colorizer
from model.checkpoint import build_generator, read_generator
from model.training.generator_file import write_checksum

from engine_helpers import TINY_G, tiny_generator, tiny_weights


def test_round_trip_rebuilds_from_file_alone(tmp_path):
    g = tiny_generator(seed=3)
    path = tiny_weights(tmp_path / "g.safetensors", seed=3, render_size=64)
    f = read_generator(path)
    assert f.config == TINY_G and f.render_size == 64 and f.info == {"test": True}
    g2 = build_generator(f)
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(g(x), g2(x))
    c = Colorizer.from_checkpoint(path)
    assert c.default_render_size == 64 and c.multiple == 32


def test_half_precision_file_is_smaller_and_close(tmp_path):
    from model.training.generator_file import save_generator

    g = tiny_generator()
    full = save_generator(tmp_path / "f.safetensors", g, 32)
    half = save_generator(tmp_path / "h.safetensors", g, 32, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = torch.randn(1, 1, 32, 32)
    assert torch.allclose(g(x), build_generator(read_generator(half))(x), atol=1e-2)


def test_wrong_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="No weights file"):
        Colorizer.from_checkpoint(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable"):
        read_generator(junk)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(CheckpointError, match="not a Heirloom generator"):
        read_generator(other)
    # right format, but weights that don't match the config: strict loading refuses
    g = tiny_generator()
    state = {k: v for k, v in g.state_dict().items() if "decoder.stem.0" not in k}
    bad = tmp_path / "bad.safetensors"
    save_file(
        state,
        str(bad),
        metadata={
            "format": "heirloom.generator",
            "format_version": "1",
            "architecture": "hypercolumn",
            "generator": json.dumps(TINY_G.__dict__),
            "render_size": "32",
        },
    )
    with pytest.raises(CheckpointError, match="do not match"):
        Colorizer.from_checkpoint(bad)


def test_checksum_is_verified(tmp_path):
    path = tiny_weights(tmp_path / "g.safetensors")
    write_checksum(path)
    Colorizer.from_checkpoint(path)  # matches
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # one flipped bit in the weights
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatch, match="damaged or was replaced"):
        Colorizer.from_checkpoint(path)
