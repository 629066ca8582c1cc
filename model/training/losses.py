"""Adversarial losses on PatchGAN logits: (loss for D, loss for G)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        return 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
    if kind == "hinge":  # D = mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "lsgan":
        return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
    raise ConfigError(f"unknown GAN loss {kind!r} (bce, hinge, lsgan, none)")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "hinge":  # G = -mean(D(fake))
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ConfigError(f"unknown GAN loss {kind!r} (bce, hinge, lsgan, none)")
