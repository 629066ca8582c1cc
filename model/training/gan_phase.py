"""The generator's adversarial part: a discriminator judges the regression head's colours.

Two uses, set by the recipe. DeOldify's NoGAN order (`gan_from` > 0): the decoder first learns colour
from its non-adversarial losses alone, then a discriminator joins for the last part of the budget,
pushing it away from the safe, averaged colours that L1 rewards. Or pix2pix (`gan_from` = 0): the
discriminator trains from the first step, with the write-up's loss, norm, grid and D rate.

Two critics (`d_kind`): the write-up's PatchGAN on (L, ab) at the chroma's scale, or a projected one that
judges the colorized photo through a frozen ImageNet network (projected_discriminator.py).
"""

from __future__ import annotations

import os

import torch

from .discriminator import DiscriminatorConfig, PatchDiscriminator
from .distributed import Dist, wrap
from .losses import d_loss, g_loss
from .projected_discriminator import ProjectedDiscriminator, imagenet_alexnet
from .recipe import Recipe

D_LR = 2e-4  # pix2pix's, with its betas; scaled by the recipe's schedule as G's


class GanPhase:
    def __init__(
        self,
        recipe: Recipe,
        device: torch.device,
        dist: Dist | None = None,
        dtype: torch.dtype = torch.float32,
        critic_file: str | os.PathLike[str] | None = None,
    ):
        """`critic_file`: a projected D's ImageNet AlexNet, read from there, or written there from the wheel."""
        dist = dist or Dist()
        D: PatchDiscriminator | ProjectedDiscriminator
        if recipe.d_kind == "projected":
            net = dist.main_first(lambda: imagenet_alexnet(critic_file))  # the others read the file it wrote
            if net is None:
                net = imagenet_alexnet(critic_file, write=False)
            torch.manual_seed(recipe.seed + 1)  # the same heads on every rank
            D = ProjectedDiscriminator(net, 2 * recipe.d_width, recipe.d_norm)
        else:
            torch.manual_seed(recipe.seed + 1)  # the same D on every rank
            D = PatchDiscriminator(
                DiscriminatorConfig(recipe.d_downsamples(), recipe.d_width, 8 * recipe.d_width, recipe.d_norm)
            )
        self.D = D.to(device)
        self.D_train = wrap(self.D, dist)  # D's own step syncs across ranks; G's use of it needs not
        self.trained = [p for p in self.D.parameters() if p.requires_grad]  # a projected D's ImageNet net: frozen
        self.loss, self.every = recipe.gan_loss, recipe.d_every
        self.opt = torch.optim.Adam(self.trained, lr=D_LR, betas=(0.5, 0.999))
        self.bf16 = dtype == torch.bfloat16
        self.device_type = device.type

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, torch.bfloat16, enabled=self.bf16)

    def judge(self, l: torch.Tensor, ab: torch.Tensor) -> list[torch.Tensor]:
        """Generator input L (B, 1, H, W) and ab / AB_SCALE (B, 2, h, w) -> the critic's logit maps."""
        with self._autocast():
            return [x.float() for x in self.D(*self.D.view(l, ab))]

    def losses(
        self, l: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor, train_d: bool = True
    ) -> tuple[torch.Tensor, float | None]:
        """The decoder's adversarial loss (its gradient reaches the decoder only) and, with `train_d`, one
        discriminator update on real (ab / AB_SCALE) against the decoder's output (detached) first. The fake's
        view is computed once for both: for a projected D that is the costly pass through its ImageNet net."""
        with self._autocast():
            fake = self.D.view(l, fake_ab)
        d_value = None
        if train_d:
            with torch.no_grad(), self._autocast():
                real = self.D.view(l, real_ab)
            with self._autocast():  # one call on real and fake together: DDP
                logits = self.D_train(*(torch.cat([r, f.detach()]) for r, f in zip(real, fake)))
            loss = torch.stack([d_loss(self.loss, *x.float().chunk(2)) for x in logits]).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            d_value = loss.item()
        for p in self.trained:
            p.requires_grad_(False)
        try:
            with self._autocast():
                logits = self.D(*fake)
            adv = torch.stack([g_loss(self.loss, x.float()) for x in logits]).mean()
        finally:
            for p in self.trained:
                p.requires_grad_(True)
        return adv, d_value

    def state_dict(self) -> dict:
        return {"D": self.D.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.D.load_state_dict(state["D"], strict=True)
        self.opt.load_state_dict(state["opt"])
