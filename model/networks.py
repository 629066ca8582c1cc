"""The generator (U-Net with skip connections) and the PatchGAN discriminator, built from dataclass configs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    depth: int = 5  # number of stride-2 levels; inputs must be a multiple of 2**depth
    base_width: int = 32  # channels of the first level, doubled per level up to max_width
    max_width: int = 256
    norm: str = "batch"  # batch | instance | none
    dropout: float = 0.0  # in the deepest decoder levels, as pix2pix (0.5 there)
    upsample: str = "transpose"  # transpose (ConvTranspose2d) | bilinear (resize + conv, no checkerboard)
    in_channels: int = 1  # L
    out_channels: int = 2  # ab
    semantic: str = "none"  # none | alexnet: frozen ImageNet features added to the decoder at 1/16 scale

    @property
    def multiple(self) -> int:
        return int(2**self.depth)


@dataclass(frozen=True)
class DiscriminatorConfig:
    downsamples: int = 3  # stride-2 convs; the patch grid is input_size / 2**downsamples
    base_width: int = 64
    max_width: int = 512
    norm: str = "instance"  # batch | instance | spectral


def _norm2d(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind in ("none", "spectral"):
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (batch, instance, none, spectral)")


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str, outermost: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=norm != "batch")
        self.norm = nn.Identity() if outermost else _norm2d(norm, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str, mode: str, dropout: float, outermost: bool):
        super().__init__()
        bias = outermost or norm != "batch"
        if mode == "transpose":
            self.conv: nn.Module = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
        elif mode == "bilinear":
            self.conv = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(cin, cout, 3, 1, 1, bias=bias),
            )
        else:
            raise ValueError(f"unknown upsample mode {mode!r} (transpose, bilinear)")
        self.norm = nn.Identity() if outermost else _norm2d(norm, cout)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.norm(self.conv(x)))


class _BlurDown(nn.Module):
    """Anti-aliased stride-2 downsampling (Zhang 2019): reflect pad 2, [1 2 1]² blur, per channel."""

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = (a[:, None] * a[None, :]) / 16
        self.register_buffer("filt", filt[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReflectionPad2d(2)

    filt: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(self.pad(x), self.filt, stride=2, groups=x.shape[1])


class SemanticEncoder(nn.Module):
    """The shift-tolerant AlexNet of ST-LPIPS (ImageNet features), frozen: (B, 1, H, W) L in [-1, 1]
    -> (B, 256, ~H/8, ~W/8) relu5 features. Tells the decoder which pixels are sky, grass, skin.
    Layer indices match the published weights; the weights travel inside our own checkpoints."""

    out_channels = 256
    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 1, 2),
            _BlurDown(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 1),
            _BlurDown(64),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 1),
            _BlurDown(192),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
        )
        self.requires_grad_(False)

    MIN_SIDE = 32  # its reflect-padded blurs need this much; smaller inputs are enlarged first

    def forward(self, l: torch.Tensor) -> torch.Tensor:
        h, w = l.shape[-2:]
        if min(h, w) < self.MIN_SIDE:
            l = nn.functional.interpolate(
                l, size=(max(h, self.MIN_SIDE), max(w, self.MIN_SIDE)), mode="bilinear", align_corners=False
            )
        return self.features((l.expand(-1, 3, -1, -1) - self.shift) / self.scale)


class UNetGenerator(nn.Module):
    """pix2pix U-Net: encoder of stride-2 convs, decoder mirrored, skip connections by concatenation.

    (B, 1, H, W) normalized L -> (B, 2, H, W) ab / AB_SCALE in [-1, 1].
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        widths = [min(cfg.base_width * 2**i, cfg.max_width) for i in range(cfg.depth)]
        self.downs = nn.ModuleList()
        cin = cfg.in_channels
        for i, w in enumerate(widths):
            self.downs.append(_Down(cin, w, cfg.norm, outermost=(i == 0 or i == cfg.depth - 1)))
            cin = w
        self.ups = nn.ModuleList()
        for i in reversed(range(cfg.depth)):
            deepest, outermost = i == cfg.depth - 1, i == 0
            up_in = widths[i] if deepest else widths[i] * 2
            up_out = cfg.out_channels if outermost else widths[i - 1]
            drop = cfg.dropout if i >= cfg.depth - 3 and not outermost else 0.0
            self.ups.append(_Up(up_in, up_out, cfg.norm, cfg.upsample, drop, outermost))
        self.act_down = nn.LeakyReLU(0.2)
        self.act_up = nn.ReLU()
        if cfg.semantic == "alexnet":
            if cfg.depth < 5:
                raise ValueError("semantic features join at 1/16 scale: the U-Net needs depth >= 5")
            self.semantic = SemanticEncoder()
            self.fuse = nn.Conv2d(SemanticEncoder.out_channels, widths[3], 1)
            nn.init.zeros_(self.fuse.weight)  # starts as the plain U-Net; learns how much to listen
            nn.init.zeros_(self.fuse.bias)  # type: ignore[arg-type]  # (it has one: bias=True)
            self.fuse_at = cfg.depth - 5  # index of the up block whose output is at 1/16 scale
        elif cfg.semantic != "none":
            raise ValueError(f"unknown semantic encoder {cfg.semantic!r} (none, alexnet)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # AlexNet sees the photo at half size (4x cheaper; colour needs context, not detail): (B, 256, ~H/16, ~W/16)
        sem = self.semantic(nn.functional.avg_pool2d(x, 2)) if self.cfg.semantic != "none" else None
        skips = []
        h = x
        for i, down in enumerate(self.downs):
            h = down(h if i == 0 else self.act_down(h))
            skips.append(h)
        h = skips.pop()
        for j, up in enumerate(self.ups):
            if j > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            h = up(self.act_up(h))
            if sem is not None and j == self.fuse_at:
                sem = nn.functional.interpolate(sem, size=h.shape[-2:], mode="bilinear", align_corners=False)
                h = h + self.fuse(sem)
        return torch.tanh(h)


class PatchDiscriminator(nn.Module):
    """PatchGAN: judges each cell of a (size / 2**downsamples)² grid of overlapping patches as real or fake.

    Input is the pair (L, ab) as 3 channels; output is (B, 1, grid, grid) logits.
    """

    def __init__(self, cfg: DiscriminatorConfig, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        sn = nn.utils.parametrizations.spectral_norm if cfg.norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(cfg.downsamples):
            cout = min(cfg.base_width * 2**i, cfg.max_width)
            layers += [
                sn(nn.Conv2d(cin, cout, 4, 2, 1)),
                nn.Identity() if i == 0 else _norm2d(cfg.norm, cout),
                nn.LeakyReLU(0.2),
            ]
            cin = cout
        cout = min(cin * 2, cfg.max_width)
        layers += [
            sn(nn.Conv2d(cin, cout, 3, 1, 1)),
            _norm2d(cfg.norm, cout),
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(cout, 1, 3, 1, 1)),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([l, ab], dim=1))

    def patch_grid(self, size: int) -> int:
        """Side of the N×N grid of patch verdicts for a square input of `size`."""
        return size // 2**self.cfg.downsamples

    def receptive_field(self) -> int:
        """Pixels of input one verdict sees (the '70' of a 70×70 PatchGAN)."""
        rf = 1 + 2 + 2  # the two 3×3 stride-1 convs at the top
        for _ in range(self.cfg.downsamples):
            rf = (rf - 1) * 2 + 4
        return rf


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
