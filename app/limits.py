"""Refuse oversized request bodies before they are parsed or spooled to disk, and add safe headers."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import human_size

MULTIPART_SLACK = 64 * 1024  # boundaries and the small option fields around the file

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'",
}
# Swagger UI sets inline styles; its scripts (and our start-up script) are files under /static.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'"
)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.limit = max_bytes + MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"The upload is larger than the limit of {human_size(self.limit - MULTIPART_SLACK)}."
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await JSONResponse({"error": "too_large", "message": message}, 413, headers={"Connection": "close"})(
                scope, receive, send
            )
        seen = 0

        async def counted() -> Message:  # chunked uploads carry no length: count as they arrive
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, message)
            return msg

        await self.app(scope, counted, send)


class SecurityHeadersMiddleware:
    """The outermost layer: every response carries the security headers, refusals (401, 403, 413) and
    errors included."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["path"] == "/docs"

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = MutableHeaders(scope=msg)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, DOCS_CSP if docs and k == "Content-Security-Policy" else v)
            await send(msg)

        await self.app(scope, receive, with_headers)
