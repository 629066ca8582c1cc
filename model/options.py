"""The options of one colorization, made and validated once, and the defaults and limits they obey.

Imports nothing heavy, so the CLI can list the policies in `--help` without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import formats
from .errors import InvalidOption
from .hints import Hint, parse_hints

POLICIES = ("pad-reflect", "pad-black", "stretch", "rotate-portrait", "center-crop", "pad-multiple")
DEFAULT_POLICY = "pad-reflect"
# The number format the network runs in (model/precision.py): auto = bf16 where the CPU has it natively.
PRECISIONS = ("auto", "float32", "bfloat16")
MAX_RENDER_SIZE = 2048
MAX_SATURATION = 2.0  # the web slider's range too: one range everywhere
DEFAULT_MAX_PIXELS = 100_000_000  # the largest image decoded; decompression bombs stop here
DEFAULT_MAX_WORK_BYTES = 6 * 2**30  # peak memory of one colorization, weights included (see model/budget.py)


@dataclass(frozen=True)
class ColorizeOptions:
    """Render size, aspect policy, saturation and output format; valid by construction.

    Make one with `Colorizer.options(...)`, which fills in the model's render size and checks it
    against what the model's U-Net needs (`multiple`).
    """

    render_size: int  # the size the network sees
    policy: str = DEFAULT_POLICY
    saturation: float = 1.0  # scales the predicted colour; 0 is gray, 1 as predicted
    format: str | None = None  # output format name ('JPEG'); None: the source's own
    hints: tuple[Hint, ...] = ()  # colour hints (model/hints.py): for a model with a hint input only
    multiple: int = field(default=1, repr=False, compare=False)  # the render size must be a multiple of it

    def __post_init__(self) -> None:
        size, m = self.render_size, self.multiple
        if not isinstance(size, int) or size < m or size > MAX_RENDER_SIZE or size % m:
            raise InvalidOption(
                "render_size", f"render_size must be a multiple of {m} between {m} and {MAX_RENDER_SIZE}, got {size}."
            )
        if self.policy not in POLICIES:
            raise InvalidOption("policy", f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}.")
        if not 0.0 <= float(self.saturation) <= MAX_SATURATION:
            raise InvalidOption(
                "saturation", f"saturation must be between 0 and {MAX_SATURATION}, got {self.saturation}."
            )
        object.__setattr__(self, "saturation", float(self.saturation))
        if self.format is not None:
            object.__setattr__(self, "format", formats.writable(self.format).name)

    @classmethod
    def make(
        cls,
        default_render_size: int,
        multiple: int = 1,
        *,
        render_size: int | None = None,
        policy: str | None = None,
        saturation: float | None = None,
        format: str | None = None,
        hints: str | tuple[Hint, ...] | None = None,
    ) -> ColorizeOptions:
        """Options from what a user gave; a missing (None or empty) value takes its default. `hints`: the
        JSON text (validated here: InvalidOption naming "hints") or parsed hints."""
        return cls(
            default_render_size if render_size is None else render_size,
            policy or DEFAULT_POLICY,
            1.0 if saturation is None else saturation,
            format or None,
            parse_hints(hints) if hints is None or isinstance(hints, str) else tuple(hints),
            multiple,
        )
