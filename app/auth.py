"""Access control for every route: an optional token, given as `Authorization: Bearer` or as the
session cookie the login page sets. Without a token the app serves loopback connections only,
unless `allow_public` says otherwise (the same rule `serve` applies when binding)."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .settings import Settings

COOKIE = "heirloom_session"
OPEN_PATHS = {"/login", "/healthz", "/favicon.ico"}   # healthz says only whether the model is loaded


def session_value(token: str) -> str:
    # The cookie holds a MAC of the token, not the token itself.
    return hmac.new(token.encode(), b"heirloom-session-v1", hashlib.sha256).hexdigest()


def token_matches(settings: Settings, given: str | None) -> bool:
    if not settings.token or not given:
        return False
    return hmac.compare_digest(given.encode(), settings.token.encode())


def is_authorized(settings: Settings, request: Request) -> bool:
    if not settings.token:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(settings, value.strip()):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(settings.token).encode())


def safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _reached_on_public_address(scope: Scope) -> bool:
    host = (scope.get("server") or ("", None))[0] or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # a name (e.g. a test client): no address to judge


class AccessMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        s = self.settings
        if not s.token:
            if not s.allow_public and _reached_on_public_address(scope):
                response: Response = JSONResponse({"error": "forbidden", "message":
                                                   "This server has no access token; it only answers on "
                                                   "loopback. Set HEIRLOOM_TOKEN or HEIRLOOM_ALLOW_PUBLIC=1."},
                                            403)
                return await response(scope, receive, send)
            return await self.app(scope, receive, send)
        path = scope["path"]
        request = Request(scope)
        if path in OPEN_PATHS or path.startswith("/static/") or is_authorized(s, request):
            return await self.app(scope, receive, send)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = path + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            response = RedirectResponse(f"/login?next={quote(target)}", 303)
        else:
            response = JSONResponse({"error": "unauthorized", "message": "An access token is required: "
                                     "send 'Authorization: Bearer <token>' or log in at /login."},
                                    401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
