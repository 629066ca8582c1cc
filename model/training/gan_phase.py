"""The hypercolumn decoder's optional GAN phase: a PatchGAN judges (L, ab) at the chroma's own scale.

DeOldify's NoGAN order: the decoder first learns colour from its non-adversarial losses alone, then
a discriminator joins for the last part of the budget (`gan_from`), pushing the decoder away from
the safe, averaged colours that L1 rewards. Hinge loss and instance norm in D, as the pix2pix seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..networks import DiscriminatorConfig, PatchDiscriminator
from .losses import d_loss, g_loss

GAN_LOSS = "hinge"


class GanPhase:
    def __init__(self, device: torch.device, lr: float = 2e-4):
        # 3 stride-2 convs: an 8x8 patch grid on the 64x64 chroma of a 128-px render
        self.D = PatchDiscriminator(DiscriminatorConfig(downsamples=3, base_width=32, max_width=256)).to(device)
        self.opt = torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))

    def judge(self, l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Generator input L (B, 1, H, W) and ab / 110 (B, 2, h, w) -> patch logits, L brought to ab's scale."""
        return self.D(F.adaptive_avg_pool2d(l, ab.shape[-2:]), ab)

    def d_step(self, l: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> float:
        """One discriminator update on real (ab / 110) against the decoder's current output (detached)."""
        loss = d_loss(GAN_LOSS, self.judge(l, real_ab), self.judge(l, fake_ab.detach()))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def g_loss(self, l: torch.Tensor, fake_ab: torch.Tensor) -> torch.Tensor:
        """The decoder's adversarial loss (gradients reach the decoder only: D's step is separate)."""
        self.D.requires_grad_(False)
        try:
            return g_loss(GAN_LOSS, self.judge(l, fake_ab))
        finally:
            self.D.requires_grad_(True)

    def state_dict(self) -> dict:
        return {"D": self.D.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.D.load_state_dict(state["D"], strict=True)
        self.opt.load_state_dict(state["opt"])
