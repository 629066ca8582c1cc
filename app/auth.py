"""Access control for every route: an optional token, given as `Authorization: Bearer` or as the
session cookie the login page sets. Without a token the app serves loopback connections only,
unless `allow_public` says otherwise (the same rule `serve` applies when binding).

Before that, for every request: the Host header must be one the server answers to (loopback names
without a token, so a DNS-rebound name cannot read the album), and a state-changing request from a
browser must come from this server's own pages (Origin / Sec-Fetch-Site / Referer: no cross-site
form posts). Failed logins and bad bearer tokens are counted per client: too many get 429."""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections import deque
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
COOKIE = "heirloom_session"
OPEN_PATHS = {"/login", "/healthz", "/favicon.ico"}  # healthz says only whether the model is loaded
WORKER_PREFIX = "/api/worker/"  # app/serving/worker_wire.PREFIX: behind the worker token alone


def _secret_matches(secret: str | None, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def token_matches(settings: Settings, given: str | None) -> bool:
    return _secret_matches(settings.token, given)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def bearer_ok(settings: Settings, request: Request) -> bool:
    return _secret_matches(settings.token, _bearer(request))


def worker_bearer_ok(settings: Settings, request: Request) -> bool:
    """The worker API's own token: workers on other machines show it, and it opens nothing else."""
    return _secret_matches(settings.worker_token, _bearer(request))


def session_cookie(response: Response, value: str, request: Request | Scope, max_age_s: float) -> None:
    """The login's cookie: `HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS; it lasts as long as the session
    may stay unused, and slides with it."""
    scheme = request.url.scheme if isinstance(request, Request) else request.get("scheme", "http")
    response.set_cookie(COOKIE, value, max_age=int(max_age_s), httponly=True, samesite="lax", secure=scheme == "https")


def safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class LoginLimiter:
    """At most `attempts` failed credentials per client in `window_s` seconds; then 429 until the oldest
    failure leaves the window."""

    MAX_CLIENTS = 10_000

    def __init__(self, attempts: int, window_s: float):
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # the middleware (event loop) and the login route (a thread) share it

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._failures.get(client)
        if q is None:
            if len(self._failures) >= self.MAX_CLIENTS:
                self._evict(now)
            q = self._failures[client] = deque()
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def _evict(self, now: float) -> None:
        """Room for one more client, bounded: first those whose failures have all left the window, then the
        oldest that is not locked out (a flood of one-off failures must not free a locked-out address),
        then the oldest of all. Insertion order is the order of each client's first failure."""
        stale = [c for c, q in self._failures.items() if not q or now - q[-1] > self.window_s]
        for c in stale[: max(1, len(self._failures) - self.MAX_CLIENTS + 1)]:
            del self._failures[c]
        if len(self._failures) < self.MAX_CLIENTS:
            return
        for c, q in self._failures.items():
            if len(q) < self.attempts:
                del self._failures[c]
                return
        del self._failures[next(iter(self._failures))]

    def retry_after(self, client: str) -> int | None:
        """Seconds to wait when this client has used up its attempts; None when it may try."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(client, now)
            if len(q) < self.attempts:
                return None
            return max(1, math.ceil(self.window_s - (now - q[0])))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)


def client_key(scope: Scope) -> str:
    return str((scope.get("client") or ("unknown", 0))[0])


def too_many(retry_after: int) -> Response:
    return JSONResponse(
        {
            "error": "too_many_attempts",
            "message": f"Too many wrong tokens from this address; try again in {retry_after} s.",
        },
        429,
        headers={"Retry-After": str(retry_after)},
    )


def host_name(value: str) -> str:
    """'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def cross_site(request: Request) -> bool:
    """Does a browser say this request comes from another site's page? Clients that send none of these
    headers (curl, scripts) are not browsers carrying someone's cookies."""
    h = request.headers
    origin = h.get("origin")
    host = h.get("host", "").lower()
    if origin is not None and origin != "null":
        return urlsplit(origin).netloc.lower() != host
    # "Origin: null" is also what a browser sends for a same-origin form post from a page whose
    # referrer policy is no-referrer; Sec-Fetch-Site tells the two apart.
    site = h.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    if origin == "null":
        return True
    referer = h.get("referer")
    return referer is not None and urlsplit(referer).netloc.lower() != host


def _refuse(error: str, message: str, status: int) -> Response:
    return JSONResponse({"error": error, "message": message}, status)


def _reached_on_public_address(scope: Scope) -> bool:
    host = (scope.get("server") or ("", None))[0] or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name (e.g. a test client): no address to judge


class AccessMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, limiter: LoginLimiter):
        self.app = app
        self.settings = settings
        self.limiter = limiter

    def _refusal(self, scope: Scope, request: Request) -> Response | None:
        """Wrong Host, a cross-site state change, or a stranger on a public address without a token."""
        s = self.settings
        if not s.token and not s.allow_public and _reached_on_public_address(scope):
            return _refuse(
                "forbidden",
                "This server has no access token; it only answers on loopback. "
                "Set HEIRLOOM_TOKEN or HEIRLOOM_ALLOW_PUBLIC=1.",
                403,
            )
        names = s.host_names
        if names is not None and host_name(request.headers.get("host", "")) not in names:
            return _refuse(
                "bad_host",
                f"This server answers to {', '.join(names)} only (set HEIRLOOM_ALLOWED_HOSTS to serve other names).",
                421,
            )
        if request.method not in SAFE_METHODS and cross_site(request):
            return _refuse(
                "cross_site",
                "This request came from another site's page; Heirloom accepts changes only from its own pages.",
                403,
            )
        return None

    async def _worker(self, scope: Scope, receive: Receive, send: Send, request: Request) -> None:
        client = client_key(scope)
        wait = self.limiter.retry_after(client)
        if wait is not None:
            return await too_many(wait)(scope, receive, send)
        if worker_bearer_ok(self.settings, request):
            return await self.app(scope, receive, send)
        if request.headers.get("authorization"):
            self.limiter.failed(client)
        message = "The worker API needs 'Authorization: Bearer <HEIRLOOM_WORKER_TOKEN>'."
        if not self.settings.worker_token:
            message = "This server has no worker API: set HEIRLOOM_WORKER_TOKEN to open it."
        response = JSONResponse(
            {"error": "unauthorized", "message": message}, 401, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        s = self.settings
        request = Request(scope)
        if scope["path"].startswith(WORKER_PREFIX):  # workers, not people: their token only, no pages, no cookies
            return await self._worker(scope, receive, send, request)
        response: Response | None = self._refusal(scope, request)
        if response is not None:
            return await response(scope, receive, send)
        if not s.token:
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path in OPEN_PATHS or path.startswith("/static/"):
            return await self.app(scope, receive, send)
        client = client_key(scope)
        wait = self.limiter.retry_after(client)
        if wait is not None:
            return await too_many(wait)(scope, receive, send)
        if bearer_ok(s, request):
            return await self.app(scope, receive, send)
        sessions = scope["app"].state.runtime.sessions
        cookie = request.cookies.get(COOKIE)
        valid, renewed = await run_in_threadpool(sessions.check, cookie) if cookie else (False, False)
        if valid and not renewed:
            return await self.app(scope, receive, send)
        if valid:  # the session slid forward: so does the cookie's lifetime
            renewal = Response()
            session_cookie(renewal, str(cookie), scope, sessions.idle_s)
            header = renewal.headers["set-cookie"].encode()

            async def with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", header)]
                await send(message)

            return await self.app(scope, receive, with_cookie)
        if request.headers.get("authorization") or request.cookies.get(COOKIE):
            self.limiter.failed(client)  # a credential was offered, and it was wrong
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = path + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            response = RedirectResponse(f"/login?next={quote(target)}", 303)
        else:
            response = JSONResponse(
                {
                    "error": "unauthorized",
                    "message": "An access token is required: send 'Authorization: Bearer <token>' or log in at /login.",
                },
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)
