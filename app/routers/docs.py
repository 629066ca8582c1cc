"""The API docs at /docs: Swagger UI from files on this server (the fastapi-offline wheel ships them),
so the page works with no network. FastAPI's own /docs would load Swagger UI from a CDN."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..templating import render

SWAGGER_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs(request: Request) -> Response:
    return render(request, "docs.html", {"openapi_url": request.app.openapi_url})
