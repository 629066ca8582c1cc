"""One typed config tree for a training run, its presets, and JSON round-trips.

The resolved config is written to every run folder (config.json) and into every
training checkpoint, so a run can be resumed or inspected from its files alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from ..errors import ConfigError
from ..networks import DiscriminatorConfig, GeneratorConfig


@dataclass(frozen=True)
class DataConfig:
    root: str = ""  # folder of colour photos, searched recursively
    size: int = 128  # training crop side (pixels); also the render size it ships with
    val_fraction: float = 0.02  # deterministic split by file-name hash
    min_colorfulness: float = 10.0  # Hasler & Süsstrunk; below this a photo counts as near-gray
    crop_scale: tuple[float, float] = (0.6, 1.0)  # random resized crop: area fraction range
    flip: bool = True
    degrade: bool = False  # old-photo degradations of the input L only
    cache_dir: str = ".cache/heirloom"  # decoded photos kept as .npy to skip re-decoding on resume
    limit: int = 0  # use at most this many photos (0 = all)


@dataclass(frozen=True)
class LossConfig:
    gan: str = "hinge"  # bce | hinge | lsgan | none (L1 only)
    l1_weight: float = 100.0
    gan_weight: float = 1.0
    warmup_steps: int = 0  # L1-only steps before the GAN starts (DeOldify's NoGAN idea)
    chroma_boost: float = 1.0  # scale target ab before L1 (>1 fights the brownish average)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_every: int = 1  # update D every k-th step; 2 = "D at half the rate of G"
    schedule: str = "none"  # none | linear (decay to 0 over the second half of the steps)
    ema: float = 0.0  # EMA decay for G (0 = off), e.g. 0.999


@dataclass(frozen=True)
class RunConfig:
    steps: int = 1000
    max_minutes: float = 0.0  # also stop after this many CPU-minutes of training (0 = no limit): equal budgets
    batch_size: int = 16
    seed: int = 0
    out_dir: str = "runs"
    name: str = "run"
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 500
    checkpoint_minutes: float = 5.0  # also checkpoint after this much wall time
    amp: bool = True  # mixed precision on CUDA only
    threads: int = 0  # torch CPU threads (0 = torch's default)


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _from_dict(kind, d: dict):
    """Strict: an unknown key is an error (a typo in an override must not be ignored)."""
    known = {f.name: f for f in fields(kind)}
    unknown = set(d) - set(known)
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} keys: {', '.join(sorted(unknown))}")
    kw = {}
    for name, value in d.items():
        default = getattr(kind(), name)
        if is_dataclass(default):
            kw[name] = _from_dict(type(default), value)
        elif isinstance(default, tuple):
            kw[name] = tuple(value)
        else:
            kw[name] = value
    return kind(**kw)


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """`section.key=value` strings (values parsed as JSON, else kept as strings) -> new config."""
    d = asdict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. run.steps=500")
        section, name = key.split(".", 1)
        if section not in d or name not in d[section]:
            raise ConfigError(f"unknown config key {key!r}")
        try:
            d[section][name] = json.loads(raw)
        except json.JSONDecodeError:
            d[section][name] = raw
    return TrainConfig.from_dict(d)


_PART2_D = DiscriminatorConfig(downsamples=6, base_width=64, norm="instance")  # 4×4 grid at 256 px

PRESETS: dict[str, TrainConfig] = {
    # The write-up, part 1: BCE, batch norm in D, D every step, 256 px.
    "seed-part1": TrainConfig(
        data=DataConfig(size=256),
        generator=GeneratorConfig(depth=8, base_width=64, max_width=512, norm="batch", dropout=0.5),
        discriminator=DiscriminatorConfig(downsamples=6, base_width=64, norm="batch"),
        loss=LossConfig(gan="bce"),
        optim=OptimConfig(d_every=1),
    ),
    # Part 2: hinge, instance norm in D, D every 2nd step.
    "seed-part2": TrainConfig(
        data=DataConfig(size=256),
        generator=GeneratorConfig(depth=8, base_width=64, max_width=512, norm="batch", dropout=0.5),
        discriminator=_PART2_D,
        loss=LossConfig(gan="hinge"),
        optim=OptimConfig(d_every=2),
    ),
    # Part 4: part 2 at 352 px with an 11×11 patch grid, lr 2e-4, no scheduler.
    "seed-part4": TrainConfig(
        data=DataConfig(size=352),
        generator=GeneratorConfig(depth=5, base_width=64, max_width=512, norm="batch", dropout=0.5),
        discriminator=replace(_PART2_D, downsamples=5),
        loss=LossConfig(gan="hinge"),
        optim=OptimConfig(d_every=2, schedule="none"),
    ),
    # Small enough to train usefully on 2 CPU cores: ~4M-parameter G, ndf-32 D, 128 px.
    "cpu-small": TrainConfig(
        data=DataConfig(size=128),
        generator=GeneratorConfig(depth=5, base_width=32, max_width=256, norm="batch", upsample="transpose"),
        discriminator=DiscriminatorConfig(downsamples=3, base_width=32, max_width=256, norm="instance"),
        loss=LossConfig(gan="hinge", warmup_steps=500),
        optim=OptimConfig(d_every=2, ema=0.999),
        run=RunConfig(batch_size=16, threads=0),
    ),
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
