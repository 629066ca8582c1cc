"""Which path carries a hint's colour where: the README figure's two hints on the home page's example, with the
hint model whole, with its learned gate held shut (the decoder's output is never swapped for the carried colour),
with the propagation off (hints reach the decoder only through their own input channels), and with either half
of what the propagation hands the decoder zeroed: the carried colour, or the trust in it. Prints the mean
Lab a*/b* in boxes on the mother's face and hand, the tent, the blouse and the boy's hair; the spill the model
card describes is the face's b* falling under a blue blouse hint.

    python bench/bench_hint_paths.py [--weights FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import Colorizer  # noqa: E402
from model.architectures import hint_propagation  # noqa: E402
from scripts.make_hints_example import HINTS, SOURCE  # noqa: E402

# (x0, y0, x1, y1) as fractions of the photo's width and height
BOXES = {
    "face": (0.33, 0.22, 0.46, 0.42),
    "hand": (0.33, 0.47, 0.42, 0.58),
    "tent": (0.55, 0.05, 0.75, 0.16),
    "blouse": (0.55, 0.57, 0.65, 0.67),
    "hair": (0.72, 0.20, 0.84, 0.32),
}


def box_ab(rgb: np.ndarray) -> dict[str, tuple[float, float]]:
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    h, w = lab.shape[:2]
    out = {}
    for name, (x0, y0, x1, y1) in BOXES.items():
        a, b = lab[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w), 1:].reshape(-1, 2).mean(0)
        out[name] = (round(float(a), 1), round(float(b), 1))
    return out


def _without(channels: list[int]) -> Callable:
    """The propagation's forward with some of what it hands the decoder's 1x1 convs zeroed: the carried (a, b)
    (0, 1) or the trust (2); the gate still sees both."""
    forward = hint_propagation.HintPropagation.forward

    def patched(self, f3, f4, l, hints):  # type: ignore[no-untyped-def]
        out = forward(self, f3, f4, l, hints)
        if out is None:
            return None
        inputs = out.inputs.clone()
        inputs[:, channels] = 0
        return out._replace(inputs=inputs)

    return patched


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="generator file (default: the shipped one, with its hint model)")
    args = p.parse_args()
    c = Colorizer.from_checkpoint(args.weights)
    if not c.takes_hints:
        raise SystemExit("this model takes no hints")
    photo = Image.open(SOURCE).convert("RGB")
    hinted = c.options(hints=json.dumps(HINTS))
    rows = {"automatic": box_ab(c(photo).pixels), "hints": box_ab(c(photo, hinted).pixels)}
    with mock.patch.object(hint_propagation.HintGate, "forward", lambda self, h, own, carried: own):
        rows["hints, gate shut"] = box_ab(c(photo, hinted).pixels)
    with mock.patch.object(hint_propagation.HintPropagation, "forward", lambda self, f3, f4, l, hints: None):
        rows["hints, no propagation"] = box_ab(c(photo, hinted).pixels)
    for label, channels in (("hints, no carried colour into the decoder", [0, 1]), ("hints, no trust channel", [2])):
        with mock.patch.object(hint_propagation.HintPropagation, "forward", _without(channels)):
            rows[label] = box_ab(c(photo, hinted).pixels)
    print("| a*, b* | " + " | ".join(BOXES) + " |")
    print("|---|" + "---:|" * len(BOXES))
    for label, ab in rows.items():
        print(f"| {label} | " + " | ".join(f"{a:+.1f}, {b:+.1f}" for a, b in ab.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
