"""The `Colorizer`: one object, built once from a checkpoint, shared by the CLI, the server and evaluation.

A call is a pure function of (image, options) and the frozen weights; nothing is stored
per call, so one instance serves many threads. The network sees the luminance at
`render_size`; its ab prediction is brought back to the photo's geometry, upsampled and
joined to the photo's own full-resolution L, so detail and size are the input's.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_WEIGHTS, Generator, build_generator, checksum_path, read_generator
from .color import AB_SCALE, join_l_ab, lightness, to_lstar
from .errors import CheckpointError, InvalidOption
from .geometry import DEFAULT_POLICY, POLICIES, make_plan
from .photo_io import DEFAULT_MAX_PIXELS, Photo, Source, load_photo

MAX_RENDER_SIZE = 2048
MAX_SATURATION = 4.0


def default_weights_path() -> Path:
    return Path(os.environ.get("HEIRLOOM_WEIGHTS") or DEFAULT_WEIGHTS)


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Colorizer:
    def __init__(self, model: Generator, render_size: int, device: torch.device | str = "cpu",
                 info: dict | None = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.multiple = model.cfg.multiple
        self.default_render_size = render_size
        self.info = dict(info or {})
        self.max_pixels = max_pixels

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, device: str | None = None,
                        max_pixels: int = DEFAULT_MAX_PIXELS) -> "Colorizer":
        """Load a generator file; the checksum beside it (always there for the shipped weights) is verified."""
        path = Path(path) if path else default_weights_path()
        if not path.exists():
            hint = (" The shipped default model has not landed yet: pass --weights PATH."
                    if path == DEFAULT_WEIGHTS else "")
            raise CheckpointError(f"No weights file at {path}.{hint}")
        verify = checksum_path(path).exists() or path.resolve() == DEFAULT_WEIGHTS.resolve()
        gen = read_generator(path, verify=verify)
        return cls(build_generator(gen), gen.render_size, pick_device(device), gen.info, max_pixels)

    def check_options(self, render_size: int | None, policy: str, saturation: float) -> int:
        size = self.default_render_size if render_size is None else int(render_size)
        if size < self.multiple or size > MAX_RENDER_SIZE or size % self.multiple:
            raise InvalidOption("render_size", f"render_size must be a multiple of {self.multiple} "
                                               f"between {self.multiple} and {MAX_RENDER_SIZE}, got {size}.")
        if policy not in POLICIES:
            raise InvalidOption("policy", f"policy must be one of {', '.join(POLICIES)}, got {policy!r}.")
        if not (0.0 <= float(saturation) <= MAX_SATURATION):
            raise InvalidOption("saturation", f"saturation must be between 0 and {MAX_SATURATION}, got {saturation}.")
        return size

    @torch.inference_mode()
    def predict_ab(self, l: np.ndarray) -> np.ndarray:
        """(h, w) L in [0, 100] at a size the U-Net accepts -> (h, w, 2) ab."""
        x = torch.from_numpy(np.ascontiguousarray(l, np.float32))[None, None].to(self.device)
        y = self.model(x / 50.0 - 1.0)   # (1, 2, h', w') in [-1, 1]; h' = h/2 for a hypercolumn generator
        if y.shape[-2:] != x.shape[-2:]:
            y = torch.nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return (y[0].permute(1, 2, 0) * AB_SCALE).float().cpu().numpy()

    def colorize_photo(self, photo: Photo, render_size: int | None = None,
                       policy: str = DEFAULT_POLICY, saturation: float = 1.0) -> Photo:
        size = self.check_options(render_size, policy, saturation)
        l_full = lightness(photo.pixels)                          # (H, W), uint8 for 8-bit photos
        plan = make_plan(l_full.shape, size, policy, self.multiple)
        ab = self.predict_ab(to_lstar(plan.apply(l_full)))        # (h, w, 2) at render size
        if saturation != 1.0:
            ab *= float(saturation)
        ab_full = plan.invert(ab)                                 # (H, W, 2): chroma only is upsampled
        rgb = join_l_ab(l_full, ab_full, photo.pixels.dtype)      # consumes ab_full
        return Photo(rgb, photo.alpha, photo.format)

    def __call__(self, image: Source, render_size: int | None = None,
                 policy: str = DEFAULT_POLICY, saturation: float = 1.0) -> Photo:
        """Any image (path, bytes, file, PIL image) -> colorized `Photo` of exactly its size."""
        self.check_options(render_size, policy, saturation)   # reject bad options before decoding
        return self.colorize_photo(load_photo(image, self.max_pixels), render_size, policy, saturation)
