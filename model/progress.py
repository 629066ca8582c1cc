"""A dependency-free one-line progress bar on stderr (a plain line per update when not a terminal)."""

from __future__ import annotations

import math
import sys
import time


class Progress:
    def __init__(self, total: int, start: int = 0, label: str = "step"):
        self.total, self.start, self.label, self.t0 = total, start, label, time.time()
        self.tty = sys.stderr.isatty()

    def update(self, done: int, text: str = "") -> None:
        rate = (done - self.start) / max(time.time() - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        frac = done / max(self.total, 1)
        bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
        eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if math.isfinite(eta) else "?"
        line = f"{self.label} {done}/{self.total} [{bar}] {frac:5.1%} {text} ETA {eta_s}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)
