"""Self-describing generator files: safetensors weights + JSON config in the header, loaded strictly.

No pickled code is ever loaded. The header's metadata holds:
  format = "heirloom.generator", format_version, architecture (unet | hypercolumn),
  generator (its config as JSON), render_size (the size it was trained for),
  info (free JSON: recipe, steps, data), and for a hypercolumn generator the file name and
  SHA-256 of its frozen encoder's weights, which live in their own file beside it (encoders.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .encoders import encoder_filename, load_encoder
from .errors import CheckpointError, ChecksumMismatch
from .hypercolumn import HypercolumnConfig, HypercolumnGenerator
from .networks import GeneratorConfig, UNetGenerator
from .weights_file import read_safetensors
from .weights_file import sha256_of as sha256_of  # re-exported: callers and tests read checksums here

Generator = UNetGenerator | HypercolumnGenerator
ARCHITECTURES: dict[str, type[GeneratorConfig] | type[HypercolumnConfig]] = {
    "unet": GeneratorConfig,
    "hypercolumn": HypercolumnConfig,
}

FORMAT = "heirloom.generator"
FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO_ROOT / "weights" / "heirloom-generator.safetensors"


@dataclass
class GeneratorFile:
    config: GeneratorConfig | HypercolumnConfig
    render_size: int
    state: dict[str, torch.Tensor]
    info: dict[str, Any] = field(default_factory=dict)
    architecture: str = "unet"
    encoder_path: Path | None = None  # hypercolumn: the frozen encoder's weights file
    encoder_sha256: str | None = None


def save_generator(
    path: str | os.PathLike[str],
    model: Generator,
    render_size: int,
    info: dict[str, Any] | None = None,
    half: bool = False,
    encoder_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the generator atomically (temp file + rename); `half` stores float16 (half the bytes).

    A hypercolumn generator's file holds its decoder only and names `encoder_path` (default: the
    encoder's standard file name beside it), which must already exist: its SHA-256 goes in the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "generator": json.dumps(asdict(model.cfg)),
        "render_size": str(render_size),
        "info": json.dumps(info or {}),
    }
    if isinstance(model, HypercolumnGenerator):
        enc = Path(encoder_path) if encoder_path else path.parent / encoder_filename(model.cfg.encoder)
        if not enc.is_file():
            raise CheckpointError(f"save the encoder weights first: {enc} does not exist")
        state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        meta.update(
            architecture="hypercolumn", encoder_file=os.path.relpath(enc, path.parent), encoder_sha256=sha256_of(enc)
        )
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; a server running as another user must read it
    os.replace(tmp, path)
    return path


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_checksum(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    out = checksum_path(path)
    out.write_text(f"{sha256_of(path)}  {path.name}\n")
    return out


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
    arch = meta.get("architecture", "unet")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path} holds a {arch!r} generator; this Heirloom knows {', '.join(ARCHITECTURES)}.")
    try:
        config = ARCHITECTURES[arch](**json.loads(meta["generator"]))
        render_size = int(meta["render_size"])
        info = json.loads(meta.get("info", "{}"))
        encoder_path = path.parent / meta["encoder_file"] if arch == "hypercolumn" else None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has a broken config header ({e}).") from e
    return GeneratorFile(config, render_size, state, info, arch, encoder_path, meta.get("encoder_sha256"))


def build_generator(gen: GeneratorFile) -> Generator:
    """Instantiate the network and load weights with strict key and shape matching, in float32.
    A hypercolumn generator's encoder is loaded from its own file, checked against its SHA-256."""
    try:
        model: Generator
        if isinstance(gen.config, HypercolumnConfig):
            model = HypercolumnGenerator(gen.config)
        else:
            model = UNetGenerator(gen.config)
    except ValueError as e:
        raise CheckpointError(f"The weights' config is not valid: {e}") from e
    state = {k: v.float() if v.is_floating_point() else v for k, v in gen.state.items()}
    target: torch.nn.Module = model
    if isinstance(model, HypercolumnGenerator):
        assert gen.encoder_path is not None
        model.encoder = load_encoder(gen.encoder_path, model.cfg.encoder, gen.encoder_sha256)
        target = model.decoder
        state = {k.removeprefix("decoder."): v for k, v in state.items()}
        if any(not k.startswith("decoder.") for k in gen.state):
            raise CheckpointError(
                "The weights hold tensors outside the decoder: "
                + ", ".join(sorted(k for k in gen.state if not k.startswith("decoder."))[:5])
            )
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"The weights do not match their own config: {e}") from e
    model.eval()
    return model
