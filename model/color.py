"""CIE Lab (D65) conversions: numpy/OpenCV for full-resolution photos, torch for batches.

Convention everywhere: L in [0, 100], a and b in roughly [-110, 110]. The networks see
L/50 - 1 in [-1, 1] and predict ab/AB_SCALE in [-1, 1].
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import torch

AB_SCALE = 110.0  # the networks predict ab / AB_SCALE; the class head's bins cover ±AB_SCALE
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

# sRGB -> XYZ (D65), normalised by the white point so that white maps to (1, 1, 1).
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], dtype=np.float64
)
_WHITE = np.array([0.950456, 1.0, 1.088754])
_RGB_TO_XYZN = (_RGB_TO_XYZ / _WHITE[:, None]).astype(np.float32)
_XYZN_TO_RGB = np.linalg.inv(_RGB_TO_XYZN.astype(np.float64)).astype(np.float32)
_EPS = 216 / 24389  # (6/29)^3
_KAPPA = 24389 / 27


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float array -> float32 in [0, 1] (a view-free copy)."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) * (1 / 255)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) * (1 / 65535)
    return pixels.astype(np.float32, copy=False)


def from_unit_float(unit: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float in [0, 1] -> uint8 / uint16 with rounding and clipping."""
    top = 65535 if np.dtype(dtype) == np.uint16 else 255
    return np.clip(unit * top + 0.5, 0, top).astype(dtype)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB float32 in [0, 1] -> (H, W, 3) Lab float32, via OpenCV (vectorized, SIMD)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def srgb_to_linear(v: ArrayT) -> ArrayT:
    """The sRGB curve undone (IEC 61966-2-1), for numpy arrays and torch tensors alike, values in [0, 1]."""
    where = torch.where if isinstance(v, torch.Tensor) else np.where
    return where(v <= 0.04045, v / 12.92, ((abs(v) + 0.055) / 1.055) ** 2.4)  # abs: no NaN in the unused branch


_LINEAR_LUT_8 = srgb_to_linear(np.arange(256, dtype=np.float64) / 255).astype(np.float32)


def _y_to_l(y: np.ndarray) -> np.ndarray:
    f = np.where(y > _EPS, np.cbrt(y), (_KAPPA * y + 16) / 116)
    return (116 * f - 16).astype(np.float32)


def luminance(pixels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """L* of an (H, W) gray or (H, W, 3) RGB image of any dtype -> (H, W) float32.

    Only L is computed (a third of full Lab); for uint8 the sRGB curve is a table lookup.
    A sepia or yellowed scan keeps only its lightness here, i.e. becomes clean gray.
    `weights`: the linear R, G, B that make Y (summing to 1; default the eye's, sRGB's Y row), e.g. a film's.
    """
    if pixels.dtype == np.uint8:
        lin = _LINEAR_LUT_8[pixels]
    else:
        lin = srgb_to_linear(to_unit_float(pixels)).astype(np.float32)
    if lin.ndim == 2:
        y = lin
    else:
        w = _RGB_TO_XYZN[1] if weights is None else weights
        y = cv2.transform(lin, np.asarray(w, np.float32)[None])
        y = y.reshape(lin.shape[:2])
    return _y_to_l(y)


_GRAY_TO_L8 = cv2.cvtColor(np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2), cv2.COLOR_RGB2Lab)[
    :, 0, 0
].copy()


def lightness(pixels: np.ndarray) -> np.ndarray:
    """The photo's L in its own precision: for uint8 photos OpenCV's 8-bit L (L*·255/100, uint8,
    SIMD and table based, the fast path for big scans); otherwise float32 L* in [0, 100]."""
    if pixels.dtype != np.uint8:
        return luminance(pixels)
    if pixels.ndim == 2:
        gray_l: np.ndarray = cv2.LUT(np.ascontiguousarray(pixels), _GRAY_TO_L8)  # ~10x numpy's fancy index
        return gray_l
    l: np.ndarray = cv2.extractChannel(cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2Lab), 0)
    return l  # contiguous: the callers' SIMD passes (absdiff, merge) read it without a copy


def to_lstar(l: np.ndarray) -> np.ndarray:
    """`lightness` output -> float32 L* in [0, 100]."""
    return l.astype(np.float32) * (100 / 255) if l.dtype == np.uint8 else l


def join_l_ab(l: np.ndarray, ab: np.ndarray, dtype: np.dtype, rounds: int = 6) -> np.ndarray:
    """`lightness` L (H, W) + ab (H, W, 2) -> RGB (H, W, 3) of `dtype`, gamut-mapped to keep L.

    A colour outside sRGB gets clipped, and clipping changes its lightness; where the
    output's L drifts from the input's, the chroma of just those pixels is halved (up to
    `rounds` times, then dropped), so the output's L stays the input's within one level.
    `ab` is consumed (modified in place) to spare a full-size copy. For 8-bit L, `ab` may come already in
    OpenCV's 8-bit encoding (uint8, a + 128: `encode_ab8`), the fast path for big scans.
    """
    eight = l.dtype == np.uint8
    if eight:  # OpenCV interleaves the planes in one SIMD pass (numpy's strided stores were ~50 ms at 12 MP)
        lab = cv2.merge([np.ascontiguousarray(l), np.ascontiguousarray(ab if ab.dtype == np.uint8 else encode_ab8(ab))])
    else:
        lab = np.empty(l.shape + (3,), np.float32)
        lab[..., 0] = l
        lab[..., 1:] = ab
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)  # clips to the gamut
    tol = 1 if eight else 0.4  # float: leave room for the final 16-bit rounding
    flat_lab, flat_rgb = lab.reshape(-1, 3), rgb.reshape(-1, 3)
    if eight:  # SIMD absolute difference of two uint8 planes: no float copy of a 12-MP image
        idx = np.flatnonzero(cv2.absdiff(lightness(rgb), l).ravel() > tol)
    else:
        idx = np.flatnonzero(np.abs(lightness(rgb).astype(np.float32).ravel() - l.ravel()) > tol)
    for r in range(rounds + 1):
        if idx.size == 0:
            break
        sub = flat_lab[idx].astype(np.float32)
        centre = 128 if eight else 0
        sub[:, 1:] = centre + (sub[:, 1:] - centre) * (0.5 if r < rounds else 0.0)
        sub = np.round(sub).astype(np.uint8) if eight else sub
        flat_lab[idx] = sub
        out = cv2.cvtColor(sub[None], cv2.COLOR_Lab2RGB)[0]
        flat_rgb[idx] = out
        still = np.abs(lightness(out[None])[0].astype(np.float32) - l.ravel()[idx]) > tol
        idx = idx[still]
    return rgb if eight else from_unit_float(rgb, dtype)


def encode_ab8(ab: np.ndarray) -> np.ndarray:
    """float ab -> OpenCV's 8-bit a, b encoding (ab + 128, rounded half up, clipped), uint8. Consumes `ab`."""
    np.add(ab, 128.5, out=ab)
    return np.clip(ab, 0, 255, out=ab).astype(np.uint8)


def gray_of(pixels: np.ndarray) -> np.ndarray:
    """The neutral gray RGB image with the photo's L, same dtype (the evaluation baseline)."""
    l = lightness(pixels)
    return join_l_ab(l, np.zeros(l.shape + (2,), np.float32), pixels.dtype)


# ---- torch versions for training batches, (B, 3, H, W) ----


def rgb_to_lab_torch(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> (B, 3, H, W) Lab."""
    lin = srgb_to_linear(rgb)
    m = torch.as_tensor(_RGB_TO_XYZN, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    l = 116 * f[:, 1:2] - 16
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([l, a, b], dim=1)


def lab_to_rgb_torch(lab: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) Lab -> (B, 3, H, W) sRGB clipped to [0, 1]."""
    l, a, b = lab[:, 0:1], lab[:, 1:2], lab[:, 2:3]
    fy = (l + 16) / 116
    f = torch.cat([fy + a / 500, fy, fy - b / 200], dim=1)
    xyz = torch.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA)
    m = torch.as_tensor(_XYZN_TO_RGB, dtype=lab.dtype, device=lab.device)
    lin = torch.einsum("ij,bjhw->bihw", m, xyz).clamp(0, 1)
    rgb = torch.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)
    return rgb.clamp(0, 1)


def normalize_l(l: ArrayT) -> ArrayT:
    """L in [0, 100] -> the networks' input in [-1, 1] (numpy or torch); the one place this scale is written."""
    return l / 50.0 - 1.0


def denormalize_l(x: torch.Tensor) -> torch.Tensor:
    """The networks' input in [-1, 1] -> L in [0, 100]."""
    return (x + 1.0) * 50.0
