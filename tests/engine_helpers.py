"""Tiny networks and generated photos for the engine tests (never ../shared data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.architectures.hypercolumn import HypercolumnConfig, HypercolumnGenerator
from model.encoders import VGG16Encoder, encoder_filename
from model.training.generator_file import save_encoder, save_generator
from model.training.recipe import Recipe

# The shipped architecture in miniature: its encoder trained from scratch (`none`, so no encoder file).
TINY_G = HypercolumnConfig(encoder="none", encoder_width=2, width=8, stem=4, decode="regression")
# A tiny decoder on VGG16's three tapped depths (relu3_3, relu4_3, relu5_3), fed `vgg_features`.
TINY_DECODER = HypercolumnConfig(width=16, stem=8)
VGG16_CHANNELS = (256, 512, 512)


def vgg_features(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random stand-ins for a 32-px photo's VGG16 features at 1/4, 1/8 and 1/16."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(b, c, s, s, generator=g) for c, s in zip(VGG16_CHANNELS, (8, 4, 2)))


def tiny_generator(
    seed: int = 0, bias: float = 0.0, hints: bool = False, propagate: bool = False
) -> HypercolumnGenerator:
    """A tiny hypercolumn generator; `bias` on the regression head makes it predict strong colour (to stress
    gamut mapping); `hints`: with a hint input whose paths are not zero (as if trained), so hints matter;
    `propagate`: and the hint propagation with a learned matching (as shipped), its paths not zero either."""
    torch.manual_seed(seed)
    cfg = replace(TINY_G, hint_channels=3, propagate=propagate, propagate_rank=4 if propagate else 0)
    g = HypercolumnGenerator(cfg if hints else TINY_G)
    with torch.no_grad():
        if bias:
            g.decoder.regression.bias.fill_(bias)
        for conv in g.decoder.hints or []:
            torch.nn.init.normal_(conv.weight, std=2.0)
        if g.decoder.spread is not None:
            torch.nn.init.normal_(g.decoder.spread.to4.weight, std=2.0)
            torch.nn.init.normal_(g.decoder.spread.to2.weight, std=2.0)
            torch.nn.init.normal_(g.decoder.spread.up.weight, std=0.1)  # type: ignore[union-attr]
    return g.eval()


def tiny_weights(
    path: Path, seed: int = 0, bias: float = 0.0, render_size: int = 32, hints: bool = False, propagate: bool = False
) -> Path:
    g = tiny_generator(seed, bias, hints, propagate)
    return save_generator(path, g, render_size=render_size, info={"test": True})


def photo_array(h: int, w: int, seed: int = 0, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A smooth colourful test photo (gradients + blocks), not noise: resizes behave like real photos."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.5 * np.sin((x + y) / 7.0)], -1)
    base = np.clip(base + rng.uniform(-0.1, 0.1, 3), 0, 1)
    top = 65535 if dtype == np.uint16 else 255
    arr = (base * top).astype(dtype)
    return arr[..., 0] if channels == 1 else arr


def write_photos(folder: Path, n: int, size=(40, 48)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"photo{i}.png"
        Image.fromarray(photo_array(*size, seed=i)).save(p)
        paths.append(p)
    return paths


def tiny_training_recipe(tmp_path: Path, run: Path, **kw: object) -> Recipe:
    """A two-step recipe of TINY_DECODER on 8 generated photos, its run folder holding a random VGG16 encoder
    file (no ImageNet weights in tests); `kw` overrides any field."""
    torch.manual_seed(0)
    run.mkdir(parents=True, exist_ok=True)
    save_encoder(run / encoder_filename("vgg16"), VGG16Encoder(), "random test weights")
    base = dict(
        photos=str(write_photos(tmp_path / "photos", 8, (40, 40))[0].parent),
        generator=TINY_DECODER,
        size=32,
        batch_size=4,
        min_colorfulness=0.0,
        eval_photos=0,
        steps=2,
    )
    return Recipe(**{**base, **kw})  # type: ignore[arg-type]
