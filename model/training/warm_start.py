"""Warm starts: a recipe's generator from a stored generator file — the same decoder, or a grown one (more
residual blocks, a global context, hint inputs, the hint propagation and its gate), whose new weights start at
zero so that it computes exactly what the file did until it learns."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from ..architectures.hypercolumn import HypercolumnConfig
from ..checkpoint import DEFAULT_WEIGHTS, read_generator
from ..errors import ConfigError
from .lineage import inherited


def warm_start(
    trained: torch.nn.Module, cfg: HypercolumnConfig, path: str, frozen: bool, log: Callable[..., None] = print
) -> list[dict]:
    """Load generator file `path` into `trained` (the decoder, or the whole generator when its encoder learns),
    a generator of config `cfg`, strictly but for what `cfg` grows; returns the lineage behind the file."""
    if not Path(path).is_absolute() and not Path(path).exists():  # a shipped recipe's "weights/…": the repo's
        path = str(DEFAULT_WEIGHTS.parent.parent / path)
    gen = read_generator(path)

    def shape(c: HypercolumnConfig) -> HypercolumnConfig:  # what must match; depth, context, hints may grow
        return replace(
            c,
            decode="classes",
            temperature=1.0,
            blocks=0,
            context=0,
            tune_top=False,
            hint_channels=0,
            propagate=False,
            propagate_rank=0,
            propagate_gate=False,
            propagate_floor=0.0,  # a setting, not a shape: a run may change it
        )

    grows = (
        cfg.blocks >= gen.config.blocks
        and (cfg.context == gen.config.context or not gen.config.context)
        and (cfg.tune_top or not gen.config.tune_top)
        and (cfg.hint_channels == gen.config.hint_channels or not gen.config.hint_channels)
        and (cfg.propagate or not gen.config.propagate)
        and (cfg.propagate_rank == gen.config.propagate_rank or not gen.config.propagate_rank)
        and (cfg.propagate_gate or not gen.config.propagate_gate)
    )
    if shape(gen.config) != shape(cfg) or not grows:
        sets = " ".join(f"--set generator.{k}={json.dumps(v)}" for k, v in init_shape_overrides(path).items())
        raise ConfigError(f"--init {path} has another shape than this recipe; to continue it, add: {sets}")
    prefix = "decoder." if frozen else ""
    state = {k.removeprefix(prefix): v.float() for k, v in gen.state.items()}
    if cfg.hint_channels and not gen.config.hint_channels:  # the stem's new hint inputs start at zero
        key = "stem.0.weight" if frozen else "decoder.stem.0.weight"
        w = state[key]
        state[key] = torch.cat([w, w.new_zeros((w.shape[0], cfg.hint_channels) + w.shape[2:])], 1)
    missing, unexpected = trained.load_state_dict(state, strict=False)
    new = [k for k in missing if not _is_growth(k.removeprefix("decoder."), gen.config)]
    if unexpected or new:
        raise ConfigError(f"--init {path} does not fit this generator: missing {new}, unexpected {unexpected}")
    if missing:  # residual blocks and context maps start at zero, a conv5 block as the encoder's: the same function
        log(
            f"  grown from the init: {len(missing)} new tensors (blocks {gen.config.blocks} -> {cfg.blocks}, "
            f"context {gen.config.context} -> {cfg.context}, conv5 trained {gen.config.tune_top} -> {cfg.tune_top}, "
            f"hints {gen.config.hint_channels} -> "
            f"{cfg.hint_channels}, propagation {gen.config.propagate} -> {cfg.propagate}, "
            f"matching rank {gen.config.propagate_rank} -> {cfg.propagate_rank}, "
            f"gate {gen.config.propagate_gate} -> {cfg.propagate_gate})"
        )
    log(f"warm start from {path} (step {gen.info.get('step')}, {gen.info.get('images_seen')} photos seen)")
    return inherited(gen.info, Path(path).name)


def _is_growth(key: str, old: HypercolumnConfig) -> bool:
    """Whether a decoder weight belongs to what a grown decoder adds: residual blocks past the old
    count, the global context, the trained conv5 block or the hint paths (when the old decoder had none)."""
    head, _, rest = key.partition(".")
    if head == "context":
        return not old.context
    if head == "top":
        return not old.tune_top
    if head == "hints":
        return not old.hint_channels
    if head == "spread":  # the matching's learned correction and the gate may be new beside a trained propagation
        part = rest.split(".")[0]
        return (
            not old.propagate
            or (part in ("down", "up") and not old.propagate_rank)
            or (part == "gate" and not old.propagate_gate)
        )
    if head in ("res16", "res8", "res4", "res2"):
        return int(rest.split(".")[0]) >= old.blocks
    return False


def init_shape_overrides(path: str | Path) -> dict[str, object]:
    """The generator fields that fix a hypercolumn decoder's shape, as stored in `path` (for `--set`)."""
    cfg = read_generator(path).config
    return {
        k: getattr(cfg, k)
        for k in ("encoder", "width", "stem", "hint_channels", "bin_size", "blocks", "context", "tune_top")
    }
