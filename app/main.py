"""The FastAPI application: `create_app(settings)` builds it; `uvicorn app.main:app` serves one
configured from the environment. The worker processes load the model once, at start-up, in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from model import HeirloomError
from model.worker import ProcessPool, WorkerSpec

from . import errors, trash
from .auth import AccessMiddleware, LoginLimiter
from .jobs import WorkerPool
from .limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from .photos import Runtime
from .queue_routes import router as jobs_router
from .routes_api import router as api_router
from .routes_batches import router as batches_router
from .routes_docs import SWAGGER_STATIC
from .routes_docs import router as docs_router
from .routes_pages import router as pages_router
from .routes_trash import router as trash_router
from .settings import Settings
from .storage import Storage
from .templating import STATIC

log = logging.getLogger("heirloom.app")


def worker_spec(settings: Settings) -> WorkerSpec:
    return WorkerSpec(
        str(settings.weights) if settings.weights else None,
        settings.device,
        settings.max_pixels,
        settings.work_bytes,
        settings.torch_threads,
        precision=settings.precision,
    )


async def start_engine(settings: Settings) -> tuple[ProcessPool | None, str | None]:
    """The worker processes, each loading the model; this process never does (nor imports torch), so
    the server answers sooner. A missing or broken weights file leaves the album usable and is
    reported in /healthz."""
    if not settings.load_model:
        return None, "model loading is switched off"
    processes = ProcessPool(worker_spec(settings), settings.workers, settings.request_timeout_s)
    try:
        await run_in_threadpool(processes.start)
    except HeirloomError as e:
        log.error("Heirloom cannot colorize: %s", e)
        processes.close()
        return None, str(e)
    profile = processes.profile
    log.info(
        "Heirloom model loaded on %s (render size %d), running in %s",
        profile.device,
        profile.render_size,
        profile.precision,
    )
    return processes, None


@asynccontextmanager
async def queue_mode(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """`--broker`: jobs go to Redis for `heirloom worker`s; this process loads no model (nor torch)."""
    from .queue import running

    storage = Storage(settings.data_dir, settings.database_url)
    await run_in_threadpool(trash.purge, storage)
    pool = WorkerPool(settings.workers, settings.queue_size)  # unused here; the Runtime's shape stays one
    try:
        async with running(settings, storage) as client:
            problem = "queue mode: the model runs in `heirloom worker` processes"
            app.state.runtime = Runtime(settings, storage, pool, problem, queue=client)
            log.info("Heirloom in queue mode: colorize jobs go to the workers through Redis")
            yield
    finally:
        pool.shutdown()
        storage.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.broker_url:
            async with queue_mode(app, settings):
                yield
            return
        processes, problem = await start_engine(settings)
        storage = Storage(settings.data_dir, settings.database_url)
        await run_in_threadpool(trash.purge, storage)
        pool = WorkerPool(settings.workers, settings.queue_size)
        app.state.runtime = Runtime(settings, storage, pool, problem, processes)
        try:
            yield
        finally:
            pool.shutdown()
            if processes is not None:
                processes.close()
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
    errors.install(app)
    app.include_router(api_router)
    app.include_router(jobs_router)
    app.include_router(pages_router)
    app.include_router(batches_router)
    app.include_router(trash_router)
    app.include_router(docs_router)
    app.mount("/static/swagger", StaticFiles(directory=str(SWAGGER_STATIC)), name="swagger")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # Each add wraps the ones before: headers on everything, then the catch-all 500, then refuse strangers
    # before reading their bodies.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.state.login_limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)
    app.add_middleware(AccessMiddleware, settings=settings, limiter=app.state.login_limiter)
    app.add_middleware(errors.CatchAllMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


app = create_app()
