"""A U-Net whose encoder already sees: a frozen ImageNet encoder, hypercolumn skips, a trained decoder.

The encoder (VGG16, or the lighter AlexNet: `encoders.py`; or `none`, the plain pix2pix U-Net's encoder
trained from scratch with the rest) turns gray L into features that know sky,
grass, skin and cloth at three depths (VGG16: 1/4, 1/8, 1/16); the decoder climbs back up through
them (Larsson et al. 2016's hypercolumns in U-Net form, as DeOldify's pretrained-encoder U-Net) and,
at 1/2 scale, meets a small trained stem on the L itself so chroma follows edges finer than the encoder's grid.

Two heads share the trunk: a regression head (ab directly, at 1/2 scale) and a classification head
over a grid of ab bins (Zhang et al. 2016, at 1/4 scale as theirs), decoded by the annealed mean at a
temperature. `decode` picks the head at inference. The chroma comes out at half the render size;
`Colorizer` upsamples it with the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..color import AB_SCALE
from ..encoders import ENCODER_NAMES, FrozenEncoder, copy_block5, load_encoder, make_encoder, vgg16_block5
from ..errors import CheckpointError
from .hint_propagation import HintPropagation, pool_hints, zero_conv


@dataclass(frozen=True)
class HypercolumnConfig:
    encoder: str = "vgg16"  # vgg16 | alexnet (frozen, ImageNet) | none (the pix2pix encoder, trained from scratch)
    encoder_width: int = 64  # encoder=none: channels of its first level (doubled per level, up to 512)
    width: int = 128  # decoder channels at 1/8 and 1/16; halved at 1/4, quartered at 1/2
    stem: int = 16  # channels of the trained L stem at 1/2 scale
    hint_channels: int = 0  # user colour hints (a, b, mask = 3; model/hints.py) joining every scale; 0 = none
    propagate: bool = False  # hints also carried to the cells whose features resemble theirs (hint_propagation.py)
    propagate_rank: int = 0  # rank of the learned correction of the features that matching uses (0 = none)
    propagate_gate: bool = False  # the carried colour may take the regression head's place (HintGate)
    propagate_floor: float = 0.0  # a trust below which neither the carried colour nor the trust reaches the decoder
    blocks: int = 0  # residual blocks added at every decoder scale (depth; 0 = the v2 decoder)
    context: int = 0  # width of the global scene summary fused into every scale (0 = none)
    tune_top: bool = False  # vgg16: the decoder owns and trains a copy of the encoder's conv5 block (from relu4_3),
    # started at its ImageNet weights; the frozen encoder's own relu5_3 is then not used
    bin_size: float = 10.0  # ab grid step of the classification head (22 x 22 bins over ±AB_SCALE)
    decode: str = "classes"  # classes (annealed mean) | regression
    temperature: float = 0.38  # annealed-mean temperature: lower is more vivid, 1.0 is the plain mean

    @property
    def multiple(self) -> int:
        return 32  # render sizes stay multiples of 32, as for the pix2pix U-Net

    @property
    def bins_per_axis(self) -> int:
        return int(round(2 * AB_SCALE / self.bin_size))


def ab_bin_centers(cfg: HypercolumnConfig) -> torch.Tensor:
    """(Q, 2) centres of the ab grid, row-major over (a, b)."""
    n = cfg.bins_per_axis
    c = -AB_SCALE + cfg.bin_size * (torch.arange(n, dtype=torch.float32) + 0.5)
    a, b = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], 1)


def _block(cin: int, cout: int) -> nn.Sequential:
    norm = nn.GroupNorm(math.gcd(8, cout), cout)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), norm, nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """conv-norm-relu-conv added to its input; the last conv starts at zero, so a new block is the
    identity and a decoder deepened with it computes exactly what it computed before."""

    def __init__(self, c: int):
        super().__init__()
        last = nn.Conv2d(c, c, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)  # type: ignore[arg-type]
        self.body = nn.Sequential(*_block(c, c), last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))  # x is a ReLU output: unchanged while the body is zero


class GlobalContext(nn.Module):
    """The whole scene steers every pixel (Iizuka et al. 2016): the deepest features pooled (mean and
    max) into one vector, which scales and shifts each decoder scale's channels (FiLM). The per-scale
    maps start at zero: a decoder given context starts as the decoder it was."""

    def __init__(self, c5: int, dim: int, scale_channels: tuple[int, ...]):
        super().__init__()
        self.summary = nn.Sequential(nn.Linear(2 * c5, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim), nn.ReLU())
        maps = [nn.Linear(dim, 2 * c) for c in scale_channels]
        for m in maps:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.film = nn.ModuleList(maps)

    def forward(self, f5: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        pooled = torch.cat([f5.mean((2, 3)), f5.amax((2, 3))], 1)
        g = self.summary(pooled)
        out = []
        for m in self.film:
            gamma, beta = m(g)[:, :, None, None].chunk(2, 1)
            out.append((gamma, beta))
        return out


def _residuals(c: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualBlock(c) for _ in range(blocks)))  # empty: the identity, no weights


def _film(h: torch.Tensor, gb: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    return h if gb is None else h * (1 + gb[0]) + gb[1]


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HypercolumnDecoder(nn.Module):
    """(relu3_3, relu4_3, relu5_3, L[, hints]) -> trunk features at 1/2 scale -> (logits, ab).

    Hints (Zhang et al. 2017: a few user-given ab points and their mask) join every scale: through a
    zero-initialised 1x1 conv beside each lateral (1/16, 1/8, 1/4, where the class head decides the colour)
    and as extra input channels of the L stem (1/2, where the regression head meets the edges)."""

    def __init__(self, cfg: HypercolumnConfig, encoder_channels: tuple[int, int, int]):
        super().__init__()
        w = cfg.width
        c3, c4, c5 = encoder_channels
        self.lat5 = nn.Conv2d(c5, w, 1)
        self.lat4 = nn.Conv2d(c4, w, 1)
        self.lat3 = nn.Conv2d(c3, w // 2, 1)
        self.at16 = _block(w, w)
        self.at8 = _block(2 * w, w)
        self.at4 = nn.Sequential(_block(w + w // 2, w // 2), _block(w // 2, w // 2))
        k = cfg.blocks  # depth beside the v2 modules, so a v2 decoder's weights keep their names
        self.res16, self.res8, self.res4, self.res2 = (_residuals(c, k) for c in (w, w, w // 2, w // 4))
        self.context = GlobalContext(c5, cfg.context, (w, w, w // 2, w // 4)) if cfg.context else None
        self.top = vgg16_block5() if cfg.tune_top else None  # relu4_3 -> relu5_3, trained (copy_block5 starts it)
        hc = self.hint_channels = cfg.hint_channels
        self.hints = nn.ModuleList([zero_conv(hc, c) for c in (w, w, w // 2)]) if hc else None
        self.spread = (
            HintPropagation(
                w // 2,
                w // 4,
                channels=c3 + c4,
                rank=cfg.propagate_rank,
                gate=cfg.propagate_gate,
                floor=cfg.propagate_floor,
            )
            if cfg.propagate
            else None
        )
        self.stem = nn.Sequential(
            nn.Conv2d(1 + cfg.hint_channels, cfg.stem, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.stem, cfg.stem, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.at2 = nn.Sequential(_block(w // 2 + cfg.stem, w // 4), _block(w // 4, w // 4))
        self.classes = nn.Conv2d(w // 2, cfg.bins_per_axis**2, 1)  # at 1/4: a 484-way softmax per pixel is
        self.regression = nn.Conv2d(w // 4, 2, 1)  # memory-bound; colour *choice* is coarse

    def forward(
        self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor], l: torch.Tensor, hints: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f3, f4, f5 = feats
        if self.top is not None:
            f5 = self.top(f4)
        ctx = self.context(f5) if self.context is not None else [None] * 4
        lat5, lat4, lat3 = self.lat5(f5), self.lat4(f4), self.lat3(f3)
        carried, spread = None, self.spread
        if self.hints is not None:
            if spread is not None and hints is not None:
                carried = spread(f3, f4, l, hints)  # None when no photo has a hint: exactly nothing added
            if hints is None:  # no hints: zeros, which every hint path maps to exactly nothing
                hints = l.new_zeros((l.shape[0], self.hint_channels) + l.shape[-2:])
            lat5, lat4, lat3 = (lat + conv(pool_hints(hints, lat)) for lat, conv in zip((lat5, lat4, lat3), self.hints))
            l = torch.cat([l, hints.to(l.dtype)], 1)
        elif hints is not None:
            raise ValueError("this decoder has no hint input")
        h = _film(self.res16(self.at16(lat5)), ctx[0])  # (B, w, ~H/16)
        h = _film(self.res8(self.at8(torch.cat([_up(h, f4), lat4], 1))), ctx[1])  # (B, w, ~H/8)
        if carried is not None and spread is not None:
            lat3 = lat3 + spread.to4(carried.inputs)
        h = _film(self.res4(self.at4(torch.cat([_up(h, f3), lat3], 1))), ctx[2])  # (B, w/2, ~H/4)
        logits = self.classes(h)  # (B, Q, ~H/4)
        s = self.stem(l)  # (B, stem, H/2)
        h = self.at2(torch.cat([_up(h, s), s], 1))
        if carried is not None and spread is not None:
            h = h + spread.to2(_up(carried.inputs, s))
        h = _film(self.res2(h), ctx[3])  # (B, w/4, H/2)
        ab = torch.tanh(self.regression(h))  # ab / AB_SCALE (B, 2, H/2)
        if carried is not None and spread is not None and spread.gate is not None:
            ab = spread.gate(h, ab, carried)
        return logits, ab


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, Q, h, w) logits -> (B, 2, h, w) ab: the mean of softmax(logits / T) over the bin centres."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centers.to(p.device, p.dtype))  # float32 even in a bf16 model


class HypercolumnGenerator(nn.Module):
    """(B, 1, H, W) L normalised to [-1, 1] -> (B, 2, H/2, W/2) ab / AB_SCALE in [-1, 1]."""

    architecture = "hypercolumn"  # the name in a weights file's header (architectures/__init__.py)
    Config = HypercolumnConfig
    centers: torch.Tensor

    def __init__(self, cfg: HypercolumnConfig):
        super().__init__()
        if cfg.encoder not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {cfg.encoder!r} ({', '.join(ENCODER_NAMES)})")
        if cfg.decode not in ("classes", "regression"):
            raise ValueError(f"unknown decode {cfg.decode!r} (classes, regression)")
        if cfg.hint_channels not in (0, 3):
            raise ValueError(f"hint_channels is 0 (none) or 3 (a, b, mask), got {cfg.hint_channels}")
        if cfg.propagate and not cfg.hint_channels:
            raise ValueError("propagate carries hints: it needs hint_channels=3")
        if cfg.propagate_gate and not cfg.propagate:
            raise ValueError("propagate_gate takes in the carried colour: it needs propagate=true")
        if cfg.propagate_floor and not cfg.propagate:
            raise ValueError("propagate_floor fades the carried colour: it needs propagate=true")
        if cfg.tune_top and cfg.encoder != "vgg16":
            raise ValueError(f"tune_top trains VGG16's conv5 block: it needs encoder vgg16, not {cfg.encoder!r}")
        if not cfg.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {cfg.temperature}")
        self.cfg = cfg
        self.encoder = make_encoder(cfg.encoder, cfg.encoder_width)
        self.decoder = HypercolumnDecoder(cfg, self.encoder.channels)
        self.register_buffer("centers", ab_bin_centers(cfg), persistent=False)

    @property
    def trained(self) -> nn.Module:
        """What training changes and a generator file stores: the decoder, or all of it when the encoder
        is trained too (encoder=none); a frozen encoder lives in its own file."""
        return self.decoder if self.encoder.frozen else self

    def start_top(self) -> None:
        """A `tune_top` decoder's conv5 block from the (loaded) encoder's ImageNet weights: before training, so
        that the generator starts computing exactly what its frozen encoder did."""
        if self.decoder.top is None:
            raise ValueError("this generator has no trained conv5 block (tune_top is off)")
        assert isinstance(self.encoder, FrozenEncoder)
        copy_block5(self.decoder.top, self.encoder)

    def decode(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """-> (B, 2, H/2, W/2) ab / AB_SCALE from the chosen head (the class head's 1/4 grid brought to 1/2)."""
        if self.cfg.decode == "regression":
            return ab
        return _up(annealed_mean(logits, self.centers, self.cfg.temperature), ab) / AB_SCALE

    def heads(self, x: torch.Tensor, hints: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (class logits at 1/4, regression ab / AB_SCALE at 1/2): both heads, for training and scoring.
        `hints`: (B, 3, H, W) (a·m, b·m, m) / AB_SCALE at the input's size (model/hints.py), for a model with
        hint channels."""
        if self.encoder.frozen:
            with torch.no_grad():
                feats = self.encoder(x)
        else:
            feats = self.encoder(x)
        return self.decoder(feats, x, hints)

    def forward(self, x: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(*self.heads(x, hints))

    def load_weights(
        self, state: dict[str, torch.Tensor], encoder_file: Path | None, encoder_sha256: str | None
    ) -> None:
        """Strictly, in float32: a frozen encoder from its own file (checked against its SHA-256), the rest
        from `state`, which must hold exactly what `trained` holds."""
        prefix = ""
        if self.encoder.frozen:
            if encoder_file is None:
                raise CheckpointError(f"The generator names no file for its {self.cfg.encoder} encoder.")
            self.encoder = load_encoder(encoder_file, self.cfg.encoder, encoder_sha256)
            prefix = "decoder."
            stray = sorted(k for k in state if not k.startswith(prefix))
            if stray:
                raise CheckpointError("The weights hold tensors outside the decoder: " + ", ".join(stray[:5]))
        own = {k.removeprefix(prefix): v.float() if v.is_floating_point() else v for k, v in state.items()}
        try:
            self.trained.load_state_dict(own, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"The weights do not match their own config: {e}") from e
