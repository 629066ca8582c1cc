"""The one place that knows there are two backends: it picks one from the settings, once, at start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ..settings import Settings

if TYPE_CHECKING:  # light to import: `heirloom serve` calls `prestart` before the web app loads
    from ..album.storage import Storage
    from .backend import Backend


def prestart(settings: Settings) -> None:
    """Start what the chosen backend can start before the web app is imported: the local backend's fork
    server, whose torch import then overlaps the app's imports (a sooner /healthz 200)."""
    if settings.load_model and not settings.broker_url:
        from .processes import prestart_engine

        prestart_engine()


@asynccontextmanager
async def open_backend(settings: Settings, storage: Storage) -> AsyncIterator[Backend]:
    """The backend the settings ask for, started, for the app's lifespan."""
    if settings.broker_url:
        from .queued import QueueBackend

        async with QueueBackend.running(settings, storage) as queued:
            yield queued
    else:
        from .local import LocalBackend

        async with LocalBackend.running(settings, storage) as local:
            yield local
