"""Self-describing generator files: safetensors weights + JSON config in the header, loaded strictly.

No pickled code is ever loaded. The header's metadata holds:
  format = "heirloom.generator", format_version, architecture (a name in `architectures`),
  generator (its config as JSON), render_size (the size it was trained for),
  info (free JSON: recipe, steps, data), and for a generator with a frozen encoder the file name and
  SHA-256 of the encoder's weights, which live in their own file beside it (encoders.py).
Writing these files is training's business (`model.training.generator_file`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .architectures import Generator, GeneratorConfig, architecture
from .errors import CheckpointError, ChecksumMismatch
from .weights_file import read_safetensors
from .weights_file import sha256_of as sha256_of  # re-exported: callers and tests read checksums here

FORMAT = "heirloom.generator"
FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO_ROOT / "weights" / "heirloom-generator.safetensors"


@dataclass
class GeneratorFile:
    config: GeneratorConfig
    render_size: int
    state: dict[str, torch.Tensor]
    info: dict[str, Any] = field(default_factory=dict)
    architecture: str = "hypercolumn"
    encoder_path: Path | None = None  # a frozen encoder's weights file
    encoder_sha256: str | None = None


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_checksum(path: Path) -> None:
    """Compare against `<file>.sha256` beside it; raise ChecksumMismatch on any difference."""
    side = checksum_path(path)
    if not side.exists():
        raise ChecksumMismatch(f"{side.name} is missing beside {path}; cannot verify the weights.")
    expected = side.read_text().split()[0].strip().lower()
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"The weights file {path} is damaged or was replaced: its SHA-256 is {actual[:16]}…, "
            f"expected {expected[:16]}…. Restore it from the repository (git checkout -- {path.name})."
        )


def read_generator(path: str | os.PathLike[str], verify: bool = False) -> GeneratorFile:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No weights file at {path}.")
    if verify:
        verify_checksum(path)
    meta, state = read_safetensors(path, "safetensors weights file")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Heirloom generator (format {meta.get('format')!r}).")
    if int(meta.get("format_version", -1)) != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {meta.get('format_version')}, this Heirloom reads version {FORMAT_VERSION}."
        )
    arch = meta.get("architecture", "unet")  # files from before the field were all U-Nets
    try:
        cls = architecture(arch)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    try:
        config = cls.Config(**json.loads(meta["generator"]))
        render_size = int(meta["render_size"])
        info = json.loads(meta.get("info", "{}"))
        encoder_path = path.parent / meta["encoder_file"] if "encoder_file" in meta else None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has a broken config header ({e}).") from e
    return GeneratorFile(config, render_size, state, info, arch, encoder_path, meta.get("encoder_sha256"))


def build_generator(gen: GeneratorFile) -> Generator:
    """Instantiate the network and load its weights strictly (key and shape matching), in float32."""
    try:
        model = architecture(gen.architecture)(gen.config)
    except ValueError as e:
        raise CheckpointError(f"The weights' config is not valid: {e}") from e
    model.load_weights(gen.state, gen.encoder_path, gen.encoder_sha256)
    model.eval()
    return model
