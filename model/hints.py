"""Colour hints: "her dress was blue" as points the network takes in (Zhang et al. 2017).

Light (no numpy, no torch): the CLI and the web side validate hints without loading a model.

A hint is a point on the photo as displayed (x, y relative to its width and height, from the top
left), a colour (#RRGGBB) and a radius (relative to the width). The network never paints that colour
over its output: the hint's a, b and a mask are rasterised at the render canvas (`hint_raster`) and
enter the decoder's hint input, and the decoder decides how far along the photo's edges it spreads.

The JSON here is the one format of the API, the CLI and the stored versions:
`[{"x": 0.42, "y": 0.31, "color": "#3a5fb0", "radius": 0.01}]` (radius optional).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidOption

MAX_HINTS = 64
DEFAULT_RADIUS = 0.01  # of the photo's width
MAX_RADIUS = 0.25
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
EXAMPLE = '[{"x": 0.5, "y": 0.5, "color": "#3a5fb0"}]'


@dataclass(frozen=True)
class Hint:
    x: float  # 0..1 of the displayed width, from the left
    y: float  # 0..1 of the displayed height, from the top
    color: str  # "#rrggbb"
    radius: float = DEFAULT_RADIUS  # of the displayed width

    def to_dict(self) -> dict[str, object]:
        return {"x": self.x, "y": self.y, "color": self.color, "radius": self.radius}

    @property
    def ab(self) -> tuple[float, float]:
        """The colour's a, b (CIE Lab, D65): all the network is told; the lightness stays the photo's."""
        return srgb_hex_to_ab(self.color)


# sRGB (D65) -> XYZ, each row divided by the white point: the matrix of color.py, here without numpy.
_RGB_TO_XYZN = (
    (0.412453 / 0.950456, 0.357580 / 0.950456, 0.180423 / 0.950456),
    (0.212671, 0.715160, 0.072169),
    (0.019334 / 1.088754, 0.119193 / 1.088754, 0.950227 / 1.088754),
)


def srgb_hex_to_ab(color: str) -> tuple[float, float]:
    """ "#rrggbb" -> CIE Lab a, b (D65), as color.py / OpenCV compute them."""
    lin = []
    for i in (1, 3, 5):
        v = int(color[i : i + 2], 16) / 255
        lin.append(v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4)
    fx, fy, fz = (
        t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
        for t in (sum(m * c for m, c in zip(row, lin)) for row in _RGB_TO_XYZN)
    )
    return 500 * (fx - fy), 200 * (fy - fz)


def _invalid(message: str) -> InvalidOption:
    return InvalidOption("hints", f"hints: {message} Expected JSON like {EXAMPLE}.")


def _number(item: dict[str, object], key: str, i: int, low: float, high: float) -> float:
    v = item[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _invalid(f"hint {i + 1}: {key} must be a number, got {json.dumps(v)}.")
    if not low <= v <= high:
        raise _invalid(f"hint {i + 1}: {key} must be between {low} and {high}, got {v}.")
    return float(v)


def hints_from_list(items: object) -> tuple[Hint, ...]:
    """Validated hints from parsed JSON (a list of objects); InvalidOption (field "hints") otherwise."""
    if not isinstance(items, list):
        raise _invalid("must be a JSON list of points.")
    if len(items) > MAX_HINTS:
        raise _invalid(f"at most {MAX_HINTS} hints, got {len(items)}.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"hint {i + 1} must be an object with x, y and color.")
        missing = [k for k in ("x", "y", "color") if k not in item]
        extra = sorted(set(item) - {"x", "y", "color", "radius"})
        if missing or extra:
            what = f"needs {', '.join(missing)}" if missing else f"has unknown keys {', '.join(extra)}"
            raise _invalid(f"hint {i + 1} {what}.")
        color = item["color"]
        if not isinstance(color, str) or not _COLOR.match(color):
            raise _invalid(f'hint {i + 1}: color must be "#RRGGBB", got {json.dumps(color)}.')
        radius = _number(item, "radius", i, 0.0, MAX_RADIUS) if "radius" in item else DEFAULT_RADIUS
        if radius <= 0:
            raise _invalid(f"hint {i + 1}: radius must be above 0.")
        out.append(Hint(_number(item, "x", i, 0.0, 1.0), _number(item, "y", i, 0.0, 1.0), color.lower(), radius))
    return tuple(out)


def parse_hints(text: str | None) -> tuple[Hint, ...]:
    """The JSON text of the API's `hints` field or the CLI's file; empty or None = no hints."""
    if text is None or not text.strip():
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise _invalid(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno}).") from None
    return hints_from_list(items)


def require_hint_input(hints: Sequence[Hint], takes_hints: bool) -> None:
    """InvalidOption (field "hints") for hints given to a model without a hint input: never ignored."""
    if hints and not takes_hints:
        raise InvalidOption(
            "hints",
            "This model has no hint input: it colours on its own only. Leave the hints out, or use a model "
            "trained with hints (recipe heirloom-hints).",
        )


def hints_json(hints: Sequence[Hint]) -> str:
    return json.dumps([h.to_dict() for h in hints], separators=(",", ":"))
