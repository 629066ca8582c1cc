"""Jinja2 templates from the repository's templates/ folder; plain files, no build step."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .album.metadata import MAX_CAPTION
from .wording import in_words, technical

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"

templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["date"] = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
# The machine-readable UTC instant for <time datetime>; static/app.js shows it in the reader's own time zone.
templates.env.filters["iso"] = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
# A version in a family's words, and as the API names it (app/wording.py).
templates.env.globals.update(in_words=in_words, technical=technical)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    rt = getattr(request.app.state, "runtime", None)
    ctx = {"runtime": rt, "token_required": bool(rt and rt.settings.token), "max_caption": MAX_CAPTION}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
