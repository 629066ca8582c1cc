"""What a training run is: its recipe (stored in the run folder as recipe.json), read from a shipped
recipe file (`recipes/`) or one's own, `--set key=value` overrides, and the decodings of the heads a
recipe trains."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..architectures.hypercolumn import HypercolumnConfig
from ..errors import ConfigError
from . import recipes

GAN_LOSSES = ("hinge", "bce", "lsgan")
D_NORMS = ("instance", "batch", "spectral")
D_KINDS = ("patch", "projected")
LR_SCHEDULES = ("constant", "linear")
HOLD_WHERE = ("far", "untrusted")  # hint_hold_where: by the true colour, or by the propagation's trust


@dataclass(frozen=True)
class Recipe:
    about: str = ""  # one line: what the recipe is for (`heirloom train --help` lists it)
    init: str = ""  # warm start: a generator file whose trained part (decoder, or all) we continue
    cache: str = ""  # feature cache folder (CPU, frozen encoder) ...
    photos: str = ""  # ... or a folder / shard of photos (encoder run per batch)
    generator: HypercolumnConfig = field(default_factory=HypercolumnConfig)
    size: int = 128  # render size it trains (and ships) at
    rebalance: float = 1.0  # lambda: 1 = no class rebalancing, 0.5 = Zhang et al.
    class_weight: float = 1.0
    l1_weight: float = 10.0  # regression head (ab / AB_SCALE: ~10x smaller than the CE); pix2pix's λ is 100
    chroma_weight: float = 0.0  # L1 on the regression head's chroma C*ab (color_losses.chroma_loss): colour where
    # photos have it, which the per-channel L1 leaves gray wherever the hue is unsure; 0 = off
    perceptual_weight: float = 0.0  # VGG16 features of the regression head's colorized photo (vgg16 only)
    gan_weight: float = 0.0  # PatchGAN on the regression head's (L, ab): 0 = no GAN
    gan_from: float = 0.5  # the GAN starts at this fraction of the budget (0: from the first step, as pix2pix)
    gan_loss: str = "hinge"  # hinge | bce | lsgan
    gan_grid: int = 8  # side of the discriminator's N×N grid of patch verdicts over the chroma (size / 2)
    d_kind: str = "patch"  # patch: the write-up's PatchGAN on (L, ab) | projected: heads on a frozen ImageNet
    # AlexNet's features of the colorized photo (projected_discriminator.py; needs the stlpips-pytorch wheel)
    d_norm: str = "instance"  # instance | batch | spectral
    d_width: int = 32  # the discriminator's first level (doubled per level, up to 256)
    d_every: int = 1  # update D every k-th step: 2 = "D at half the rate of G"
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.99)  # Adam's; pix2pix uses (0.5, 0.999)
    lr_schedule: str = "constant"  # constant | linear (to 0 over the second half of the budget)
    batch_size: int = 32
    steps: int = 1_000_000
    cpu_hours: float = 0.0  # stop after this much process CPU time in training (0 = no limit)
    wall_minutes: float = 0.0  # stop after this much wall time in training (0 = no limit): GPU runs
    min_colorfulness: float = 10.0  # drop near-gray photos (about 5 % of Imagenette)
    held_back_fraction: float = 0.02  # on-the-fly photos only; a cache fixes its slice when it is built
    flip: bool = True
    crop_area: float = 0.5  # on-the-fly views keep 50-100 % of a photo's area (then resampled to `size`); 1.0:
    # the whole photo, flips only, as the feature cache sees it (no zoomed, softened views: the held-back never is)
    folder_weights: dict[str, float] = field(default_factory=dict)  # on-the-fly photos: a top-level folder's photos
    # are drawn this many times as often (others 1; 0 leaves a folder out). The training set is half ten Imagenette
    # classes and two fifths faces; the few photos of every other kind of scene are what unseen photos resemble
    age: float = 0.0  # share of training views whose gray input is aged (aging.py): old-print inputs, clean targets
    l1_rebalance: float = 1.0  # lambda of colour-rarity weights on the regression head's L1 (1 = none); milder
    # than the class loss's: strong weights pull uncertain neutral surfaces to rare colours (magenta walls)
    top_lr_scale: float = 0.1  # generator.tune_top: the conv5 block's learning rate, times `lr` (ImageNet weights)
    hint_p_none: float = 0.5  # generator.hint_channels: share of views trained without hints (automatic colour)
    hint_max_points: int = 10  # ... and up to this many simulated hints on the others (hint_sampling.py)
    hint_p_wrong: float = 0.0  # share of those hints given a colour the photo does not have there: followed on
    # their own patch and, fading, by the look-alike pixels around it, the rest keeping its true colours, so a
    # decoder learns to carry a hint only as far as the photo says it belongs (hint_sampling.wrong_targets; with
    # true hints only, spreading one colour over every look-alike in the photo is rewarded)
    hint_lr_scale: float = 1.0  # the hint paths' learning rate, times `lr` (they start from zero)
    hint_focus: float = 0.0  # weight of an L1 near the hints (color_losses.near_hints_loss): teaches using them
    spread_focus: float = 0.0  # weight of an L1 on the colour hint propagation carries, before the decoder
    # (color_losses.spread_loss): the matching itself learns which cells share a hinted colour
    hint_distill: float = 0.0  # weight of an L1 keeping views without hints at the init's own colours (a teacher)
    hint_hold_far: float = 0.0  # with hint_distill: weight of an L1 keeping, on hinted views, the pixels whose
    # colour is > 20 ab from every hint's at the teacher's automatic colours. A hint speaks for its own colour: the
    # training photos' colour casts otherwise teach that a blouse's blue hint turns a face blue too
    hint_hold_close: float = 0.0  # with hint_hold_far: hold only those pixels whose automatic colour is within
    # this many ab units of the truth (0: all of them). Holding a wrong automatic colour fights the L1 toward the
    # truth, which cost the hinted colours some of their gain (weights/MODEL_CARD.md, hold-far runs)
    hint_hold_where: str = "far"  # with hint_hold_far, which pixels of a hinted view are held: "far" (above) or
    # "untrusted": those whose propagation trust is under generator.propagate_floor, i.e. that no hint reaches, so the
    # decoder learns that a hint leaves what it does not reach at its own colour. Tried on the README example: the
    # face's cells trust the blouse's hint above a 0.35 floor, so "untrusted" released them and they grayed more
    # than under "far" (weights/MODEL_CARD.md, fifth session)
    only_hints: bool = False  # train the hint paths alone: the automatic colours stay exactly the init's
    precision: str = "auto"  # auto (bf16 + channels-last where the CPU has it) | float32 | bfloat16
    compile: bool = False  # torch.compile the frozen encoder (on-the-fly features; ~30 s to start)
    ema: float = 0.999  # 0: the generator itself is exported
    seed: int = 0
    threads: int = 0
    checkpoint_minutes: float = 3.0
    eval_minutes: float = 45.0
    # every evaluation's EMA generator also kept, as snapshot-step-N.safetensors (its first decoding): where the
    # run cannot score FID (the GPU machine has no Inception weights), the rule is applied to them elsewhere
    keep_snapshots: bool = False
    eval_photos: int = 200  # Inception runs ~4 photos/s on 2 cores: FID is the costly part
    temperatures: tuple[float, ...] = (0.6, 0.38)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """Strict: an unknown key (a typo in a file or an override) is an error, not ignored."""
        d = dict(d)
        gen = d.pop("generator", {})
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        gen_known = {f.name for f in fields(HypercolumnConfig)}
        unknown |= {f"generator.{k}" for k in set(gen) - gen_known}
        if unknown:
            raise ConfigError(f"unknown recipe keys: {', '.join(sorted(unknown))}")
        for key in ("temperatures", "betas"):
            if key in d:
                d[key] = tuple(d[key])
        try:
            recipe = cls(generator=HypercolumnConfig(**gen), **d)
        except TypeError as e:
            raise ConfigError(f"bad recipe: {e}") from e
        recipe.check()
        return recipe

    def check(self) -> None:
        for obj, prefix in ((self, ""), (self.generator, "generator.")):
            for f in fields(obj):  # a switch given as a word ("True", "False" from Python) would read as on
                value = getattr(obj, f.name)
                if f.type == "bool" and not isinstance(value, bool):
                    raise ConfigError(f"{prefix}{f.name}={value!r}: give true or false")
        for name, value, allowed in (
            ("gan_loss", self.gan_loss, GAN_LOSSES),
            ("d_norm", self.d_norm, D_NORMS),
            ("d_kind", self.d_kind, D_KINDS),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
            ("hint_hold_where", self.hint_hold_where, HOLD_WHERE),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}={value!r}: choose one of {', '.join(allowed)}")
        if self.size % self.generator.multiple:
            raise ConfigError(f"size={self.size} must be a multiple of {self.generator.multiple}")
        if self.gan_weight and self.d_kind == "patch":
            self.d_downsamples()
        if any(not isinstance(w, (int, float)) or w < 0 for w in self.folder_weights.values()):
            raise ConfigError(f"folder_weights={self.folder_weights}: each weight is a number, 0 or more")
        if self.d_every < 1:
            raise ConfigError("d_every must be at least 1")

    def d_downsamples(self) -> int:
        """Stride-2 levels of the discriminator that give `gan_grid` verdicts across the chroma (size / 2)."""
        chroma, n = self.size // 2, 0
        while chroma > self.gan_grid and chroma % 2 == 0:
            chroma, n = chroma // 2, n + 1
        if chroma != self.gan_grid or n == 0:
            raise ConfigError(
                f"gan_grid={self.gan_grid} is not the chroma's side {self.size // 2} halved a whole number of times"
            )
        return n


def apply_sets(d: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """`key=value` / `generator.key=value` overrides (values parsed as JSON, else kept as words)."""
    d = json.loads(json.dumps(d))
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        node = d
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = json.loads(value)
        except json.JSONDecodeError:
            node[leaf] = value
    return d


def load_recipe(name_or_path: str | None = None, sets: list[str] | None = None) -> Recipe:
    """A shipped recipe by name (default: the shipped model's) or a recipe file, then the overrides."""
    path = recipes.recipe_file(name_or_path or recipes.DEFAULT)
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not a JSON recipe ({e})") from e
    return Recipe.from_dict(apply_sets(d, sets or []))


def decodings(g: HypercolumnConfig, temperatures: tuple[float, ...]) -> list[HypercolumnConfig]:
    """Regression, then the annealed mean at each temperature."""
    return [replace(g, decode="regression")] + [replace(g, decode="classes", temperature=t) for t in temperatures]


def trained_decodings(r: Recipe) -> list[HypercolumnConfig]:
    """The decodings of the heads this recipe trains: an untrained head's colours are noise, and noise
    can be colourful enough to be selected."""
    cfgs = decodings(r.generator, r.temperatures)
    regression_trained = r.l1_weight > 0 or r.chroma_weight > 0 or r.perceptual_weight > 0 or r.gan_weight > 0
    return [
        c
        for c in cfgs
        if (c.decode == "regression" and regression_trained) or (c.decode == "classes" and r.class_weight > 0)
    ]
