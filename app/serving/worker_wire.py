"""How a job's record and result travel between the worker API (app/routers/worker_api.py, the web side)
and `heirloom worker --server-url` (remote_jobs.py): JSON for records and results, multipart for files.
One module for both ends, so the two can never disagree."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .contract import JobResult

PREFIX = "/api/worker"
RESULT_FIELD, DATA_FILE, THUMB_FILE, PREVIEW_PREFIX = "result", "data", "thumb", "preview-"


def result_to_json(result: JobResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(d: dict[str, Any]) -> JobResult:
    return JobResult(**{**d, "previews": tuple(d.get("previews") or ())})
