"""The web app's routes, one router per resource; `main.create_app` includes them in this order."""

from __future__ import annotations

from fastapi import APIRouter

from . import batches, colorize, docs, jobs, metrics, pages, photos, trash, versions, worker_api

ROUTERS: list[APIRouter] = [
    colorize.router,
    photos.router,
    versions.router,
    jobs.router,
    pages.router,
    batches.router,
    trash.router,
    docs.router,
    metrics.router,
    worker_api.router,
]
