"""The generator's optional ImageNet encoder: loads the published weights strictly and travels in our files."""

import pytest
import torch

from model import Colorizer
from model.checkpoint import read_generator, save_generator
from model.networks import GeneratorConfig, UNetGenerator
from model.options import POLICIES
from model.photo_io import Photo
from model.training.pretrained import init_pretrained

from engine_helpers import photo_array


def test_alexnet_loads_and_checkpoint_is_self_contained(tmp_path):
    cfg = GeneratorConfig(depth=5, base_width=8, max_width=32, semantic="alexnet")
    g = UNetGenerator(cfg)
    before = g.semantic.features[0].weight.clone()
    init_pretrained(g)
    w = g.semantic.features[0].weight
    assert not torch.equal(before, w) and w.abs().mean() > 1e-3  # published weights, not init
    assert not any(p.requires_grad for p in g.semantic.parameters())  # frozen
    assert torch.equal(g.fuse.weight, torch.zeros_like(g.fuse.weight))  # starts as the plain U-Net
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    feats = g.semantic(x)
    assert feats.shape[1] == 256 and feats.abs().sum() > 0
    path = save_generator(tmp_path / "g.safetensors", g, render_size=64)
    assert any(k.startswith("semantic.") for k in read_generator(path).state)
    c = Colorizer.from_checkpoint(path, precision="float32")  # no stlpips needed to load; weights as stored
    assert torch.equal(c.model.semantic.features[0].weight, w)
    assert c.colorize_photo(Photo(photo_array(50, 70))).pixels.shape == (50, 70, 3)
    for policy in POLICIES:  # the smallest render size and extreme shapes work with every policy
        out = c.colorize_photo(Photo(photo_array(3, 100)), c.options(render_size=32, policy=policy))
        assert out.pixels.shape == (3, 100, 3)


def test_semantic_needs_depth_five():
    with pytest.raises(ValueError, match="depth >= 5"):
        UNetGenerator(GeneratorConfig(depth=4, semantic="alexnet"))
