"""Colour-head losses: classification over ab bins with class rebalancing (Zhang et al. 2016), and L1.

Regression alone averages the plausible colours of an object into brown; a distribution over ab
bins keeps them apart, and the annealed mean decides. Rebalancing weighs each pixel by how rare
its colour is, so the loss is not won by predicting gray-brown everywhere: lambda = 1 is no
rebalancing, 0.5 is Zhang's (vivid, sometimes wrong), 0 is full inverse frequency. The perceptual
loss (DeOldify's pre-GAN loss) judges the colorized photo by what an ImageNet network sees in it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..architectures.hypercolumn import HypercolumnConfig
from ..color import AB_SCALE, denormalize_l, lab_to_rgb_torch
from ..encoders import VGG16_TAPS, VGG16Encoder


def grid_coords(ab: torch.Tensor, cfg: HypercolumnConfig) -> torch.Tensor:
    """(B, 2, h, w) ab -> continuous bin coordinates, clamped to the grid's centres."""
    n = cfg.bins_per_axis
    return ((ab + AB_SCALE) / cfg.bin_size - 0.5).clamp(0, n - 1)


def nearest_bin(ab: torch.Tensor, cfg: HypercolumnConfig) -> torch.Tensor:
    """(B, 2, h, w) ab -> (B, h, w) index of the nearest bin."""
    u = grid_coords(ab, cfg).round().long()
    return u[:, 0] * cfg.bins_per_axis + u[:, 1]


def ab_prior(ab_samples: torch.Tensor, cfg: HypercolumnConfig, sigma: float = 5.0) -> torch.Tensor:
    """Empirical distribution of ab over the bins (Gaussian-smoothed by sigma ab units, as Zhang)."""
    n = cfg.bins_per_axis
    counts = torch.bincount(nearest_bin(ab_samples, cfg).reshape(-1), minlength=n * n).float().reshape(n, n)
    s = sigma / cfg.bin_size
    r = max(1, int(np.ceil(3 * s)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1).float() / s) ** 2)
    k = k / k.sum()
    p = F.conv2d(counts[None, None], k[None, None, :, None], padding=(r, 0))
    p = F.conv2d(p, k[None, None, None, :], padding=(0, r))[0, 0]
    p = p * (counts > 0)  # only bins that occur: the in-gamut set (Zhang's 313)
    return (p / p.sum()).reshape(-1)


def rebalance_weights(prior: torch.Tensor, lam: float) -> torch.Tensor:
    """w proportional to 1 / ((1 - lam) p + lam / Q), normalised so that E_p[w] = 1."""
    q = int((prior > 0).sum())
    w = 1.0 / ((1 - lam) * prior + lam / q)
    w = w * (prior > 0)
    return w / (prior * w).sum()


def class_loss(
    logits: torch.Tensor, ab: torch.Tensor, cfg: HypercolumnConfig, weights: torch.Tensor | None
) -> torch.Tensor:
    """Cross-entropy against soft targets: each pixel's ab spread bilinearly over its 4 nearest bins,
    weighted per pixel by the rebalancing weight of its nearest bin."""
    n = cfg.bins_per_axis
    u = grid_coords(ab, cfg)  # (B, 2, h, w)
    lo = u.floor().clamp(max=n - 2)
    frac = u - lo
    lo = lo.long()
    logp = F.log_softmax(logits.float(), dim=1)  # (B, Q, h, w)
    loss = torch.zeros_like(frac[:, 0])
    for da in (0, 1):
        for db in (0, 1):
            idx = (lo[:, 0] + da) * n + (lo[:, 1] + db)  # (B, h, w)
            wa = frac[:, 0] if da else 1 - frac[:, 0]
            wb = frac[:, 1] if db else 1 - frac[:, 1]
            loss = loss - wa * wb * logp.gather(1, idx[:, None])[:, 0]
    if weights is not None:
        loss = loss * weights.to(logits.device)[nearest_bin(ab, cfg)]
    return loss.mean()


def regression_loss(
    pred: torch.Tensor,
    ab: torch.Tensor,
    weights: torch.Tensor | None = None,
    cfg: HypercolumnConfig | None = None,
) -> torch.Tensor:
    """L1 between the regression head (ab / AB_SCALE) and the target ab; with rebalancing `weights` (and the
    grid `cfg` they are over), each pixel weighs by how rare its colour is, as in the class loss: the
    median a plain L1 converges to is pulled from gray-brown towards the rarer, vivid colours."""
    err = (pred.float() - ab / AB_SCALE).abs()
    if weights is None:
        return err.mean()
    assert cfg is not None, "rebalancing weights are over a grid: pass its config"
    return (err * weights.to(pred.device)[nearest_bin(ab, cfg)][:, None]).mean()


def chroma_loss(pred: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L1 between the chroma C*ab (the length of ab, / AB_SCALE) of the regression head and of the target.

    The per-channel L1 is flat across every ab between an object's plausible colours (a red or a blue dress),
    so where the hue is unsure it is content with the gray middle of them; the chroma's own L1 is not: it asks
    for the chroma such objects have, and leaves the hue to the L1. It pulls a surface toward 0 only where the
    decoder can tell it is neutral: where it cannot (a wall white in some photos, painted in others) the median
    chroma is not 0, so it adds tint too (model v7: imagenet_ood CF 15.3 -> 19.6, neutral tint 5.3 -> 7.8)."""
    eps = 1e-6  # keeps the length's gradient finite at ab = 0
    pc = (pred.float().square().sum(1) + eps).sqrt()
    tc = ((ab.float() / AB_SCALE).square().sum(1) + eps).sqrt()
    return (pc - tc).abs().mean()


def weighted_l1(pred: torch.Tensor, want: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |pred - want| over the pixels of a (B, 1, h, w) mask or weight map, every channel (0 where it is empty)."""
    w = weight.to(pred.dtype)
    return ((pred - want).abs() * w).sum() / (pred.shape[1] * w.sum()).clamp(min=1.0)


def near_hints_loss(pred: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor, reach: int = 4) -> torch.Tensor:
    """L1 of the regression head only where a hint is within `reach` pixels of the (half-size) output: the
    signal that teaches a decoder to use its hints; over the whole photo it is a few pixels in thousands."""
    scale = hints.shape[-1] // pred.shape[-1]
    near = F.max_pool2d(hints[:, 2:3].float(), 2 * reach * scale + 1, stride=scale, padding=reach * scale)
    return weighted_l1(pred.float(), ab / AB_SCALE, near)


def spread_loss(mixture: torch.Tensor, trust: torch.Tensor, ab: torch.Tensor, hinted: torch.Tensor) -> torch.Tensor:
    """L1 between the colour hint propagation carries to each cell (ab / AB_SCALE, (B, 2, h, w)) and the cell's
    true mean ab, on the `hinted` photos, each cell weighed by the (detached) trust the decoder is given in it:
    a direct signal for the matching, which otherwise learns only through the decoder. Cells whose colour no
    hint has cannot be right and weigh little where nothing hinted resembles them."""
    target = F.adaptive_avg_pool2d(ab.float(), (mixture.shape[-2], mixture.shape[-1])) / AB_SCALE
    weight = trust.detach().float().clamp(0.0, 1.0) * hinted.float()[:, None, None, None]
    return weighted_l1(mixture.float(), target, weight)


def far_from_hints(ab: torch.Tensor, hints: torch.Tensor, far: float) -> torch.Tensor:
    """(B, 2, h, w) target ab and (B, 3, H, W) hints -> (B, 1, h, w) True where the target colour is farther
    than `far` ab units from every colour hinted on that photo: what no hint speaks for. All False on a photo
    without hints."""
    out = torch.zeros_like(ab[:, :1], dtype=torch.bool)
    for i in range(ab.shape[0]):
        given = hints[i, :2][:, hints[i, 2] > 0]
        if given.shape[1]:
            colours = torch.unique(given.T, dim=0).to(ab.dtype) * AB_SCALE  # (k, 2): one per patch
            d = torch.cdist(ab[i].flatten(1).T, colours).amin(1)
            out[i, 0] = (d > far).view(ab.shape[-2:])
    return out


def untrusted(trust: torch.Tensor, floor: float, size: tuple[int, int]) -> torch.Tensor:
    """The propagation's (B, 1, h, w) trust on its cell grid -> (B, 1, *size) True where it is under `floor`:
    the pixels to which no hint's colour is carried (a photo without hints trusts nothing, so all of them)."""
    return F.interpolate(trust.detach().float(), size=size, mode="bilinear", align_corners=False) < floor


def close_to(pred: torch.Tensor, ab: torch.Tensor, within: float) -> torch.Tensor:
    """(B, 2, h, w) predicted ab / AB_SCALE and target ab in ab units -> (B, 1, h, w) True where the prediction
    is within `within` ab units (Euclidean) of the target."""
    return torch.linalg.vector_norm(pred.float() * AB_SCALE - ab.float(), dim=1, keepdim=True) < within


def colorized_rgb(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Generator input L in [-1, 1] (B, 1, H, W) and ab / AB_SCALE at any scale -> sRGB in [0, 1], differentiable."""
    ab = F.interpolate(ab * AB_SCALE, size=l.shape[-2:], mode="bilinear", align_corners=False)
    return lab_to_rgb_torch(torch.cat([denormalize_l(l), ab], 1))


def _rgb_features(vgg: VGG16Encoder, rgb: torch.Tensor) -> list[torch.Tensor]:
    """(B, 3, H, W) sRGB in [0, 1] -> relu1_2, relu2_2, relu3_3: what the perceptual loss compares."""
    x = (rgb * 2 - 1 - vgg.shift) / vgg.scale
    return vgg.run(x, (VGG16_TAPS["relu1_2"], VGG16_TAPS["relu2_2"], VGG16_TAPS["relu3_3"]))


def perceptual_loss(vgg: VGG16Encoder, l: torch.Tensor, ab: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
    """L1 between VGG16 relu1_2 / relu2_2 / relu3_3 of the colorized photo and of the photo (its L with the
    true ab), each level divided by the photo's mean activation so that every level counts alike."""
    pred = _rgb_features(vgg, colorized_rgb(l, ab))
    with torch.no_grad():
        real = _rgb_features(vgg, colorized_rgb(l, target_ab / AB_SCALE))
    return sum(((p - r).abs().mean() / (r.abs().mean() + 1e-6) for p, r in zip(pred, real)), torch.zeros(()))
