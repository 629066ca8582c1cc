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
            return render(
                request,
                "error.html",
                {"status": status, "message": body["message"]},
                status_code=status,
                headers=headers,
            )
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
                response: Response = render(
                    request,
                    "error.html",
                    {"status": status, "message": body["message"]},
                    status_code=status,
                    headers=headers,
                )
            else:
                response = JSONResponse(body, status_code=status, headers=headers)
            await response(scope, receive, send)
