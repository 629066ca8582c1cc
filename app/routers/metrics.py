"""/metrics for Prometheus: behind the access token like every route (the access middleware, app/auth.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ..metrics import MEDIA_TYPE, exposition
from ..runtime import BackendDep

router = APIRouter()


@router.get(
    "/metrics",
    tags=["service"],
    summary="Prometheus metrics (queue depth, jobs by outcome, durations, workers)",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "Prometheus's text exposition format"}},
)
def metrics(backend: BackendDep) -> Response:
    """Read when scraped; every name starts with `heirloom_`. Needs the token when the server has one."""
    return Response(exposition(backend.figures), media_type=MEDIA_TYPE)
