"""The FastAPI application: `create_app(settings)` builds it; `uvicorn app.main:app` serves one
configured from the environment. The lifespan opens the album and the backend (serving/backend.py):
this machine's worker processes, which load the model once at start-up, or the job queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from . import error_pages
from .album import trash
from .album.storage import Storage
from .auth import AccessMiddleware, LoginLimiter
from .limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from .routers import ROUTERS
from .routers.docs import SWAGGER_STATIC
from .runtime import Runtime
from .serving import retention
from .serving.factory import open_backend
from .sessions import Sessions
from .settings import Settings
from .templating import STATIC


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = Storage(settings.data_dir, settings.database_url)
        try:
            await run_in_threadpool(trash.purge, storage)
            days = 0.0 if storage.read_only else settings.retention_days  # a read-only album keeps everything
            async with (
                open_backend(settings, storage) as backend,
                retention.sweeping(settings.data_dir, storage.index.batches, days),
            ):
                sessions = Sessions(storage, settings.session_days * 86400)
                await run_in_threadpool(sessions.expire)
                app.state.runtime = Runtime(settings, storage, backend, sessions)
                yield
        finally:
            storage.close()

    app = FastAPI(
        title="Heirloom",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Colorize black-and-white family photos. Every route needs the access token "
        "(`Authorization: Bearer …`) when the server has one.",
    )
    error_pages.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static/swagger", StaticFiles(directory=str(SWAGGER_STATIC)), name="swagger")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # Each add wraps the ones before: headers on everything, then the catch-all 500, then refuse strangers
    # before reading their bodies.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    app.add_middleware(AccessMiddleware, settings=settings, limiter=app.state.login_limiter)
    app.add_middleware(error_pages.CatchAllMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


app = create_app()
