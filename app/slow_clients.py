"""Slow clients cannot hold connections for ever: uvicorn's HTTP protocol with two clocks. A connection whose
request headers are not complete HEADERS_S after it opened (or after its previous response) is closed; a
request body must arrive at BODY_MIN_RATE bytes a second on average after a grace of BODY_GRACE_S, else the
connection is closed (the app sees the client leave). Families share one home address, so there is no cap
per address; these clocks are what bounds a slowloris. An ASGI middleware never sees incomplete headers:
this lives in the protocol layer."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADERS_S = 30.0
BODY_GRACE_S = 30.0
BODY_MIN_RATE = 8 * 1024  # bytes a second: a 50 MB scan may take 1 h 40 min, a trickle of bytes may not


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock: asyncio.TimerHandle | None = None
        self._seen: Any = None  # the request whose headers last arrived

    def _arm(self, seconds: float, waiting_for: str) -> None:
        self._disarm()
        self._clock = self.loop.call_later(seconds, self._too_slow, waiting_for)

    def _disarm(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _too_slow(self, waiting_for: str) -> None:
        cycle = self.cycle
        serving = cycle is not None and not cycle.response_complete
        if waiting_for == "headers" and serving:
            return  # a request arrived (pipelined, past this clock's view): it is being answered
        if waiting_for == "body" and not (serving and cycle.more_body):
            return
        if not self.transport.is_closing():
            self.logger.info("closing a connection from %s: its request %s came too slowly", self.client, waiting_for)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEADERS_S, "headers")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle is not self._seen:  # a request's headers are complete
            self._seen = cycle
            self._disarm()
            length = dict(cycle.scope["headers"]).get(b"content-length", b"0")
            size = int(length) if length.isdigit() else 0
            if cycle.more_body:
                self._arm(BODY_GRACE_S + size / BODY_MIN_RATE, "body")
        elif cycle is not None and not cycle.more_body and self._clock is not None and cycle is self._seen:
            self._disarm()  # the body is complete

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(HEADERS_S, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
