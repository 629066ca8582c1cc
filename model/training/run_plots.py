"""A run folder's plots: loss.png (training losses against photos seen) and selection.png
(held-back FID and colourfulness per decoding, with the gray baseline and the photos' own)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def plot_run(run: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if rows:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        seen = [int(r["images_seen"]) for r in rows]
        for ax, k in zip(axes, ("ce", "l1")):
            ax.plot(seen, [float(r[k]) for r in rows], lw=0.8)
            ax.set_xlabel("photos seen")
            ax.set_title(f"training {k}")
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
