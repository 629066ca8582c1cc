"""The one trainer: a hypercolumn generator from a recipe, on this CPU or the lent GPU, alone or under
`torchrun` (DDP: NCCL on GPU, gloo on CPU; every rank draws its own batches, rank 0 alone writes).

With a frozen ImageNet encoder only the decoder learns, and its features come from a memory-mapped
cache (`feature_cache.py`, CPU) or from the encoder per batch (`OnTheFlySource`, with real
augmentation); with encoder `none` (the pix2pix recipes) encoder and decoder learn together from the
photos. Batches are drawn from a generator seeded by (seed, step, rank), so a resumed run continues
exactly. Every few minutes the run folder gets a training state (resume) and the EMA generator; every
`eval_minutes` the held-back slice (2 % of the training photos, never `val/`) is scored for every
decoding the recipe trains, and the best generator by the selection rule is kept as `best.safetensors`.
A run in its folder (stored recipe, resume, the batches' source, signals) is `training_run.train`'s.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..architectures.hypercolumn import HypercolumnConfig, HypercolumnGenerator
from ..checkpoint import DEFAULT_WEIGHTS
from ..color import AB_SCALE
from ..encoders import FrozenEncoder, VGG16Encoder, encoder_filename, load_encoder
from ..errors import ConfigError
from ..pipeline import pick_device
from ..precision import channels_last_on, describe, resolve_precision
from .color_losses import (
    ab_prior,
    chroma_loss,
    class_loss,
    perceptual_loss,
    rebalance_weights,
    regression_loss,
)
from .discriminator import count_parameters
from .distributed import Dist, wrap
from .gan_phase import D_LR, GanPhase
from .generator_file import save_generator
from .held_back import Features, HeldBackScorer, lab_targets, photo_lab, selection_key, targets_of
from .hint_objective import HINT_PATHS, HintObjective
from .projected_discriminator import CRITIC_FILE
from .recipe import Recipe, trained_decodings
from .run_plots import StepLog, plot_run
from .sources import Source
from .warm_start import warm_start


class GeneratorTrainer:
    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        source: Source,
        device: str | None = None,
        log=print,
        dist_info: Dist | None = None,
    ):
        recipe.check()  # a recipe built in code, not loaded, is checked here
        self.recipe, self.source = recipe, source
        self.dist = dist_info or Dist()
        self.log = log if self.dist.main else (lambda *a, **k: None)
        self.run = Path(run_dir)
        self.run.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(device) if device or self.dist.world == 1 else self.dist.device()
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        torch.manual_seed(recipe.seed)  # the same initial weights on every rank
        self.G = HypercolumnGenerator(recipe.generator)
        self.frozen = self.G.encoder.frozen
        self.encoder_path = self.run / encoder_filename(recipe.generator.encoder)
        if self.frozen:
            self._init_encoder()
        if recipe.generator.tune_top:  # from ImageNet; a warm start that holds its own trained block overwrites it
            self.G.start_top()
        self.lineage: list[dict] = []  # the runs behind the warm start (lineage.py)
        if recipe.init:
            self.lineage = warm_start(self.G.trained, recipe.generator, recipe.init, self.frozen, self.log)
        self.G = self.G.to(self.device)
        self.net = self.G.trained  # the decoder, or the whole generator when its encoder learns too
        self.dtype = resolve_precision(recipe.precision, self.device)
        self.channels_last = channels_last_on(self.device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.log(f"precision: {describe(self.dtype, self.device)}")
        if self.frozen and hasattr(source, "attach_encoder"):
            source.attach_encoder(self.G.encoder, self.dtype, recipe.compile)
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.hint_objective = HintObjective(
            recipe, self.net, getattr(self.G, "decoder", None), self.frozen, self.dtype, self.memory_format
        )
        self.ema = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.net_train = wrap(_Heads(self.G), self.dist)  # DDP syncs the gradients of what learns
        self.opt = torch.optim.Adam(self._param_groups(), lr=recipe.lr, betas=recipe.betas)
        self.vgg = self.G.encoder if isinstance(self.G.encoder, VGG16Encoder) else None
        if recipe.perceptual_weight and self.vgg is None:
            raise ConfigError("the perceptual loss compares VGG16 features: it needs generator.encoder=vgg16")
        self.gan = (
            GanPhase(recipe, self.device, self.dist, self.dtype, self.run / CRITIC_FILE)
            if recipe.gan_weight > 0
            else None
        )
        self.step, self.cpu_seconds, self.wall_seconds, self.images_seen = 0, 0.0, 0.0, 0
        self.best: dict = {}
        self.weights: torch.Tensor | None = None
        self._ab_prior: torch.Tensor | None = None
        self._l1_rarity: torch.Tensor | None = None
        self.stop_requested = False
        self._scorer: HeldBackScorer | None = None

    def _param_groups(self) -> list[dict]:
        """The hint paths (new, from zero, beside a trained decoder) learn at `hint_lr_scale` times the rate:
        at the decoder's own rate they stayed near zero for hours. With `only_hints` nothing else learns: the
        stem's first conv keeps its L weights (their gradient is masked) and the automatic colours (no hints)
        stay exactly those of the decoder it started from."""
        hint = [p for n, p in self.net.named_parameters() if n.removeprefix("decoder.").startswith(HINT_PATHS)]
        ids = {id(p) for p in hint}
        rest = [p for p in self.net.parameters() if id(p) not in ids]
        if self.recipe.only_hints:
            if not hint:
                raise ConfigError("only_hints trains the hint paths: give the generator hint_channels=3")
            stem = self.G.decoder.stem[0].weight
            assert isinstance(stem, torch.Tensor)
            for p in rest:
                p.requires_grad_(p is stem)
            keep_l = torch.ones_like(stem)
            keep_l[:, :1] = 0  # the L input's weights stay as they are
            stem.register_hook(lambda g: g * keep_l)
            scale = self.recipe.hint_lr_scale
            return [{"params": [stem, *hint], "lr": self.recipe.lr * scale, "lr_scale": scale}]
        top = {id(p) for n, p in self.net.named_parameters() if n.removeprefix("decoder.").startswith("top.")}
        groups = [{"params": [p for p in rest if id(p) not in top], "lr_scale": 1.0}]
        if top:  # pretrained: fine-tuned at a fraction of the rate of the decoder, which learns it from start
            scale = self.recipe.top_lr_scale
            groups.append(
                {"params": [p for p in rest if id(p) in top], "lr": self.recipe.lr * scale, "lr_scale": scale}
            )
        if hint:
            scale = self.recipe.hint_lr_scale
            groups.append({"params": hint, "lr": self.recipe.lr * scale, "lr_scale": scale})
        return groups

    def _init_encoder(self) -> None:
        """The run keeps its own float16 copy of the encoder; it trains on exactly the weights it ships with.
        That is the shipped file itself where there is one, so an export names the SHA-256 already in
        weights/ (a re-saved copy holds the same tensors but other bytes: another checksum)."""
        shipped = DEFAULT_WEIGHTS.parent / self.encoder_path.name

        def write() -> None:
            if not self.encoder_path.exists() and shipped.is_file():
                shutil.copyfile(shipped, self.encoder_path)
            if not self.encoder_path.exists():
                from .pretrained import write_pretrained

                assert isinstance(self.G.encoder, FrozenEncoder)
                write_pretrained(self.encoder_path, self.G.encoder)

        self.dist.main_first(write)  # the other ranks read the file rank 0 wrote
        self.G.encoder = load_encoder(self.encoder_path, self.recipe.generator.encoder, None)

    # ---- state ----
    @property
    def state_path(self) -> Path:
        return self.run / "state.pt"

    def save_state(self) -> None:
        if not self.dist.main:
            return
        state = {
            "recipe": json.dumps(self.recipe.to_dict()),
            "step": self.step,
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "images_seen": self.images_seen,
            "best": json.dumps(self.best),
            "decoder": self.net.state_dict(),  # (the whole generator when its encoder learns)
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "weights": self.weights if self.weights is not None else torch.zeros(0),
            "gan": self.gan.state_dict() if self.gan else {},
        }
        tmp = self.state_path.with_name("state.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.state_path)
        self.export(self.run / "latest.safetensors", self.recipe.generator)

    def load_state(self) -> None:
        s = torch.load(self.state_path, map_location=self.device, weights_only=True)
        self.net.load_state_dict(s["decoder"], strict=True)
        self.ema.load_state_dict(s["ema"], strict=True)
        self.opt.load_state_dict(s["opt"])
        self.step, self.cpu_seconds = int(s["step"]), float(s["cpu_seconds"])
        self.wall_seconds, self.images_seen = float(s["wall_seconds"]), int(s["images_seen"])
        self.best = json.loads(s["best"])
        self.weights = s["weights"].cpu() if s["weights"].numel() else None
        if self.gan and s.get("gan"):
            self.gan.load_state_dict(s["gan"])

    def export(self, path: Path, cfg: HypercolumnConfig, info: dict | None = None) -> Path:
        """The EMA generator with decoding settings `cfg`, as a generator file (beside the run's encoder file)."""
        g = HypercolumnGenerator(cfg)
        g.trained.load_state_dict(self.ema.state_dict(), strict=True)
        meta = {
            "recipe": self.recipe.to_dict(),
            "step": self.step,
            "cpu_hours": round(self.cpu_seconds / 3600, 3),
            "wall_hours": round(self.wall_seconds / 3600, 4),
            "device": self.device.type,
            "images_seen": self.images_seen,
            "lineage": self.lineage,
            **(info or {}),
        }
        return save_generator(path, g, self.recipe.size, meta, half=True, encoder_path=self.encoder_path)

    # ---- one step ----
    def _prior(self) -> torch.Tensor:
        """The colour prior of the training photos, from a fixed sample (the same on every resume)."""
        if self._ab_prior is None:
            rng = np.random.default_rng([self.recipe.seed, 99])
            abs_ = [lab_targets(self.source.sample_photos(rng, 64), torch.device("cpu"))[1] for _ in range(16)]
            self._ab_prior = ab_prior(torch.cat(abs_), self.recipe.generator)
        return self._ab_prior

    def _class_weights(self) -> torch.Tensor | None:
        if self.recipe.rebalance >= 1.0:
            return None
        if self.weights is None:
            self.weights = rebalance_weights(self._prior(), self.recipe.rebalance)
        return self.weights

    def _l1_weights(self) -> torch.Tensor | None:
        if self.recipe.l1_rebalance >= 1.0:
            return None
        if self._l1_rarity is None:
            self._l1_rarity = rebalance_weights(self._prior(), self.recipe.l1_rebalance)
        return self._l1_rarity

    def lr(self) -> float:
        """The recipe's rate; `linear`: constant for the first half of the budget, then down to 0."""
        if self.recipe.lr_schedule == "linear":
            return self.recipe.lr * min(1.0, max(0.0, 2 * (1 - self.progress())))
        return self.recipe.lr

    def train_step(self) -> dict:
        r = self.recipe
        rng = np.random.default_rng([r.seed, self.step, self.dist.rank] if self.dist.world > 1 else [r.seed, self.step])
        feats, rgb, l_in = self.source.train_batch(rng, r.batch_size)
        lab = photo_lab(rgb, self.device)
        l, ab = targets_of(lab)
        l_in = l if l_in is None else l_in.to(self.device)
        mf = self.memory_format
        hints = None
        if r.generator.hint_channels:  # from the photo's own colour at full size (the sampler's patches)
            hints, ab = self.hint_objective.sample(lab, ab, rng)
            hints = hints.contiguous(memory_format=mf)
        if feats is not None:
            feats = tuple(f.to(self.device, non_blocking=True).contiguous(memory_format=mf) for f in feats)
        lr = self.lr()
        for group in self.opt.param_groups:
            group["lr"] = lr * group["lr_scale"]
        if self.gan is not None:
            for group in self.gan.opt.param_groups:
                group["lr"] = D_LR * lr / r.lr
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            logits, pred = self.net_train(l_in.contiguous(memory_format=mf), feats, hints)
        logits, pred = logits.float(), pred.float()  # losses, softmax and EMA stay in float32
        ce = (  # skipped when unused: its 484-way softmax is a good part of a cached step
            class_loss(logits, F.adaptive_avg_pool2d(ab, logits.shape[-2:]), r.generator, self._class_weights())
            if r.class_weight
            else torch.zeros((), device=self.device)
        )
        l1 = regression_loss(pred, ab, self._l1_weights(), r.generator)
        loss = r.class_weight * ce + r.l1_weight * l1
        terms = {"ce": ce.item(), "l1": l1.item()}
        if r.chroma_weight:
            chroma = chroma_loss(pred, ab)
            loss = loss + r.chroma_weight * chroma
            terms["chroma"] = chroma.item()
        if hints is not None:
            extra, hint_terms = self.hint_objective(pred, ab, hints, feats, l_in)
            loss = loss + extra
            terms.update(hint_terms)
        self.hint_objective.release()
        if r.perceptual_weight:
            assert self.vgg is not None  # checked at start
            perc = perceptual_loss(self.vgg, l, pred, ab)
            loss = loss + r.perceptual_weight * perc
            terms["perceptual"] = perc.item()
        if self.gan is not None and self.progress() >= r.gan_from:
            adv, d = self.gan.losses(l, pred, ab / AB_SCALE, train_d=self.step % self.gan.every == 0)
            if d is not None:
                terms["d"] = d
            loss = loss + r.gan_weight * adv
            terms["adv"] = adv.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        decay = min(r.ema, (1 + self.step) / (10 + self.step))  # warm-up: early EMA would be the random init
        with torch.no_grad():
            for pe, p in zip(self.ema.parameters(), self.net.parameters()):
                pe.lerp_(p, 1 - decay)
        self.step += 1
        self.images_seen += r.batch_size
        return terms

    def progress(self) -> float:
        """How far into its budget the run is, 0..1 (CPU-hours, else wall minutes, else steps)."""
        r = self.recipe
        if r.cpu_hours:
            return self.cpu_seconds / (r.cpu_hours * 3600)
        if r.wall_minutes:
            return self.wall_seconds / (r.wall_minutes * 60)
        return self.step / r.steps

    # ---- held-back selection ----
    @torch.no_grad()
    def evaluate(self) -> list[dict]:
        """Scores every decoding the recipe trains on the held-back slice; keeps the best as best.safetensors."""
        if self._scorer is None:
            feats, real = self.source.held_back(self.recipe.eval_photos)
            self._scorer = HeldBackScorer(self.run, feats, real, self.device)
        if len(self._scorer.real) == 0:
            self.log("  no held-back photos: nothing to select on (best.safetensors not written)")
            return []
        self._scorer.gray_baseline()
        cfgs = trained_decodings(self.recipe)
        ema: Any = self.ema  # the decoder (called with features), or the whole generator (its heads)
        rows = self._scorer.score(lambda f, l: ema(f, l) if f is not None else ema.heads(l), cfgs)
        meta = {"step": self.step, "cpu_hours": round(self.cpu_seconds / 3600, 3), "images_seen": self.images_seen}
        rows = [{**meta, **row} for row in rows]
        for row, cfg in zip(rows, cfgs):
            if not self.best or selection_key(row) < selection_key(self.best):
                self.best = dict(row)
                self.export(self.run / "best.safetensors", cfg, {"selection": row})
        with (self.run / "evals.jsonl").open("a") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        if self.recipe.keep_snapshots:  # flat beside the encoder file, which each one names by relative path
            self.export(self.run / f"snapshot-step-{self.step:07d}.safetensors", cfgs[0])
        return rows

    # ---- loop ----
    def _budget_left(self) -> bool:
        r = self.recipe
        if r.cpu_hours and self.cpu_seconds >= r.cpu_hours * 3600:
            return False
        if r.wall_minutes and self.wall_seconds >= r.wall_minutes * 60:
            return False
        return self.step < r.steps

    def fit(self) -> None:
        r = self.recipe
        encoder = f"encoder {r.generator.encoder} " + (
            f"{count_parameters(self.G.encoder) / 1e6:.1f}M frozen" if self.frozen else "trained with it"
        )
        self.log(
            f"{count_parameters(self.net) / 1e6:.2f}M trained params, {encoder}; {self.source.train_count()} "
            f"training photos; device {self.device}; world size {self.dist.world}; run {self.run}"
        )
        self.net.train()
        last_ckpt = last_eval = time.time()
        steps = StepLog(self.run / "metrics.csv" if self.dist.main else None, self.log, r.batch_size * self.dist.world)
        try:
            while self.dist.agree(self._budget_left() and not self.stop_requested):
                t0, c0 = time.time(), time.process_time()
                row = self.train_step()
                self.wall_seconds += time.time() - t0
                self.cpu_seconds += time.process_time() - c0
                steps.add(row, self.step, self.images_seen, self.cpu_seconds)
                if time.time() - last_ckpt > r.checkpoint_minutes * 60:
                    self.save_state()
                    last_ckpt = time.time()
                if time.time() - last_eval > r.eval_minutes * 60:
                    self._eval_and_log()
                    last_eval = time.time()
        finally:
            steps.close()
            self.save_state()
        self._eval_and_log()
        self.save_state()

    def _eval_and_log(self) -> None:
        if not self.dist.main:
            return
        rows = self.evaluate()
        gray_path = self.run / "held-back-gray.json"
        if rows and gray_path.exists():
            g = json.loads(gray_path.read_text())
            fid = f" FID {g['fid']:.1f}" if "fid" in g else ""
            self.log(f"  held-back [gray baseline]{fid} PSNR {g['psnr']:.2f} ΔE {g['ciede2000']:.2f} CF 0")
        for row in rows:
            t = f" T={row['temperature']}" if row["temperature"] else ""
            fid = f" FID {row['fid']:.1f}" if "fid" in row else ""
            self.log(
                f"  held-back [{row['decode']}{t}]{fid} PSNR {row['psnr']:.2f} ΔE {row['ciede2000']:.2f} "
                f"CF {row['colorfulness']:.1f}/{row['real_colorfulness']:.1f}"
            )
        plot_run(self.run)


class _Heads(torch.nn.Module):
    """The generator's two heads from the input L, given a frozen encoder's features or computing them:
    the one module DDP wraps, so its gradient sync covers exactly what learns."""

    def __init__(self, g: HypercolumnGenerator):
        super().__init__()
        self.g = g

    def forward(
        self, l: torch.Tensor, feats: Features, hints: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.g.heads(l, hints) if feats is None else self.g.decoder(feats, l, hints)
