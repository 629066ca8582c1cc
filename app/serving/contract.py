"""What the web side and the colorizing side say to each other, in one place: the options as a user asked
for them (`Request`), a job for a worker process and its `Outcome`, a queued job's `JobResult`, the
model's identity (`ModelId`, defined with the album's versions that record it) and what a web process
needs to know of a model it never loads (`ModelProfile`). Plain dataclasses: no torch, no web framework,
no Redis."""

from __future__ import annotations

from dataclasses import dataclass

from model import budget, formats
from model.hints import require_hint_input
from model.options import MAX_RENDER_SIZE, ColorizeOptions

from ..album.versions import ModelId as ModelId  # re-exported: the contract names it


@dataclass(frozen=True)
class ModelProfile:
    """What a web process needs of the model to validate options and describe itself, without loading it:
    the engine processes report it when they are ready, queue workers publish it in Redis."""

    render_size: int
    multiple: int
    device: str = "cpu"
    model_name: str = ""  # the weights file's name and SHA-256, recorded with each version it makes
    model_sha256: str = ""
    precision: str = ""  # what the network runs in, and why ("bfloat16 channels-last (CPU has amx_bf16)")
    hints: bool = False  # whether the model takes colour hints (a hint input)
    footprint: tuple[int, int, float] = (0, 0, 0.0)  # the loaded network's (model.budget.ModelFootprint); 0: unknown
    max_work_bytes: int = 0  # the engine's budget for one photo; 0: unknown (the engine still checks)

    @property
    def model_id(self) -> ModelId:
        return ModelId(self.model_name, self.model_sha256)

    def options(
        self,
        render_size: int | None = None,
        policy: str | None = None,
        saturation: float | None = None,
        format: str | None = None,
        hints: str | None = None,
    ) -> ColorizeOptions:
        """Validated options for this model; what is not given takes its default (as `Colorizer.options`)."""
        opts = ColorizeOptions.make(
            self.render_size,
            self.multiple,
            render_size=render_size,
            policy=policy,
            saturation=saturation,
            format=format,
            hints=hints,
        )
        require_hint_input(opts.hints, self.hints)
        return opts

    def render_sizes_that_fit(self, width: int, height: int, deep: bool = False) -> list[int]:
        """The detail levels (half, once, twice, 4x, 8x the model's render size) a photo of this size can be
        colorized at within the engine's work budget: what the forms offer, so no choice fails later."""
        base, m = self.render_size, self.multiple
        levels = (base // 2, base, 2 * base, 4 * base, 8 * base)
        sizes = sorted({s for s in levels if m <= s <= MAX_RENDER_SIZE and not s % m})
        if not self.max_work_bytes:
            return sizes
        fp = budget.ModelFootprint(*self.footprint)
        fit = [s for s in sizes if budget.estimate(width * height, (s + m) ** 2, deep, fp) <= self.max_work_bytes]
        return fit or sizes[:1]

    def resolve(self, request: Request) -> ColorizeOptions:
        """A job's options, as asked, for this model."""
        return self.options(request.render_size, request.policy, request.saturation, request.format, request.hints)


@dataclass(frozen=True)
class Request:
    """The options as the user gave them; the worker validates them against its model (None: its default)."""

    render_size: int | None = None
    policy: str | None = None
    saturation: float | None = None
    format: str | None = None
    hints: str | None = None  # colour hints, their JSON as given (model/hints.py)


@dataclass(frozen=True)
class JobResult:
    format: str  # the result's format ('JPEG')
    source_format: str  # the upload's container
    width: int
    height: int
    render_size: int  # the options it was made with, resolved by the worker's model
    policy: str
    saturation: float
    model_name: str = ""  # the worker's weights (file name and SHA-256): the album records them per version
    model_sha256: str = ""
    hints: str = ""  # the hints it was made with, their JSON ("" = none)
    previews: tuple[str, ...] = ()  # the preview names made with it (files preview-<name>.jpg in the job's folder)

    @property
    def file(self) -> str:  # inside the job's folder
        return f"result.{formats.extension(self.format)}"

    @property
    def thumb_file(self) -> str:
        return f"thumb{formats.THUMBNAIL.extension}"

    @staticmethod
    def preview_file(name: str) -> str:
        if not name.replace("-", "").isalnum():
            raise ValueError(f"not a preview name: {name!r}")  # names come from our own worker; still, no paths
        return f"preview-{name}.jpg"


@dataclass(frozen=True)
class Job:
    data: bytes  # the upload, exactly as received
    options: ColorizeOptions
    thumbnail: bool = True
    max_side: int = 0  # a preview: the photo is first shrunk to this long side (0 = full size)
    suggest_at: tuple[float, float] | None = None  # (x, y): the model's plausible colours there, not a result


@dataclass(frozen=True)
class Outcome:
    data: bytes  # the encoded result
    format: str  # its format's name ('JPEG')
    source_format: str  # the upload's container ('MPO', 'GIF'…)
    width: int
    height: int
    thumb: bytes  # a small JPEG, or b"" when the job asked for none
    colors: tuple[str, ...] = ()  # a suggest_at job's answer ("#rrggbb", most likely first)
    previews: tuple[tuple[str, bytes], ...] = ()  # browser-viewable JPEGs: ("original-960", …), ("result-1920", …)
