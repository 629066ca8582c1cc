"""What /metrics reports (app/metrics.py), as each backend reads it at scrape time: plain numbers, so that
the backends need not know Prometheus. None: the figure does not apply to this backend."""

from __future__ import annotations

from dataclasses import dataclass

from .tally import Counts


@dataclass(frozen=True)
class Figures:
    counts: Counts  # jobs by outcome and their durations (tally.py: the data directory's, whole installation)
    waiting: int | None = None  # jobs waiting for a worker (queue) or for an engine process (local)
    running: int | None = None  # fetched by a worker and not acknowledged (queue), in an engine process (local)
    dead_lettered: int | None = None  # queue: messages Dramatiq gave up on (none expected: we never nack)
    capacity: int | None = None  # how many may wait before uploads get 503
    workers: int | None = None  # live queue workers (queue), engine processes alive (local)
    paused: bool | None = None  # queue: the operator's pause switch
    broker_up: bool | None = None  # queue: Redis answered this scrape
    engine_restarts: int | None = None  # local: engine processes started again (a crash, a timeout, OOM)
