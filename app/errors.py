"""Typed errors of the web layer and the one table that maps every error to an HTTP status.

Both the JSON API and the HTML pages answer through `describe`, so a given mistake gets the
same status and sentence wherever it happens. Nothing here ever shows a stack trace.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from model import (
    CheckpointError,
    HeirloomError,
    ImageTooLarge,
    InvalidOption,
    UnreadableImage,
    UnsupportedImage,
    WorkTooLarge,
)
from model.errors import JobCancelled, JobTimeout, OutOfMemory, WorkerCrashed

log = logging.getLogger("heirloom.app")


class AppError(HeirloomError):
    """Errors raised by the web layer itself."""


class UploadTooLarge(AppError):
    pass


class NotFound(AppError):
    pass


class LastVersion(AppError):
    """Deleting a photo's only version would leave it with no result."""


class ModelUnavailable(AppError):
    pass


class StorageFull(AppError):
    """The disk that holds the album is full (ENOSPC, EDQUOT, SQLite's 'disk is full')."""


class StorageReadOnly(AppError):
    """The data directory cannot be written (a read-only mount, no permission): the album is view-only."""


class QueueUnavailable(AppError):
    """Queue mode: the broker (Redis) cannot be reached; nothing was queued."""


class TooManyVersions(AppError):
    """A photo holds MAX_VERSIONS versions already."""


class AlreadyStored(AppError):
    """A batch's place that already holds its photo: uploading it again would make a second one."""


class NotAvailable(AppError):
    """Something this server's set-up does not do (e.g. colour suggestions where the model runs elsewhere)."""


class QueueFull(AppError):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


QUEUE_UNAVAILABLE_RETRY_S = 5

# First match wins: subclasses before their bases.
STATUS: list[tuple[type[Exception], int, str]] = [
    (QueueFull, 503, "busy"),
    (QueueUnavailable, 503, "queue_unavailable"),
    (StorageFull, 507, "storage_full"),
    (StorageReadOnly, 503, "read_only"),
    (ModelUnavailable, 503, "model_unavailable"),
    (CheckpointError, 503, "model_unavailable"),
    (UploadTooLarge, 413, "too_large"),
    (ImageTooLarge, 413, "too_large"),
    (InvalidOption, 422, "invalid_option"),
    (WorkTooLarge, 422, "over_budget"),
    (OutOfMemory, 503, "out_of_memory"),  # the server's trouble, not the photo's: before its base class
    (WorkerCrashed, 422, "worker_crashed"),
    (JobTimeout, 504, "timeout"),
    (JobCancelled, 409, "cancelled"),
    (UnreadableImage, 415, "unreadable_image"),
    (UnsupportedImage, 415, "unsupported_image"),
    (NotFound, 404, "not_found"),
    (LastVersion, 409, "last_version"),
    (TooManyVersions, 409, "too_many_versions"),
    (AlreadyStored, 409, "already_stored"),
    (NotAvailable, 501, "not_available"),
    (HeirloomError, 400, "bad_request"),
]


def describe(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """-> (status, JSON body, extra headers) for any exception."""
    if isinstance(exc, RequestValidationError):
        err = (exc.errors() or [{}])[0]
        where = err.get("loc") or ()
        field = str(where[-1]) if where else None
        missing = err.get("type") == "missing"
        msg = f"The field {field!r} is required." if missing else f"{field}: {err.get('msg', 'invalid value')}."
        return 422, {"error": "invalid_option", "message": msg, "field": field}, {}
    if isinstance(exc, StarletteHTTPException):
        codes = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return (
            exc.status_code,
            {"error": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)},
            dict(exc.headers or {}),
        )
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            body = {"error": code, "message": str(exc)}
            headers: dict[str, str] = {}
            if isinstance(exc, InvalidOption):
                body["field"] = exc.field
            if isinstance(exc, QueueFull):
                headers["Retry-After"] = str(exc.retry_after)
            elif isinstance(exc, QueueUnavailable):
                headers["Retry-After"] = str(QUEUE_UNAVAILABLE_RETRY_S)  # a restart or a blip: soon
            return status, body, headers
    if database_down(exc):
        log.error("the album's database cannot be reached: %s", exc)
        body = {"error": "database_unavailable", "message": "The album's database cannot be reached; try again soon."}
        return 503, body, {"Retry-After": "5"}
    log.exception("unexpected error", exc_info=exc)
    return 500, {"error": "internal", "message": "Something went wrong on the server; it was logged."}, {}


def database_down(exc: Exception) -> bool:
    """PostgreSQL restarted or out of reach (psycopg is only loaded when the album lives there)."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)
