"""The pix2pix training loop: D step, then G step, explicit and short (after pix2pix's optimize_parameters).

Single process, or DDP under `torchrun` (NCCL on GPU, gloo on CPU): every rank draws its
slice of the same global batch, so ranks stay in lockstep and rank 0 alone writes files.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ..checkpoint import save_generator
from ..color import AB_SCALE, lab_to_rgb_torch, normalize_l, rgb_to_lab_torch
from ..errors import ConfigError, NoImages
from ..networks import PatchDiscriminator, UNetGenerator, count_parameters
from ..progress import Progress
from .config import TrainConfig
from .data import PhotoSet, load_photos, make_batch
from .losses import d_loss, g_loss
from .pretrained import init_pretrained
from .run_folder import RunFolder


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def lr_at(cfg: TrainConfig, step: int) -> float:
    if cfg.optim.schedule == "linear":  # constant, then linear decay to 0 over the second half
        half = cfg.run.steps / 2
        return cfg.optim.lr * min(1.0, max(0.0, (cfg.run.steps - step) / half))
    if cfg.optim.schedule != "none":
        raise ConfigError(f"unknown schedule {cfg.optim.schedule!r} (none, linear)")
    return cfg.optim.lr


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> (B, H, W, 3) uint8."""
    return (rgb.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        run: RunFolder,
        photos: PhotoSet,
        dist_info: Dist | None = None,
        device: str | None = None,
        log=print,
    ):
        self.cfg, self.run, self.photos = cfg, run, photos
        self.dist = dist_info or Dist()
        self.log = log if self.dist.main else (lambda *a, **k: None)
        if device:
            self.device = torch.device(device)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda", self.dist.local_rank)
        else:
            self.device = torch.device("cpu")
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        torch.manual_seed(cfg.run.seed)  # same initial weights on every rank
        self.G = UNetGenerator(cfg.generator)
        init_pretrained(self.G)  # ImageNet encoder, if the config asks for one
        self.G = self.G.to(self.device)
        self.D = PatchDiscriminator(cfg.discriminator).to(self.device)
        cuda = self.device.type == "cuda"
        if cuda:  # channels_last helps tensor cores; on CPU it measured no gain
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        self.amp = cuda and cfg.run.amp and torch.cuda.is_bf16_supported()
        self.ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.optim.ema > 0 else None
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr, betas=betas)
        self.step = 0
        self.stop_requested = False  # set by a signal; honoured between steps
        self.last_d: dict = {}  # D's most recent losses, for the log
        self.elapsed = 0.0  # wall seconds spent in training steps
        self.cpu_seconds = 0.0  # CPU seconds of this process in them: the fair budget under contention
        self.G_train, self.D_train = self.G, self.D
        if self.dist.world > 1:
            ids = [self.device.index] if cuda else None
            self.G_train = DDP(self.G, device_ids=ids)
            self.D_train = DDP(self.D, device_ids=ids)

    # ---- state ----
    def state(self) -> dict:
        return {
            "config": self.cfg.to_json(),
            "step": self.step,
            "elapsed": self.elapsed,
            "cpu_seconds": self.cpu_seconds,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else {},
        }

    def load(self, state: dict) -> None:
        self.G.load_state_dict(state["G"], strict=True)
        self.D.load_state_dict(state["D"], strict=True)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"], strict=True)
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.cpu_seconds = float(state["cpu_seconds"])

    def checkpoint(self) -> None:
        if not self.dist.main:
            return
        self.run.save_state(self.state())
        info = {
            "step": self.step,
            "train_seconds": round(self.elapsed),
            "cpu_seconds": round(self.cpu_seconds),
            "run": self.run.path.name,
            "images_seen": self.step * self.cfg.run.batch_size * self.dist.world,
        }
        save_generator(self.run.generator_path, self.ema or self.G, self.cfg.data.size, info)
        self.run.plot_losses()

    # ---- one step ----
    def train_step(self) -> dict:
        cfg, step = self.cfg, self.step
        torch.manual_seed(cfg.run.seed * 1_000_003 + step * self.dist.world + self.dist.rank)  # dropout
        l_in, l, ab = make_batch(
            self.photos.train, cfg.data, cfg.run.seed, step, cfg.run.batch_size, self.dist.rank, self.dist.world
        )
        x = normalize_l(l_in).to(self.device)  # (B, 1, S, S) G input
        cond = normalize_l(l).to(self.device)  # (B, 1, S, S) clean L for D
        target = (ab.to(self.device) * (cfg.loss.chroma_boost / AB_SCALE)).clamp(-1, 1)  # (B, 2, S, S)
        lr = lr_at(cfg, step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        gan = cfg.loss.gan != "none" and step >= cfg.loss.warmup_steps
        autocast = torch.autocast("cuda", torch.bfloat16) if self.amp else nullcontext()
        row = {"lr": lr}
        with autocast:
            fake = self.G_train(x)
        if gan and step % cfg.optim.d_every == 0:  # D step: one call on [real; fake]
            self.D.requires_grad_(True)
            with autocast:
                logits = self.D_train(torch.cat([cond, cond]), torch.cat([target, fake.detach()])).float()
                real_logits, fake_logits = logits.chunk(2)
                loss_d = d_loss(cfg.loss.gan, real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            self.last_d = dict(d_loss=loss_d.item(), d_real=real_logits.mean().item(), d_fake=fake_logits.mean().item())
        if gan:  # D may not step on a logged step (d_every > 1): report its latest values
            row.update(self.last_d)
        with autocast:  # G step: L1 (+ adversarial through a frozen D)
            l1 = F.l1_loss(fake.float(), target)
            loss_g = cfg.loss.l1_weight * l1
            if gan:
                self.D.requires_grad_(False)
                adv = g_loss(cfg.loss.gan, self.D(cond, fake).float())  # plain D: no DDP sync for G's step
                loss_g = loss_g + cfg.loss.gan_weight * adv
                row["g_adv"] = adv.item()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.ema is not None:
            # Warm-up of the decay: early on, a 0.999 average would be mostly the random initial weights.
            decay = min(cfg.optim.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.G.parameters()):
                    pe.lerp_(p, 1 - decay)
                for be, b in zip(self.ema.buffers(), self.G.buffers()):
                    be.copy_(b)
        row["l1"] = l1.item()
        self.step += 1
        return row

    # ---- samples ----
    @torch.no_grad()
    def sample(self) -> None:
        if not self.dist.main:
            return
        pool = self.photos.val if len(self.photos.val) else self.photos.train
        real = pool[:8]
        rgb = torch.from_numpy(real).permute(0, 3, 1, 2).float().div(255).to(self.device)
        lab = rgb_to_lab_torch(rgb)
        g = self.ema or self.G
        was = g.training
        g.eval()
        ab = g(normalize_l(lab[:, :1])).float() * AB_SCALE
        g.train(was)
        gray = lab_to_rgb_torch(torch.cat([lab[:, :1], torch.zeros_like(ab)], 1))
        fake = lab_to_rgb_torch(torch.cat([lab[:, :1], ab], 1))
        self.run.save_grid(self.step, _to_uint8(gray), _to_uint8(fake), real)

    # ---- loop ----
    def fit(self) -> None:
        cfg = self.cfg
        self.log(
            f"G {count_parameters(self.G) / 1e6:.2f}M params, D {count_parameters(self.D) / 1e6:.2f}M params; "
            f"PatchGAN grid {self.D.patch_grid(cfg.data.size)}×{self.D.patch_grid(cfg.data.size)}, "
            f"receptive field {self.D.receptive_field()} px; device {self.device}"
            f"{', bf16 autocast' if self.amp else ''}; world size {self.dist.world}"
        )
        progress = Progress(cfg.run.steps, self.step) if self.dist.main else None
        self.G.train()
        self.D.train()
        try:
            self._loop(progress)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep every finished step, then stop
            self.checkpoint()
            self.log(f"\ninterrupted: checkpoint saved at step {self.step}; continue with --resume {self.run.path}")
            raise
        finally:
            if progress:
                progress.close()

    def _loop(self, progress: Progress | None) -> None:
        cfg = self.cfg
        budget = cfg.run.max_minutes * 60 if cfg.run.max_minutes > 0 else float("inf")
        last_ckpt = time.time()
        t_log, n_log = time.time(), 0
        while self.step < cfg.run.steps and self.cpu_seconds < budget:
            if self.stop_requested:
                raise KeyboardInterrupt
            t0, c0 = time.time(), time.process_time()
            row = self.train_step()
            self.elapsed += time.time() - t0
            self.cpu_seconds += time.process_time() - c0
            n_log += 1
            s = self.step
            if s % cfg.run.log_every == 0 or s == cfg.run.steps:
                ips = n_log * cfg.run.batch_size * self.dist.world / max(time.time() - t_log, 1e-9)
                t_log, n_log = time.time(), 0
                row.update(
                    step=s,
                    elapsed_s=round(self.elapsed, 2),
                    cpu_s=round(self.cpu_seconds, 2),
                    images_per_s=round(ips, 2),
                )
                if self.dist.main:
                    self.run.append_metrics(row)
                    progress.update(
                        s,
                        f"{ips:.1f} img/s l1={row['l1']:.4f}" + (f" d={row['d_loss']:.3f}" if "d_loss" in row else ""),
                    )
            if s % cfg.run.sample_every == 0:
                self.sample()
            if (
                s % cfg.run.checkpoint_every == 0
                or s == cfg.run.steps
                or self.cpu_seconds >= budget
                or time.time() - last_ckpt > cfg.run.checkpoint_minutes * 60
            ):
                self.checkpoint()
                last_ckpt = time.time()


def _stop_between_steps(trainer: Trainer) -> None:
    """Ctrl-C / `kill`: finish the current step, checkpoint, stop (a second Ctrl-C stops at once)."""

    def request(signum, frame):
        trainer.stop_requested = True
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def train(cfg: TrainConfig, resume: str | None = None, log=print) -> Trainer:
    """Create (or reopen) the run folder, load the photos and train to cfg.run.steps."""
    dist_info = init_distributed()
    state = None
    if resume:
        run = RunFolder(resume)
        state = run.load_state()
    elif dist_info.main:
        run = RunFolder.create(cfg)
    if dist_info.world > 1:  # every rank needs rank 0's run folder path
        box = [str(run.path) if dist_info.main else None]
        dist.broadcast_object_list(box, src=0)
        run = RunFolder(box[0])
    photos = load_photos(cfg.data, log=log if dist_info.main else (lambda *a: None))
    if dist_info.main:
        log(f"run folder {run.path}\n{photos.summary()}")
    if len(photos.train) == 0:
        raise NoImages(f"no usable training photos under {cfg.data.root} ({photos.summary()})")
    trainer = Trainer(cfg, run, photos, dist_info, log=log)
    if threading.current_thread() is threading.main_thread():
        _stop_between_steps(trainer)
    if state is not None:
        trainer.load(state)
        if dist_info.main:
            run.truncate_metrics(trainer.step)
            run.record_resume(trainer.step, cfg)
            log(f"resumed at step {trainer.step}")
    trainer.fit()
    if dist_info.world > 1:  # BatchNorm statistics are per rank after the last step: adopt rank 0's
        for module in (trainer.G, trainer.D) + ((trainer.ema,) if trainer.ema is not None else ()):
            for buf in module.buffers():
                dist.broadcast(buf, src=0)
        dist.barrier()
    return trainer
