"""A run folder's training log (`StepLog`: metrics.csv rows and log lines) and its plots: loss.png
(training losses against photos seen: the colour heads, and G and D where there is a GAN) and selection.png
(held-back FID and colourfulness per decoding, with the gray baseline and the photos' own)."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def plot_run(run: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if rows:
        # The colour losses, and the adversarial ones (G's and D's) where the recipe has a GAN.
        panels = [("ce",), ("l1",)] + ([("adv", "d")] if any(r.get("adv") for r in rows) else [])
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5))
        seen = [int(r["images_seen"]) for r in rows]
        for ax, keys in zip(axes, panels):
            for k in keys:
                x = [n for n, r in zip(seen, rows) if r.get(k)]
                ax.plot(x, [float(r[k]) for r in rows if r.get(k)], lw=0.8, label=k)
            ax.set_xlabel("photos seen")
            ax.set_title("training " + " / ".join(keys))
            if len(keys) > 1:
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(run / "loss.png", dpi=90)
        plt.close(fig)
    path = run / "evals.jsonl"
    if path.exists():
        evals = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for name in sorted({(e["decode"], e["temperature"]) for e in evals}, key=str):
            sel = [e for e in evals if (e["decode"], e["temperature"]) == name]
            label = name[0] if name[0] == "regression" else f"classes T={name[1]}"
            x = [e["images_seen"] for e in sel]
            if "fid" in sel[0]:
                axes[0].plot(x, [e.get("fid", np.nan) for e in sel], marker="o", label=label)
            axes[1].plot(x, [e["colorfulness"] for e in sel], marker="o", label=label)
        axes[1].axhline(evals[-1]["real_colorfulness"], color="k", ls="--", lw=0.8, label="photos")
        gray_path = run / "held-back-gray.json"
        if gray_path.exists() and "fid" in json.loads(gray_path.read_text()):
            axes[0].axhline(json.loads(gray_path.read_text())["fid"], color="gray", ls="--", lw=0.8, label="gray")
        axes[0].set_title("held-back FID (lower is better)")
        axes[1].set_title("held-back colourfulness")
        for ax in axes:
            ax.set_xlabel("photos seen")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(run / "selection.png", dpi=90)
        plt.close(fig)


LOG_EVERY = 50  # steps per metrics row and log line


class StepLog:
    """Each step's loss terms summed; every LOG_EVERY steps their means as a metrics.csv row (`path`, None on the
    ranks that do not write) and a log line, with the photos per second (`batch`: a step's, every rank's)."""

    def __init__(self, path: Path | None, log: Callable[[str], Any], batch: int):
        self.metrics = MetricsLog(path) if path else None
        self.log, self.batch = log, batch
        self._restart()

    def _restart(self) -> None:
        self.t, self.n, self.sums = time.time(), 0, {"ce": 0.0, "l1": 0.0}

    def add(self, terms: dict[str, float], step: int, images_seen: int, cpu_seconds: float) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1
        if self.n < LOG_EVERY:
            return
        ips = self.n * self.batch / (time.time() - self.t)
        means = {k: v / self.n for k, v in self.sums.items()}
        if self.metrics:
            self.metrics.write(
                step=step,
                images_seen=images_seen,
                cpu_hours=round(cpu_seconds / 3600, 4),
                images_per_s=round(ips, 1),
                **{k: round(v, 5) for k, v in means.items()},
            )
        extra = "".join(f" {k} {v:.3f}" for k, v in means.items() if k not in ("ce", "l1"))
        self.log(
            f"step {step} seen {images_seen} cpu {cpu_seconds / 3600:.2f} h "
            f"ce {means['ce']:.3f} l1 {means['l1']:.4f}{extra} {ips:.1f} img/s"
        )
        self._restart()

    def close(self) -> None:
        if self.metrics:
            self.metrics.close()


class MetricsLog:
    """metrics.csv, one row per LOG_EVERY steps; a resumed run keeps the columns its file started with."""

    COLUMNS = ["step", "images_seen", "cpu_hours", "ce", "l1", "adv", "d", "perceptual", "images_per_s"]

    def __init__(self, path: Path):
        old = path.read_text().splitlines()[:1] if path.exists() else []
        self.columns = old[0].split(",") if old and old[0] else self.COLUMNS
        self.fh = path.open("a", newline="")
        self.writer = csv.DictWriter(self.fh, self.columns, extrasaction="ignore")
        if not old:
            self.writer.writeheader()

    def write(self, **row: Any) -> None:
        self.writer.writerow(row)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
