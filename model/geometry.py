"""Aspect policies: how a photo of any shape becomes the network's input, and back.

Each policy makes a `Plan` for an (H, W) photo and a render size. `plan.apply` turns a
full-size array into the network's input; `plan.invert` turns the network's output back
into an array of exactly (H, W): crop the padding, resize, rotate back.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .options import DEFAULT_POLICY, POLICIES


@dataclass(frozen=True)
class Plan:
    """Geometry of one forward/inverse trip. Boxes are (top, left, height, width)."""
    source: tuple[int, int]          # original (H, W)
    rotate: bool                     # turned 90° clockwise (portrait -> landscape) first
    scaled: tuple[int, int]          # size after rotation and resizing
    canvas: tuple[int, int]          # the network's input size
    content: tuple[int, int, int, int]  # where the scaled image sits on the canvas (pad)
    crop: tuple[int, int, int, int] | None  # the part of the scaled image kept (center-crop)
    pad_mode: str                    # "reflect" | "constant"

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(H, W[, C]) -> canvas-sized array, same dtype."""
        x = np.rot90(image, k=-1) if self.rotate else image
        x = _resize(x, self.scaled)
        if self.crop is not None:
            t, l, h, w = self.crop
            return np.ascontiguousarray(x[t:t + h, l:l + w])
        t, l, h, w = self.content
        pads = [(t, self.canvas[0] - t - h), (l, self.canvas[1] - l - w)] + [(0, 0)] * (x.ndim - 2)
        if self.pad_mode == "reflect":
            return np.pad(x, pads, mode="symmetric")   # 'symmetric' handles pads wider than the image
        return np.pad(x, pads, mode="constant")

    def invert(self, output: np.ndarray) -> np.ndarray:
        """Canvas-sized (h, w[, C]) prediction -> (H, W[, C]) aligned with the original photo."""
        if self.crop is not None:
            t, l, h, w = self.crop
            sh, sw = self.scaled
            pads = [(t, sh - t - h), (l, sw - l - w)] + [(0, 0)] * (output.ndim - 2)
            x = np.pad(output, pads, mode="edge")     # cropped-away border takes the nearest prediction
        else:
            t, l, h, w = self.content
            x = output[t:t + h, l:l + w]
        size = (self.source[1], self.source[0]) if self.rotate else self.source
        x = _resize(x, size)
        return np.ascontiguousarray(np.rot90(x, k=1)) if self.rotate else x


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if x.shape[:2] == tuple(size):
        return x
    shrinking = size[0] * size[1] < x.shape[0] * x.shape[1]
    out = cv2.resize(np.ascontiguousarray(x), (size[1], size[0]),
                     interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out.reshape(size + x.shape[2:])   # cv2 drops a trailing channel of 1


def _fit(h: int, w: int, box_h: int, box_w: int) -> tuple[int, int]:
    """Largest size with the ratio of (h, w) inside (box_h, box_w), each side at least 1."""
    s = min(box_h / h, box_w / w)
    return max(1, min(box_h, round(h * s))), max(1, min(box_w, round(w * s)))


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def make_plan(shape: tuple[int, int], size: int, policy: str = DEFAULT_POLICY, multiple: int = 1) -> Plan:
    """Plan for a photo of `shape` (H, W) at render `size`; `multiple` is what the U-Net needs."""
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"an image must be at least 1x1, got {w}x{h}")
    if size < multiple or size % multiple:
        raise ValueError(f"render size must be a positive multiple of {multiple}, got {size}")
    square = (size, size)
    if policy in ("pad-reflect", "pad-black"):
        sh, sw = _fit(h, w, size, size)
        content = ((size - sh) // 2, (size - sw) // 2, sh, sw)
        return Plan((h, w), False, (sh, sw), square, content, None,
                    "reflect" if policy == "pad-reflect" else "constant")
    if policy == "stretch":
        return Plan((h, w), False, square, square, (0, 0, size, size), None, "constant")
    if policy == "rotate-portrait":
        rot = h > w
        rect = (max(multiple, size * 3 // 4 // multiple * multiple), size)   # 4:3 landscape
        return Plan((h, w), rot, rect, rect, (0, 0) + rect, None, "constant")
    if policy == "center-crop":
        s = size / min(h, w)
        sh, sw = max(size, round(h * s)), max(size, round(w * s))
        crop = ((sh - size) // 2, (sw - size) // 2, size, size)
        return Plan((h, w), False, (sh, sw), square, (0, 0, size, size), crop, "constant")
    if policy == "pad-multiple":
        sh, sw = _fit(h, w, size, size)
        canvas = (_round_up(sh, multiple), _round_up(sw, multiple))
        content = ((canvas[0] - sh) // 2, (canvas[1] - sw) // 2, sh, sw)
        return Plan((h, w), False, (sh, sw), canvas, content, None, "reflect")
    raise ValueError(f"unknown aspect policy {policy!r}; choose one of {', '.join(POLICIES)}")
