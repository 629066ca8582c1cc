"""The one place that knows there are two backends: it picks one from the settings, once, at start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..album.storage import Storage
from ..settings import Settings
from .backend import Backend


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
