"""How an error reaches the client: one handler for every error kind (an HTML error page for the pages,
JSON for the API, both from `errors.describe`), and a catch-all for the rest. Apart from `errors`, so the
typed errors that every module raises import no templates."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model import HeirloomError

from .errors import describe
from .templating import render

BUSY_REFRESH_S = 10  # a page that met a brief outage (503) loads itself again after this long


def error_page(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """The HTML error page. A GET page that met an outage (503: the queue or the database away for a
    moment) keeps trying by itself and says the photos are safe, rather than a dead end that sends
    families to upload again."""
    busy = status == 503 and request.method == "GET"
    return render(
        request,
        "error.html",
        {"status": status, "message": message, "retry_s": BUSY_REFRESH_S if busy else None},
        status_code=status,
        headers=headers,
    )


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/colorize", "/healthz", "/docs", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Register one handler for every error kind; pages get an HTML error page, the API gets JSON."""

    async def handle(request: Request, exc: Exception) -> Response:
        status, body, headers = describe(exc)
        if wants_html(request):
            return error_page(request, status, body["message"], headers)
        return JSONResponse(body, status_code=status, headers=headers)

    for kind in (HeirloomError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, handle)


class CatchAllMiddleware:
    """Any other exception becomes a logged 500 here, inside the app, so the connection stays open for the
    client's next request (Starlette's outermost handler answers too, but then re-raises, and the server
    drops the keep-alive connection). A response that has already started can only be cut off."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            status, body, headers = describe(exc)
            if wants_html(request) and hasattr(request.app.state, "runtime"):
                response: Response = error_page(request, status, body["message"], headers)
            else:
                response = JSONResponse(body, status_code=status, headers=headers)
            await response(scope, receive, send)
