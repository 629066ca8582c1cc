"""The work budget of one colorization: the memory it will need, decided before any pixel is allocated.

A request costs (1) the full-resolution arrays around the network (decoded pixels, L, the upsampled
ab, the RGB result, its encoding), in proportion to the photo's pixels; (2) the network's activations,
in proportion to the render canvas; (3) the loaded weights. (1) was measured on 12-megapixel scans;
(2) and (3) are measured on the loaded model itself (`measure`), so a larger network (a VGG16
encoder) at a large render size is refused where the small U-Net was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only to measure a loaded model: the web side estimates without it
    import torch

# Peak bytes per photo pixel around the network, measured (ru_maxrss) on 3000x4000 scans: 24 (8-bit gray),
# 29 (8-bit RGB JPEG), 82 (16-bit RGB), 90 (16-bit RGBA); with a margin for thumbnails and the upload.
FULL_RES_BYTES = {False: 40, True: 112}  # keyed by "16 bits per channel"
CANVAS_BYTES = 64  # per canvas pixel outside the network: L, L*, ab, its interpolation, the inverse's copies


@dataclass(frozen=True)
class ModelFootprint:
    """What the loaded network needs: its weights, plus activations `fixed + per_pixel * canvas pixels`."""

    weights: int
    fixed: int
    per_pixel: float

    def at(self, canvas_pixels: int) -> int:
        return self.weights + self.fixed + int(self.per_pixel * canvas_pixels)


def _leaf_output_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The bytes of every layer's output in one forward pass (an upper bound on what is alive at once)."""
    import torch

    total = [x.nbytes]

    def count(_m: torch.nn.Module, _inp: object, out: object) -> None:
        outs = out if isinstance(out, (tuple, list)) else (out,)
        total[0] += sum(t.nbytes for t in outs if isinstance(t, torch.Tensor))

    hooks = [m.register_forward_hook(count) for m in model.modules() if not any(True for _ in m.children())]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def measure(model: torch.nn.Module, multiple: int, device: torch.device) -> ModelFootprint:
    """Run the network on two small canvases and fit its activations as fixed + per pixel."""
    import torch

    weights = sum(t.nbytes for t in model.parameters()) + sum(t.nbytes for t in model.buffers())
    s1 = max(multiple, -(-64 // multiple) * multiple)
    s2 = 2 * s1
    dtype = next(model.parameters()).dtype  # bf16 where the Colorizer converted the network
    b1, b2 = (_leaf_output_bytes(model, torch.zeros(1, 1, s, s, device=device, dtype=dtype)) for s in (s1, s2))
    per_pixel = max(0.0, (b2 - b1) / (s2 * s2 - s1 * s1))
    return ModelFootprint(weights, max(0, int(b1 - per_pixel * s1 * s1)), per_pixel)


def estimate(source_pixels: int, canvas_pixels: int, deep: bool, model: ModelFootprint) -> int:
    """Peak bytes of one colorization of a photo of `source_pixels` on a canvas of `canvas_pixels`."""
    return FULL_RES_BYTES[deep] * source_pixels + CANVAS_BYTES * canvas_pixels + model.at(canvas_pixels)


def human(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
