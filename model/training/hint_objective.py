"""What a hint decoder learns from, beside the automatic losses: simulated hints per view, and the terms that
teach using them (near the hints, the propagation's carried colour) and keep them in their place (views
without hints at a frozen teacher's automatic colours; with `hint_hold_far`, the hinted views' pixels that no
hint speaks for). One object per run, built from the recipe; the trainer adds what it returns."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .color_losses import close_to, far_from_hints, near_hints_loss, spread_loss, untrusted, weighted_l1
from .held_back import Features
from .hint_sampling import simulate_hints, wrong_targets
from .metrics import FAR_FROM_HINT
from .recipe import Recipe

HINT_PATHS = ("hints.", "spread.")  # the decoder's hint inputs: new beside a trained decoder, at hint_lr_scale


class HintObjective:
    def __init__(
        self,
        recipe: Recipe,
        net: torch.nn.Module,
        decoder: torch.nn.Module | None,
        frozen: bool,
        dtype: torch.dtype = torch.float32,
        memory_format: torch.memory_format = torch.contiguous_format,
    ):
        """`net`: what learns, as warm-started (the teacher is a frozen copy of it); `decoder`: the module that
        holds the propagation (`spread`), if any; `dtype` and `memory_format`: how the decoder runs."""
        self.recipe, self.memory_format = recipe, memory_format
        self.bf16 = dtype == torch.bfloat16
        self.spread = getattr(decoder, "spread", None)
        self.teacher = self._teacher(net, frozen)

    def _teacher(self, net: torch.nn.Module, frozen: bool) -> torch.nn.Module | None:
        """`hint_distill`: a frozen copy of the warm-started decoder, always run without hints, so it computes
        exactly the init's automatic colours; views without hints are kept near them, so that one
        decoder can serve hinted and automatic requests alike (and, with `hint_hold_far`, the pixels of hinted
        views whose colour no hint gave)."""
        r = self.recipe
        if r.hint_hold_far and not r.hint_distill:
            raise ConfigError("hint_hold_far holds colours at the teacher's: give hint_distill too")
        if r.hint_hold_close and not r.hint_hold_far:
            raise ConfigError("hint_hold_close narrows hint_hold_far's hold: give hint_hold_far too")
        if r.hint_hold_where == "untrusted" and not (r.hint_hold_far and r.generator.propagate_floor):
            raise ConfigError("hint_hold_where 'untrusted' holds what is under propagate_floor: give both")
        if not r.hint_distill:
            return None
        if not (r.init and r.generator.hint_channels and frozen):
            raise ConfigError(
                "hint_distill keeps the init's automatic colours: give init, hint_channels=3, a frozen encoder"
            )
        return copy.deepcopy(net).eval().requires_grad_(False)

    def sample(
        self, lab: torch.Tensor, ab: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-size Lab photos and their (half-size) target ab -> the views' hint canvas, from the photos' own
        colour (the sampler's patches), and the targets, which follow a wrong-colour hint around its spot."""
        r = self.recipe
        hints, wrong = simulate_hints(lab[:, 1:], rng, r.hint_p_none, r.hint_max_points, p_wrong=r.hint_p_wrong)
        if wrong:  # halved as targets_of's are
            ab = F.avg_pool2d(wrong_targets(lab, wrong), 2)
        return hints, ab

    def __call__(
        self,
        pred: torch.Tensor,
        ab: torch.Tensor,
        hints: torch.Tensor,
        feats: Features | None,
        l_in: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """This step's hint terms, weighted and summed, and each one's value for the log."""
        r = self.recipe
        loss = torch.zeros((), device=pred.device)
        terms: dict[str, float] = {}
        hinted = hints[:, 2].flatten(1).amax(1) > 0  # per view: whether it has hints
        if r.hint_focus:
            near = near_hints_loss(pred, ab, hints)
            loss = loss + r.hint_focus * near
            terms["near_hints"] = near.item()
        if r.spread_focus and self.spread is not None and self.spread.mixture is not None:
            mixture, trust = self.spread.mixture
            carried = spread_loss(mixture, trust, ab, hinted)
            loss = loss + r.spread_focus * carried
            terms["spread"] = carried.item()
        if self.teacher is not None and feats is not None:
            alone = ~hinted  # the views without hints: automatic colours
            ask = torch.ones_like(alone) if r.hint_hold_far else alone  # hold_far needs the hinted views' too
            if ask.any():
                l_ask = l_in[ask].contiguous(memory_format=self.memory_format)
                with torch.no_grad(), torch.autocast(pred.device.type, torch.bfloat16, enabled=self.bf16):
                    _, want = self.teacher(tuple(f[ask] for f in feats), l_ask)
                want = want.float()
                if alone.any():
                    distill = (pred[alone] - want[alone[ask]]).abs().mean()
                    loss = loss + r.hint_distill * distill
                    terms["distill"] = distill.item()
                if r.hint_hold_far:  # on hinted views, what no hint speaks for keeps its automatic colour
                    held = self._held(ab, hints, hinted, pred.shape[-2:])
                    if r.hint_hold_close:  # only where the automatic colour is already right
                        held &= close_to(want, ab, r.hint_hold_close)
                    far = weighted_l1(pred, want, held)
                    loss = loss + r.hint_hold_far * far
                    terms["hold_far"] = far.item()
        return loss, terms

    def _held(self, ab: torch.Tensor, hints: torch.Tensor, hinted: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """(B, 1, h, w) the pixels of hinted views that hint_hold_far keeps at the teacher's colours."""
        if self.recipe.hint_hold_where == "far":
            return far_from_hints(ab, hints, FAR_FROM_HINT)
        if self.spread is None or self.spread.mixture is None:  # no hints in the batch: nothing carried
            return torch.zeros_like(ab[:, :1], dtype=torch.bool)
        held = untrusted(self.spread.mixture[1], self.spread.floor, (size[0], size[1]))
        return held & hinted[:, None, None, None]  # views without hints are hint_distill's

    def release(self) -> None:
        """Drop the propagation's stored mixture: it holds this step's graph, never to reach a copy (EMA,
        teacher) or the next step."""
        if self.spread is not None:
            self.spread.mixture = None
