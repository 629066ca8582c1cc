"""generator.tune_top: the decoder owns and trains a copy of VGG16's conv5 block, started at the encoder's
own weights, so the generator starts as it was and the encoder's deepest features can learn gray photos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.architectures.hypercolumn import HypercolumnGenerator
from model.checkpoint import read_generator
from model.encoders import encoder_filename, load_encoder
from model.photo_io import Photo
from model.pipeline import Colorizer
from model.training.generator_trainer import GeneratorTrainer
from model.training.onthefly import OnTheFlySource
from model.training.recipe import Recipe
from model.training.training_run import train

from engine_helpers import TINY_DECODER, tiny_training_recipe

TUNED = replace(TINY_DECODER, tune_top=True)
QUIET = {"log": lambda *a: None}


def test_a_tuned_conv5_block_starts_as_the_frozen_encoder_and_needs_vgg16() -> None:
    torch.manual_seed(0)
    frozen = HypercolumnGenerator(replace(TINY_DECODER, decode="regression"))
    tuned = HypercolumnGenerator(replace(TUNED, decode="regression"))
    tuned.encoder = frozen.encoder
    missing, unexpected = tuned.decoder.load_state_dict(frozen.decoder.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("top.") for k in missing)
    x = torch.rand(2, 1, 64, 48) * 2 - 1
    with torch.no_grad():
        before = tuned(x)
        tuned.start_top()
        assert not torch.equal(before, tuned(x)), "a block of random weights computes something else"
        assert torch.equal(tuned(x), frozen(x))  # ImageNet's conv5 recomputed from relu4_3: the same relu5_3
    with pytest.raises(ValueError, match="needs encoder vgg16"):
        HypercolumnGenerator(replace(TUNED, encoder="alexnet"))
    with pytest.raises(ValueError, match="tune_top is off"):
        frozen.start_top()


def _recipe(tmp_path: Path, run: Path, **kw: object) -> Recipe:
    return tiny_training_recipe(tmp_path, run, **{"precision": "float32", **kw})


def test_warm_start_grows_the_block_from_imagenet_it_learns_at_its_own_rate_and_ships(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    train(_recipe(tmp_path, plain), plain, **QUIET)
    r = _recipe(tmp_path, tmp_path / "tuned", init=str(plain / "latest.safetensors"), generator=TUNED, lr=1e-3)
    t = GeneratorTrainer(r, tmp_path / "tuned", OnTheFlySource(r, torch.device("cpu")), "cpu", **QUIET)
    encoder = load_encoder(tmp_path / "tuned" / encoder_filename("vgg16"), "vgg16", None)
    top = t.G.decoder.top
    assert top is not None
    assert torch.equal(top[2].weight, encoder.features[28].weight)  # conv5_1, from the run's encoder file
    assert torch.equal(top[6].bias, encoder.features[32].bias)  # conv5_3
    rates = {len(g["params"]): g["lr"] for g in t.opt.param_groups}
    assert rates[len(list(top.parameters()))] == pytest.approx(1e-4), "the block at top_lr_scale (0.1) x lr"
    block_before = [p.detach().clone() for p in top.parameters()]
    encoder_before = [p.detach().clone() for p in t.G.encoder.parameters()]
    t.train_step()
    assert all(not torch.equal(a, b) for a, b in zip(block_before, top.parameters())), "every conv of it learns"
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, t.G.encoder.parameters())), "the encoder is frozen"
    t.save_state()
    gen = read_generator(tmp_path / "tuned" / "latest.safetensors")
    assert gen.config.tune_top and any(k.startswith("decoder.top.") for k in gen.state)
    out = Colorizer.from_checkpoint(tmp_path / "tuned" / "latest.safetensors").colorize_photo(
        Photo(np.zeros((20, 30), np.uint8))
    )
    assert out.pixels.shape == (20, 30, 3)
    # continuing the tuned file keeps its trained block, not ImageNet's; a plain recipe cannot drop it
    again = _recipe(tmp_path, tmp_path / "again", init=str(tmp_path / "tuned" / "latest.safetensors"), generator=TUNED)
    t2 = GeneratorTrainer(again, tmp_path / "again", OnTheFlySource(again, torch.device("cpu")), "cpu", **QUIET)
    assert t2.G.decoder.top is not None
    assert torch.equal(t2.G.decoder.top[2].weight, gen.state["decoder.top.2.weight"].float())
    shrink = _recipe(tmp_path, tmp_path / "shrink", init=str(tmp_path / "tuned" / "latest.safetensors"))
    with pytest.raises(ValueError, match="generator.tune_top=true"):
        train(shrink, tmp_path / "shrink", **QUIET)


def test_a_switch_given_as_a_word_is_refused_not_read_as_on() -> None:
    from model.errors import ConfigError
    from model.training.recipe import load_recipe

    assert load_recipe("heirloom-v8").generator.tune_top
    assert not load_recipe("heirloom-v8", ["generator.tune_top=false"]).generator.tune_top
    with pytest.raises(ConfigError, match="generator.tune_top='False': give true or false"):
        load_recipe("heirloom-v8", ["generator.tune_top=False"])  # Python's spelling: a non-empty word
    with pytest.raises(ConfigError, match="flip='no'"):
        load_recipe(None, ["flip=no"])
