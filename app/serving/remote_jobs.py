"""`heirloom worker --server-url URL`: the job store of a web server, reached over its worker API
(app/routers/worker_api.py) instead of a shared data directory. The same methods JobRunner and the pause
switch call on a `JobStore` (get, start, input, finish, fail, set_message_id), so a worker on another
machine needs nothing shared with the web side but Redis.

A web server restarting or a network blip is waited out (the call is tried again, for up to
`PATIENCE_S`), since giving up would leave the job's message unacknowledged or dead-lettered for the
web side's recovery to find later. Stdlib HTTP only: a worker needs no HTTP client library."""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from model.errors import HeirloomError

from .contract import JobResult
from .job_store import JobNotFound, JobRecord
from .worker_wire import DATA_FILE, PREFIX, PREVIEW_PREFIX, RESULT_FIELD, THUMB_FILE, result_to_json

log = logging.getLogger("heirloom.queue_worker")
PATIENCE_S = 300.0  # how long a worker keeps trying to reach its web server before the call fails
TIMEOUT_S = 60.0  # one request (a result can be tens of MB)
RETRY_STATUSES = {502, 503, 504}  # a proxy without its server, a restart


class ServerUnreachable(HeirloomError):
    """The web server's worker API did not answer (or refused the worker's token)."""


class RemoteJobStore:
    def __init__(self, server_url: str, token: str, patience_s: float = PATIENCE_S):
        self.base = server_url.rstrip("/") + PREFIX
        self.token, self.patience_s = token, patience_s

    def get(self, job_id: str) -> JobRecord:
        return JobRecord.from_json(self._call("GET", f"/jobs/{job_id}").decode())

    def start(self, job_id: str, worker: str) -> JobRecord | None:
        body = self._call("POST", f"/jobs/{job_id}/start", _json({"worker": worker}))
        return None if body.strip() == b"null" else JobRecord.from_json(body.decode())

    def input(self, job_id: str) -> bytes:
        return self._call("GET", f"/jobs/{job_id}/input")

    def set_message_id(self, job_id: str, message_id: str) -> JobRecord:
        body = self._call("POST", f"/jobs/{job_id}/message", _json({"message_id": message_id}))
        return JobRecord.from_json(body.decode())

    def fail(self, job_id: str, error: tuple[str, str, str | None]) -> bool:
        return bool(json.loads(self._call("POST", f"/jobs/{job_id}/fail", _json({"error": list(error)})))["stored"])

    def finish(
        self, job_id: str, result: JobResult, data: bytes, thumb: bytes, previews: tuple[tuple[str, bytes], ...] = ()
    ) -> bool:
        files = [(DATA_FILE, data), (THUMB_FILE, thumb), *((PREVIEW_PREFIX + n, b) for n, b in previews)]
        body = _multipart({RESULT_FIELD: json.dumps(result_to_json(result))}, files)
        return bool(json.loads(self._call("POST", f"/jobs/{job_id}/finish", body))["stored"])

    def _call(self, method: str, path: str, body: tuple[bytes, str] | None = None) -> bytes:
        deadline, pause = time.monotonic() + self.patience_s, 0.5
        while True:
            req = urllib.request.Request(self.base + path, method=method, data=body[0] if body else None)
            req.add_header("Authorization", f"Bearer {self.token}")
            if body:
                req.add_header("Content-Type", body[1])
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
                    return bytes(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise JobNotFound(f"The web server has no job {path.split('/')[2]}.") from None
                if e.code not in RETRY_STATUSES:
                    detail = e.read()[:300].decode(errors="replace")
                    raise ServerUnreachable(f"{method} {self.base}{path}: {e.code} {detail}") from None
                problem = f"{e.code}"
            except (urllib.error.URLError, OSError) as e:
                problem = str(getattr(e, "reason", e))
            if time.monotonic() > deadline:
                raise ServerUnreachable(f"{method} {self.base}{path}: no answer for {self.patience_s:g} s ({problem})")
            log.warning("web server not answering (%s); trying again in %.1f s", problem, pause)
            time.sleep(pause)
            pause = min(10.0, pause * 2)


def _json(value: Any) -> tuple[bytes, str]:
    return json.dumps(value).encode(), "application/json"


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
