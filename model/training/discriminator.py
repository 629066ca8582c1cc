"""The PatchGAN discriminator: it judges each cell of an N×N grid of overlapping patches of (L, ab) as real
or fake (pix2pix). Training only: a generator file never holds one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiscriminatorConfig:
    downsamples: int = 3  # stride-2 convs; the patch grid is input_size / 2**downsamples
    base_width: int = 64
    max_width: int = 512
    norm: str = "instance"  # batch | instance | spectral


def conv_wrap(kind: str) -> Callable[[nn.Conv2d], nn.Module]:
    """A discriminator conv as it is built under norm `kind`: spectral-normalised, or as it is."""
    return nn.utils.parametrizations.spectral_norm if kind == "spectral" else (lambda m: m)


def norm2d(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "spectral":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (batch, instance, spectral)")


class PatchDiscriminator(nn.Module):
    """PatchGAN: judges each cell of a (size / 2**downsamples)² grid of overlapping patches as real or fake.

    `view(L, ab)` is the pair at the chroma's scale as 3 channels; forward gives [(B, 1, grid, grid) logits].
    """

    def __init__(self, cfg: DiscriminatorConfig, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        sn = conv_wrap(cfg.norm)
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(cfg.downsamples):
            cout = min(cfg.base_width * 2**i, cfg.max_width)
            layers += [
                sn(nn.Conv2d(cin, cout, 4, 2, 1)),
                nn.Identity() if i == 0 else norm2d(cfg.norm, cout),
                nn.LeakyReLU(0.2),
            ]
            cin = cout
        cout = min(cin * 2, cfg.max_width)
        layers += [
            sn(nn.Conv2d(cin, cout, 3, 1, 1)),
            norm2d(cfg.norm, cout),
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(cout, 1, 3, 1, 1)),
        ]
        self.net = nn.Sequential(*layers)

    def view(self, l: torch.Tensor, ab: torch.Tensor) -> tuple[torch.Tensor]:
        """Generator input L (B, 1, H, W) and ab / AB_SCALE (B, 2, h, w) -> (L brought to ab's scale, ab)."""
        return (torch.cat([F.adaptive_avg_pool2d(l, (ab.shape[-2], ab.shape[-1])), ab], dim=1),)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.net(x)]

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
