"""The `Colorizer`: one object, built once from a checkpoint, shared by the CLI, the server and evaluation.

A call is a pure function of (image, options) and the frozen weights; nothing is stored
per call, so one instance serves many threads. The network sees the luminance at
`render_size`; its ab prediction is brought back to the photo's geometry, upsampled and
joined to the photo's own full-resolution L, so detail and size are the input's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import budget, formats
from .architectures import Generator
from .checkpoint import DEFAULT_WEIGHTS, build_generator, checksum_path, read_generator
from .color import AB_SCALE, encode_ab8, join_l_ab, lightness, normalize_l, to_lstar
from .errors import CheckpointError, WorkTooLarge
from .geometry import make_plan
from .hint_canvas import hint_raster, place_hints
from .hints import Hint, require_hint_input
from .options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_WORK_BYTES, ColorizeOptions
from .photo_io import Photo, Source, encode_photo, load_photo
from .precision import describe, resolve_precision


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Colorized:
    """One colorization: the result's pixels and the format `encode` writes them in."""

    source: Photo  # as decoded; its format is the container read ('JPEG', 'MPO', 'GIF'…)
    photo: Photo  # exactly the source's size, RGB, the source's alpha
    format: formats.ImageFormat  # the requested output format, else the source's own where writable

    def encode(self) -> bytes:
        """The result's file bytes. No EXIF is written: GPS and other metadata never reach a result."""
        return encode_photo(self.photo, self.format.name)


def hint_companion(path: Path) -> Path:
    """Where a generator file's hint model lives, if it has one: `NAME-hints.safetensors` beside `NAME.safetensors`
    (a decoder fine-tuned with hint inputs; the main file keeps the automatic colours)."""
    return path.with_name(f"{path.stem}-hints{path.suffix}")


class Colorizer:
    def __init__(
        self,
        model: Generator,
        render_size: int,
        device: torch.device | str = "cpu",
        info: dict[str, Any] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_work_bytes: int = DEFAULT_MAX_WORK_BYTES,
        precision: str = "auto",
        hint_model: Generator | None = None,
    ):
        self.device = torch.device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.precision = describe(self.dtype, self.device)  # for the log and /healthz
        # Weights are stored as they are; the conversion happens here, once. On a CPU with native bf16 the
        # whole network runs in bf16 channels-last (~3x float32); CUDA keeps float32 weights.
        self.channels_last = self.dtype == torch.bfloat16 and self.device.type == "cpu"
        self.model = model.to(self.device).eval()
        if self.channels_last:
            model.to(torch.bfloat16).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # in place
        for p in self.model.parameters():
            p.requires_grad_(False)
        # The hint model (a companion file, `hint_companion`): colorizations with hints go through it, so the
        # automatic colours stay exactly the main model's. A frozen ImageNet encoder (the same file: checked at
        # load) is shared; a trained one (encoder "none") is each model's own.
        self.hint_model = hint_model
        if hint_model is not None:
            if not getattr(hint_model.cfg, "hint_channels", 0):
                raise CheckpointError("The hint model has no hint input.")
            if self.model.encoder.frozen and hint_model.encoder.frozen:
                hint_model.encoder = self.model.encoder
            hint_model.to(self.device).eval()
            if self.channels_last:
                hint_model.to(torch.bfloat16).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            for p in hint_model.parameters():
                p.requires_grad_(False)
        self.multiple = model.cfg.multiple
        self.default_render_size = render_size
        self.info = dict(info or {})
        self.max_pixels = max_pixels
        self.max_work_bytes = max_work_bytes
        self.footprint = budget.measure(self.model, self.multiple, self.device)  # weights + activations

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str] | None = None,
        device: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_work_bytes: int = DEFAULT_MAX_WORK_BYTES,
        precision: str = "auto",
    ) -> Colorizer:
        """Load a generator file; the checksum beside it (always there for the shipped weights) is verified.
        `precision`: auto (bf16 where the CPU has it natively, else float32) | float32 | bfloat16."""
        path = Path(path) if path else DEFAULT_WEIGHTS
        if not path.exists():
            hint = (
                " The shipped default model has not landed yet: pass --weights PATH." if path == DEFAULT_WEIGHTS else ""
            )
            raise CheckpointError(f"No weights file at {path}.{hint}")
        verify = checksum_path(path).exists() or path.resolve() == DEFAULT_WEIGHTS.resolve()
        gen = read_generator(path, verify=verify)
        companion, hint_model = hint_companion(path), None
        if companion.exists():
            hinted = read_generator(companion, verify=verify)
            if (hinted.render_size, hinted.encoder_sha256) != (gen.render_size, gen.encoder_sha256):
                raise CheckpointError(
                    f"{companion.name} is not a hint model of {path.name}: another encoder or render size."
                )
            hint_model = build_generator(hinted)
        return cls(
            build_generator(gen),
            gen.render_size,
            pick_device(device),
            gen.info,
            max_pixels,
            max_work_bytes,
            precision,
            hint_model,
        )

    def options(
        self,
        render_size: int | None = None,
        policy: str | None = None,
        saturation: float | None = None,
        format: str | None = None,
        hints: str | tuple[Hint, ...] | None = None,
    ) -> ColorizeOptions:
        """Validated options for this model; what is not given takes its default (render size: the model's).
        Hints only for a model with a hint input (InvalidOption naming "hints" otherwise)."""
        opts = ColorizeOptions.make(
            self.default_render_size,
            self.multiple,
            render_size=render_size,
            policy=policy,
            saturation=saturation,
            format=format,
            hints=hints,
        )
        require_hint_input(opts.hints, self.takes_hints)
        return opts

    @property
    def takes_hints(self) -> bool:
        return self.hint_model is not None or bool(getattr(self.model.cfg, "hint_channels", 0))

    def check_work(self, shape: tuple[int, int], opts: ColorizeOptions, deep: bool = False) -> None:
        """WorkTooLarge unless a photo of `shape` (H, W) fits the work budget at these options.
        Called from the image's header, before any pixel is decoded, and again on the decoded photo."""
        h, w = shape
        plan = make_plan(shape, opts.render_size, opts.policy, self.multiple)
        need = budget.estimate(h * w, plan.canvas_pixels, deep, self.footprint)
        if need > self.max_work_bytes:
            raise WorkTooLarge(
                f"Colorizing this {w}×{h} photo at render size {opts.render_size} would need about "
                f"{budget.human(need)} of memory; the limit for one photo is {budget.human(self.max_work_bytes)}. "
                f"Choose a smaller render size or a smaller scan."
            )

    def network_input(self, planes: np.ndarray) -> torch.Tensor:
        """(C, h, w) or (h, w) float array -> a (1, C, h, w) tensor on the device, in the network's number format
        and memory layout."""
        x = torch.from_numpy(np.ascontiguousarray(planes, np.float32))
        x = (x[None, None] if x.ndim == 2 else x[None]).to(self.device)
        if self.channels_last:
            x = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        return x

    @torch.inference_mode()
    def predict_ab(self, l: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """(h, w) L in [0, 100] at a size the U-Net accepts [+ (3, h, w) hint raster] -> (h, w, 2) ab."""
        x = self.network_input(normalize_l(np.asarray(l, np.float32)))
        hx = None if hints is None else self.network_input(hints)
        if hx is None:
            y = self.model(x).float()  # (1, 2, h/2, w/2) in [-1, 1]
        else:
            y = (self.hint_model or self.model)(x, hx).float()
        if y.shape[-2:] != x.shape[-2:]:
            y = torch.nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return (y[0].permute(1, 2, 0) * AB_SCALE).float().cpu().numpy()

    def colorize_photo(self, photo: Photo, opts: ColorizeOptions | None = None) -> Photo:
        opts = opts or self.options()
        self.check_work(photo.pixels.shape[:2], opts, photo.pixels.dtype == np.uint16)
        l_full = lightness(photo.pixels)  # (H, W), uint8 for 8-bit photos
        plan = make_plan(l_full.shape, opts.render_size, opts.policy, self.multiple)
        require_hint_input(opts.hints, self.takes_hints)
        hints = hint_raster(place_hints(opts.hints, plan), plan.canvas) if opts.hints else None
        ab = self.predict_ab(to_lstar(plan.apply(l_full)), hints)  # (h, w, 2) at render size
        if opts.saturation != 1.0:
            ab *= opts.saturation
        if l_full.dtype == np.uint8:  # 8-bit: upsample the chroma already in 8-bit ab (a quarter of the bytes)
            ab = encode_ab8(ab)
        ab_full = plan.invert(ab)  # (H, W, 2): chroma only is upsampled
        rgb = join_l_ab(l_full, ab_full, photo.pixels.dtype)  # consumes ab_full
        return Photo(rgb, photo.alpha, photo.format)

    def colorize(self, source: Source | Photo, opts: ColorizeOptions | None = None) -> Colorized:
        """The engine's one entry point, for the app, `heirloom colorize` and `heirloom evaluate` alike:
        any image (bytes, path, file, PIL image, or an already decoded `Photo`) -> its colorized result."""
        opts = opts or self.options()
        chosen = opts
        photo = (
            source
            if isinstance(source, Photo)
            else load_photo(source, self.max_pixels, check=lambda w, h, deep: self.check_work((h, w), chosen, deep))
        )
        return Colorized(photo, self.colorize_photo(photo, opts), formats.output_format(photo.format, opts.format))

    def __call__(self, source: Source | Photo, opts: ColorizeOptions | None = None) -> Photo:
        """`colorize(source, opts).photo`: the colorized `Photo`, exactly the source's size."""
        return self.colorize(source, opts).photo
