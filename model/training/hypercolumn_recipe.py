"""What a hypercolumn training run is: its recipe (stored in the run folder as recipe.json) and the
decodings of the heads it trains."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..hypercolumn import HypercolumnConfig
from .held_back import decodings


@dataclass(frozen=True)
class Recipe:
    init: str = ""  # warm start: a hypercolumn generator file whose decoder we continue
    cache: str = ""  # feature cache folder (CPU) ...
    photos: str = ""  # ... or a folder / shard of photos (on-the-fly features, GPU)
    generator: HypercolumnConfig = field(default_factory=HypercolumnConfig)
    size: int = 128  # render size it trains (and ships) at
    rebalance: float = 1.0  # lambda: 1 = no class rebalancing, 0.5 = Zhang et al.
    class_weight: float = 1.0
    l1_weight: float = 10.0  # regression head (ab / 110 scale: ~10x smaller than the CE)
    perceptual_weight: float = 0.0  # VGG16 features of the regression head's colorized photo (vgg16 only)
    gan_weight: float = 0.0  # PatchGAN on the regression head's (L, ab): 0 = no GAN phase
    gan_from: float = 0.5  # the GAN phase starts at this fraction of the budget (CPU-hours, wall, steps)
    lr: float = 5e-4
    batch_size: int = 32
    steps: int = 1_000_000
    cpu_hours: float = 0.0  # stop after this much process CPU time in training (0 = no limit)
    wall_minutes: float = 0.0  # stop after this much wall time in training (0 = no limit): GPU runs
    min_colorfulness: float = 10.0  # drop near-gray photos (about 5 % of Imagenette)
    held_back_fraction: float = 0.02  # on-the-fly photos only; a cache fixes its slice when it is built
    flip: bool = True
    age: float = 0.0  # share of training views whose gray input is aged (aging.py): old-print inputs, clean targets
    l1_rebalance: float = 1.0  # lambda of colour-rarity weights on the regression head's L1 (1 = none); milder
    # than the class loss's: strong weights pull uncertain neutral surfaces to rare colours (magenta walls)
    precision: str = "auto"  # auto (bf16 + channels-last where the CPU has it) | float32 | bfloat16
    compile: bool = False  # torch.compile the frozen encoder (on-the-fly features; ~30 s to start)
    ema: float = 0.999
    seed: int = 0
    threads: int = 0
    checkpoint_minutes: float = 3.0
    eval_minutes: float = 45.0
    eval_photos: int = 200  # Inception runs ~4 photos/s on 2 cores: FID is the costly part
    temperatures: tuple[float, ...] = (0.6, 0.38)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        d = dict(d)
        gen = HypercolumnConfig(**d.pop("generator", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown recipe keys: {', '.join(sorted(unknown))}")
        if "temperatures" in d:
            d["temperatures"] = tuple(d["temperatures"])
        return cls(generator=gen, **d)


def trained_decodings(r: Recipe) -> list[HypercolumnConfig]:
    """The decodings of the heads this recipe trains: an untrained head's colours are noise, and noise
    can be colourful enough to be selected."""
    cfgs = decodings(r.generator, r.temperatures)
    regression_trained = r.l1_weight > 0 or r.perceptual_weight > 0 or r.gan_weight > 0
    return [
        c
        for c in cfgs
        if (c.decode == "regression" and regression_trained) or (c.decode == "classes" and r.class_weight > 0)
    ]
