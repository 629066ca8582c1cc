"""What a web process needs of the model to validate options and describe itself, without loading it
(no torch): the engine processes report it when they are ready, queue workers publish it in Redis."""

from __future__ import annotations

from dataclasses import dataclass

from .options import ColorizeOptions


@dataclass(frozen=True)
class ModelProfile:
    render_size: int
    multiple: int
    device: str = "cpu"
    model_name: str = ""  # the weights file's name and SHA-256, recorded with each version it makes
    model_sha256: str = ""
    precision: str = ""  # what the network runs in, and why ("bfloat16 channels-last (CPU has amx_bf16)")

    def options(
        self,
        render_size: int | None = None,
        policy: str | None = None,
        saturation: float | None = None,
        format: str | None = None,
    ) -> ColorizeOptions:
        """Validated options for this model; what is not given takes its default (as `Colorizer.options`)."""
        return ColorizeOptions.make(
            self.render_size,
            self.multiple,
            render_size=render_size,
            policy=policy,
            saturation=saturation,
            format=format,
        )
