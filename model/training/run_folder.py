"""A training run's folder (after StyleGAN2-ADA): resolved config, metrics CSV, loss plots,
sample grids and checkpoints, all in one numbered directory.

    runs/00003-cpu-small/
      config.json           resolved TrainConfig
      metrics.csv           one row per logged step
      adv_loss.png          adversarial losses of D and G
      l1_loss.png           L1 loss of G
      samples/step-000200.png   gray | generated | real
      checkpoints/last.pt   full training state (resume)
      checkpoints/generator.safetensors   the generator for inference (EMA weights if enabled)
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import CheckpointError
from ..photo_io import write_atomic
from .config import TrainConfig

STATE_FORMAT = "heirloom.train-state"
METRIC_FIELDS = ["step", "elapsed_s", "cpu_s", "images_per_s", "lr", "l1", "g_adv", "d_loss", "d_real", "d_fake"]


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"

    @classmethod
    def create(cls, cfg: TrainConfig) -> RunFolder:
        out = Path(cfg.run.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in out.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
        run = cls(out / f"{max(numbers, default=-1) + 1:05d}-{cfg.run.name}")
        run.samples.mkdir(parents=True)
        run.checkpoints.mkdir()
        write_atomic(run.path / "config.json", cfg.to_json().encode())
        return run

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def state_path(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def generator_path(self) -> Path:
        return self.checkpoints / "generator.safetensors"

    def record_resume(self, step: int, cfg: TrainConfig) -> None:
        """config.json holds the latest config; this keeps what each resume changed it to, and when."""
        line = json.dumps({"resumed_at_step": step, "config": cfg.to_dict()})
        with (self.path / "resumes.jsonl").open("a") as f:
            f.write(line + "\n")

    # ---- metrics ----
    def read_metrics(self) -> list[dict]:
        p = self.path / "metrics.csv"
        if not p.exists():
            return []
        with p.open() as f:
            return [
                {k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(f)
            ]

    def append_metrics(self, row: dict) -> None:
        p = self.path / "metrics.csv"
        new = not p.exists()
        with p.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in METRIC_FIELDS})

    def truncate_metrics(self, after_step: int) -> None:
        """On resume, drop rows logged after the checkpoint: they will be logged again."""
        rows = [r for r in self.read_metrics() if r["step"] <= after_step]
        p = self.path / "metrics.csv"
        if p.exists():
            p.unlink()
        for r in rows:
            self.append_metrics({k: (int(v) if k == "step" else "" if v != v else v) for k, v in r.items()})

    def plot_losses(self) -> None:
        rows = self.read_metrics()
        if not rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = np.array([r["step"] for r in rows])
        for name, keys, title in [
            ("adv_loss.png", ["d_loss", "g_adv"], "Adversarial loss (D and G)"),
            ("l1_loss.png", ["l1"], "L1 loss of G (ab / 110)"),
        ]:
            fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
            for k in keys:
                v = np.array([r[k] for r in rows])
                ax.plot(steps[np.isfinite(v)], v[np.isfinite(v)], label=k, linewidth=1)
            ax.set_xlabel("step")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(self.path / name)
            plt.close(fig)

    # ---- samples ----
    def save_grid(self, step: int, gray: np.ndarray, fake: np.ndarray, real: np.ndarray) -> Path:
        """Arrays (B, H, W, 3) uint8 -> one PNG with a row per photo: gray | generated | real."""
        rows = [np.concatenate([g, f, r], axis=1) for g, f, r in zip(gray, fake, real)]
        path = self.samples / f"step-{step:06d}.png"
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)
        return path

    # ---- training state ----
    def save_state(self, state: dict) -> None:
        state = {"format": STATE_FORMAT, "version": 1, **state}
        tmp = self.state_path.with_name("last.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.state_path)

    def load_state(self, map_location="cpu") -> dict:
        if not self.state_path.exists():
            raise CheckpointError(f"{self.path} has no checkpoint to resume ({self.state_path} missing)")
        state = torch.load(self.state_path, map_location=map_location, weights_only=True)
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{self.state_path} is not a Heirloom training state")
        return state
