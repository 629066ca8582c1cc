"""Aspect policies: how a photo of any shape becomes the network's input, and back.

Each policy makes a `Plan` for an (H, W) photo and a render size. `plan.apply` turns a
full-size array into the network's input; `plan.invert` turns the network's output back
into an array of exactly (H, W): crop the padding, resize, rotate back.

Bounded work: no step makes an array larger than the photo itself or the render canvas
(`Plan.peak_pixels`), whatever the aspect ratio. `make_plan` checks this before any pixel is
allocated, so a 5000x1 strip at render size 512 costs what its 5000 pixels cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .options import DEFAULT_POLICY, POLICIES


@dataclass(frozen=True)
class Plan:
    """Geometry of one forward/inverse trip. Boxes are (top, left, height, width)."""

    source: tuple[int, int]  # original (H, W)
    rotate: bool  # turned 90° clockwise (portrait -> landscape) first
    scaled: tuple[int, int]  # size after rotation and resizing
    canvas: tuple[int, int]  # the network's input size
    content: tuple[int, int, int, int]  # where the scaled image sits on the canvas (pad)
    crop: tuple[int, int, int, int] | None  # the part of the source kept, in source pixels (center-crop)
    pad_mode: str  # "reflect" | "constant"

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(H, W[, C]) -> canvas-sized array, same dtype."""
        x = np.rot90(image, k=-1) if self.rotate else image
        if self.crop is not None:  # crop first, then scale: never a scaled copy of the whole strip
            t, l, h, w = self.crop
            return _resize(np.ascontiguousarray(x[t : t + h, l : l + w]), self.scaled)
        x = _resize(x, self.scaled)
        t, l, h, w = self.content
        pads = [(t, self.canvas[0] - t - h), (l, self.canvas[1] - l - w)] + [(0, 0)] * (x.ndim - 2)
        if self.pad_mode == "reflect":
            return np.pad(x, pads, mode="symmetric")  # 'symmetric' handles pads wider than the image
        return np.pad(x, pads, mode="constant")

    def invert(self, output: np.ndarray) -> np.ndarray:
        """Canvas-sized (h, w[, C]) prediction -> (H, W[, C]) aligned with the original photo."""
        if self.crop is not None:
            t, l, h, w = self.crop
            sh, sw = self.source
            pads = [(t, sh - t - h), (l, sw - l - w)] + [(0, 0)] * (output.ndim - 2)
            return np.pad(_resize(output, (h, w)), pads, mode="edge")  # the border takes the nearest prediction
        t, l, h, w = self.content
        x = output[t : t + h, l : l + w]
        size = (self.source[1], self.source[0]) if self.rotate else self.source
        x = _resize(x, size)
        return np.ascontiguousarray(np.rot90(x, k=1)) if self.rotate else x

    def to_canvas(self, row: float, col: float) -> tuple[float, float, float] | None:
        """A point of the source, in pixels from its top left -> (row, col) on the canvas and the canvas
        pixels per source pixel there; None where the point is not on the canvas (cut off by a crop)."""
        h, w = self.source
        if self.rotate:  # np.rot90(k=-1): (r, c) of an H x W image -> (c, H - r) of the W x H one
            row, col, h, w = col, h - row, w, h
        if self.crop is not None:
            t, l, ch, cw = self.crop
            row, col, h, w = row - t, col - l, ch, cw
            if not (0 <= row <= h and 0 <= col <= w):
                return None
        t, l, sh, sw = self.content
        sy, sx = sh / h, sw / w
        return t + row * sy, l + col * sx, (sy + sx) / 2

    @property
    def peak_pixels(self) -> int:
        """The largest array (in pixels, per channel) `apply` or `invert` makes: the source or the canvas."""
        return max(self.source[0] * self.source[1], self.scaled[0] * self.scaled[1], self.canvas[0] * self.canvas[1])

    @property
    def canvas_pixels(self) -> int:
        return self.canvas[0] * self.canvas[1]


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if x.shape[:2] == tuple(size):
        return x
    shrinking = size[0] * size[1] < x.shape[0] * x.shape[1]
    out = cv2.resize(
        np.ascontiguousarray(x), (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    return out.reshape(size + x.shape[2:])  # cv2 drops a trailing channel of 1


def _fit(h: int, w: int, box_h: int, box_w: int) -> tuple[int, int]:
    """Largest size with the ratio of (h, w) inside (box_h, box_w), each side at least 1."""
    s = min(box_h / h, box_w / w)
    return max(1, min(box_h, round(h * s))), max(1, min(box_w, round(w * s)))


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _checked(plan: Plan, size: int, multiple: int) -> Plan:
    """The shape check behind the work budget: nothing between the photo and the network may be
    larger than the render canvas (at most `size` + one `multiple` a side)."""
    bound = (size + multiple) ** 2
    if plan.scaled[0] * plan.scaled[1] > bound or plan.canvas_pixels > bound:
        raise ValueError(f"plan for {plan.source} at {size} would make a {plan.scaled} array")  # a bug, not input
    return plan


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
        return _checked(
            Plan((h, w), False, (sh, sw), square, content, None, "reflect" if policy == "pad-reflect" else "constant"),
            size,
            multiple,
        )
    if policy == "stretch":
        return _checked(Plan((h, w), False, square, square, (0, 0, size, size), None, "constant"), size, multiple)
    if policy == "rotate-portrait":
        rot = h > w
        rect = (max(multiple, size * 3 // 4 // multiple * multiple), size)  # 4:3 landscape
        return _checked(Plan((h, w), rot, rect, rect, (0, 0) + rect, None, "constant"), size, multiple)
    if policy == "center-crop":
        side = min(h, w)  # the largest centred square of the source, scaled to the canvas
        crop = ((h - side) // 2, (w - side) // 2, side, side)
        return _checked(Plan((h, w), False, square, square, (0, 0, size, size), crop, "constant"), size, multiple)
    if policy == "pad-multiple":
        sh, sw = _fit(h, w, size, size)
        canvas = (_round_up(sh, multiple), _round_up(sw, multiple))
        content = ((canvas[0] - sh) // 2, (canvas[1] - sw) // 2, sh, sw)
        return _checked(Plan((h, w), False, (sh, sw), canvas, content, None, "reflect"), size, multiple)
    raise ValueError(f"unknown aspect policy {policy!r}; choose one of {', '.join(POLICIES)}")
