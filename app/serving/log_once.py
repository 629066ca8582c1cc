"""One log line when a background loop starts failing, silence while the same failure repeats, one line when
it recovers: a loop that retries every 0.5 s while Redis or PostgreSQL is down must not write a traceback
each time (the issue that asked for this counted thousands an hour).

"The same failure" is the same exception class: its message may change from one try to the next (a port,
a time) without being news. A failure that is not an outage (a bug) still gets its traceback, once, so that
it can be fixed."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from model.errors import HeirloomError

# Looked up only if loaded: the web side imports psycopg only for a PostgreSQL album, redis only in queue mode.
_OUTAGES = (("redis", "RedisError"), ("psycopg", "OperationalError"))


def is_outage(e: BaseException) -> bool:
    """Something out of reach or a typed refusal (Redis, PostgreSQL, a full or read-only disk), not a bug."""
    if isinstance(e, (OSError, HeirloomError)):
        return True
    for module, name in _OUTAGES:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(e, getattr(loaded, name)):
            return True
    return False


class LogOnce:
    def __init__(self, log: logging.Logger, what: str, outage: Callable[[BaseException], bool] = is_outage):
        self.log, self.what, self.outage = log, what, outage
        self._failing: type[BaseException] | None = None
        self._since = 0.0
        self._rounds = 0

    @property
    def failing(self) -> bool:
        return self._failing is not None

    def failed(self, e: BaseException) -> None:
        """Call on each failed round."""
        self._rounds += 1
        if type(e) is self._failing:
            return
        if self._failing is None:
            self._since, self._rounds = time.monotonic(), 1
        self._failing = type(e)
        self.log.error(
            "%s failed: %s: %s (logged again only when the failure changes or ends)",
            self.what,
            type(e).__name__,
            e,
            exc_info=None if self.outage(e) else e,  # a bug: its traceback, this once
        )

    def succeeded(self) -> None:
        """Call on each round that worked."""
        if self._failing is None:
            return
        took = time.monotonic() - self._since
        self.log.warning("%s works again, after %d failed round(s) in %.0f s", self.what, self._rounds, took)
        self._failing = None
