"""How many jobs ended how, and how long they took: counters on the data directory, one JSON file that
every process adds to where a job's outcome is stored (`JobStore.finish`/`fail` on a queue worker; the
local backend after each engine call), under a `flock`.

Why a file and not counters in each process: in queue mode jobs end in the workers, which nobody scrapes,
and any web server may be the one scraped. The data directory is what they all share already, so every
web server's /metrics reports the same totals for the whole installation (aggregate replicas with `max`,
not `sum`). A count never goes down (retention removes job records, not these), as a Prometheus counter
must; deleting the file is a counter reset, which Prometheus handles.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .log_once import LogOnce

log = logging.getLogger("heirloom.app")
FILE = "tally.json"
OUTCOMES = ("done", "failed", "cancelled")
# Upper bounds in seconds: a tiny photo on a GPU to a large scan on a slow CPU (the default timeout is 120 s).
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


@dataclass(frozen=True)
class Histogram:
    counts: tuple[int, ...] = (0,) * (len(BUCKETS) + 1)  # per bucket (not cumulative), the last one above all
    sum: float = 0.0

    def add(self, seconds: float) -> Histogram:
        i = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
        counts = list(self.counts)
        counts[i] += 1
        return Histogram(tuple(counts), self.sum + seconds)

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus's buckets: (upper bound, observations at or below it), ending with +Inf."""
        out, total = [], 0
        for bound, n in zip([*map(str, BUCKETS), "+Inf"], self.counts):
            total += n
            out.append((bound, total))
        return out


@dataclass(frozen=True)
class Counts:
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    run: Histogram = Histogram()  # from a job's start to its outcome stored
    wait: Histogram = Histogram()  # from a job's upload to its start

    def to_json(self) -> str:
        hist = {k: {"counts": list(h.counts), "sum": h.sum} for k, h in (("run", self.run), ("wait", self.wait))}
        return json.dumps({"outcomes": self.outcomes, **hist})

    @classmethod
    def from_json(cls, text: str) -> Counts:
        d: dict[str, Any] = json.loads(text)
        hist = {k: Histogram(tuple(d[k]["counts"]), float(d[k]["sum"])) for k in ("run", "wait")}
        if any(len(h.counts) != len(BUCKETS) + 1 for h in hist.values()):  # other buckets: start them again
            hist = {"run": Histogram(), "wait": Histogram()}
        return cls({**dict.fromkeys(OUTCOMES, 0), **d["outcomes"]}, **hist)


class Tally:
    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / FILE
        self._trouble = LogOnce(log, f"counting job outcomes in {self.path}")

    def record(self, outcome: str, run_s: float | None = None, wait_s: float | None = None) -> None:
        """Count one job's end. A disk that refuses the write (full, read-only) costs the figures, not the
        job: its outcome is stored already; the failure is logged (once while it lasts)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        try:
            with open(self.path.with_name(FILE + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                counts = self.read()
                outcomes = {**counts.outcomes, outcome: counts.outcomes.get(outcome, 0) + 1}
                run = counts.run.add(run_s) if run_s is not None else counts.run
                wait = counts.wait.add(wait_s) if wait_s is not None else counts.wait
                tmp = self.path.with_name(f"{FILE}.{secrets.token_hex(4)}")
                tmp.write_text(Counts(outcomes, run, wait).to_json())
                os.replace(tmp, self.path)  # readers see the old counts or the new ones, never half
        except (OSError, ValueError, KeyError, TypeError) as e:  # a full disk, a file edited by hand
            self._trouble.failed(e)
        else:
            self._trouble.succeeded()

    def read(self) -> Counts:
        try:
            return Counts.from_json(self.path.read_text())
        except FileNotFoundError:
            return Counts()
