"""The generator's adversarial part: a PatchGAN judges (L, ab) at the chroma's own scale.

Two uses, set by the recipe. DeOldify's NoGAN order (`gan_from` > 0): the decoder first learns colour
from its non-adversarial losses alone, then a discriminator joins for the last part of the budget,
pushing it away from the safe, averaged colours that L1 rewards. Or pix2pix (`gan_from` = 0): the
discriminator trains from the first step, with the write-up's loss, norm, grid and D rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .discriminator import DiscriminatorConfig, PatchDiscriminator
from .distributed import Dist, wrap
from .losses import d_loss, g_loss
from .recipe import Recipe

D_LR = 2e-4  # pix2pix's, with its betas; scaled by the recipe's schedule as G's


class GanPhase:
    def __init__(self, recipe: Recipe, device: torch.device, dist: Dist | None = None):
        torch.manual_seed(recipe.seed + 1)  # the same D on every rank
        cfg = DiscriminatorConfig(recipe.d_downsamples(), recipe.d_width, 8 * recipe.d_width, recipe.d_norm)
        self.D = PatchDiscriminator(cfg).to(device)
        self.D_train = wrap(self.D, dist or Dist())  # D's own step syncs across ranks; G's use of it needs not
        self.loss, self.every = recipe.gan_loss, recipe.d_every
        self.opt = torch.optim.Adam(self.D.parameters(), lr=D_LR, betas=(0.5, 0.999))

    def judge(self, l: torch.Tensor, ab: torch.Tensor, d: torch.nn.Module | None = None) -> torch.Tensor:
        """Generator input L (B, 1, H, W) and ab / AB_SCALE (B, 2, h, w) -> patch logits, L brought to ab's scale."""
        return (d or self.D)(F.adaptive_avg_pool2d(l, (ab.shape[-2], ab.shape[-1])), ab)

    def d_step(self, l: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> float:
        """One discriminator update on real (ab / AB_SCALE) against the generator's current output (detached)."""
        logits = self.judge(torch.cat([l, l]), torch.cat([real_ab, fake_ab.detach()]), self.D_train)  # one call: DDP
        real, fake = logits.chunk(2)
        loss = d_loss(self.loss, real, fake)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def g_loss(self, l: torch.Tensor, fake_ab: torch.Tensor) -> torch.Tensor:
        """The decoder's adversarial loss (gradients reach the decoder only: D's step is separate)."""
        self.D.requires_grad_(False)
        try:
            return g_loss(self.loss, self.judge(l, fake_ab))
        finally:
            self.D.requires_grad_(True)

    def state_dict(self) -> dict:
        return {"D": self.D.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.D.load_state_dict(state["D"], strict=True)
        self.opt.load_state_dict(state["opt"])
