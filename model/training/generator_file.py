"""Writing generator and encoder files (the reading side, strict, is `model.checkpoint`): atomically,
readable by a server running as another user, a frozen encoder named by its SHA-256."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..architectures import Generator
from ..checkpoint import FORMAT, FORMAT_VERSION, checksum_path
from ..encoders import ENCODER_FORMAT, FrozenEncoder, encoder_filename
from ..errors import CheckpointError
from ..weights_file import sha256_of


def _write_atomic(path: Path, state: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; a server running as another user must read it
    os.replace(tmp, path)
    return path


def save_generator(
    path: str | os.PathLike[str],
    model: Generator,
    render_size: int,
    info: dict[str, Any] | None = None,
    half: bool = False,
    encoder_path: str | os.PathLike[str] | None = None,
) -> Path:
    """`half` stores float16 (half the bytes). The file holds what the model trains (`model.trained`); a
    frozen encoder is named instead: `encoder_path` (default: its standard file name beside the generator),
    which must already exist, its SHA-256 in the header."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "architecture": model.architecture,
        "generator": json.dumps(asdict(model.cfg)),
        "render_size": str(render_size),
        "info": json.dumps(info or {}),
    }
    if model.encoder.frozen:
        enc = Path(encoder_path) if encoder_path else path.parent / encoder_filename(model.cfg.encoder)
        if not enc.is_file():
            raise CheckpointError(f"save the encoder weights first: {enc} does not exist")
        state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        meta.update(encoder_file=os.path.relpath(enc, path.parent), encoder_sha256=sha256_of(enc))
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return _write_atomic(path, state, meta)


def save_encoder(path: str | os.PathLike[str], encoder: FrozenEncoder, source: str) -> Path:
    """float16 weights (half the bytes; features differ from float32 by < 0.1 %)."""
    state = {k: v.detach().cpu().half().contiguous() for k, v in encoder.state_dict().items()}
    meta = {"format": ENCODER_FORMAT, "encoder": encoder.name, "info": json.dumps({"source": source})}
    return _write_atomic(Path(path), state, meta)


def write_checksum(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    out = checksum_path(path)
    out.write_text(f"{sha256_of(path)}  {path.name}\n")
    return out
