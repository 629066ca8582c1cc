"""Queued jobs (queue mode): a job's status for the API and the pages, and a /colorize job's result.
Where photos are colorized in this process there are no jobs: 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from model import formats

from ..runtime import BackendDep
from ..serving.job_store import DONE
from ..templating import render

router = APIRouter()
JOB_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such job (or not queue mode)"}}


@router.get("/api/jobs/{job_id}", tags=["jobs"], responses=JOB_RESPONSES, summary="A queued job: status, position")
def job_status(backend: BackendDep, job_id: str) -> dict[str, Any]:
    """`status`: queued (with `position`, 0 = next), running, done (`photo_url`/`page_url` for an album job,
    `result_url` for a /colorize one) or failed (`error`: the same code and status the upload would have got)."""
    return backend.job(job_id)


@router.get("/api/jobs/{job_id}/result", tags=["jobs"], response_class=FileResponse, responses=JOB_RESPONSES)
def job_result(backend: BackendDep, job_id: str) -> FileResponse:
    path, fmt = backend.job_result(job_id)
    return FileResponse(path, media_type=formats.media_type(fmt))


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, backend: BackendDep, job_id: str) -> Response:
    """The no-JavaScript view of a queued upload: reloads itself until the photo is ready."""
    status = backend.job(job_id)
    if status["status"] == DONE and status.get("page_url"):
        return RedirectResponse(status["page_url"], 303)
    return render(request, "job.html", {"job": status})
