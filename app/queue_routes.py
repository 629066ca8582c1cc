"""Queue mode's routes: a job's status for the API and the pages, its result, and what the upload
routes do with an upload when workers elsewhere do the work (see app/queue.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from model import HeirloomError, InvalidOption, formats
from model.job_store import DONE, FAILED, JobRecord
from model.job_store import Request as Asked

from .errors import describe
from .photos import Runtime, read_upload, runtime
from .queue import QueueClient, job_failure
from .templating import render

router = APIRouter()
JOB_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such job (or not queue mode)"}}


def client(rt: Runtime) -> QueueClient:
    from .errors import NotFound

    if rt.queue is None:
        raise NotFound("This server colorizes in its own process; it has no job queue.")
    return rt.queue


async def enqueue_upload(
    rt: Runtime, upload: UploadFile, asked: Asked, kind: str, batch: str | None = None, position: int | None = None
) -> JobRecord:
    """With `batch`: the job is item `position` of that batch (checked first), which it settles when it is
    collected; an upload refused here settles it at once, as in the single-process server."""
    q = client(rt)
    request = q.options(asked.render_size, asked.policy, asked.saturation, asked.format)
    if batch is not None:
        found = await run_in_threadpool(rt.storage.batch, batch)
        if position is None or not 0 <= position < len(found.items):
            raise InvalidOption("position", f"The batch has photos 0 to {len(found.items) - 1}; say which this is.")
    try:
        data = await read_upload(upload, rt.settings.max_upload_bytes)
        name = upload.filename or "photo"
        return await run_in_threadpool(lambda: q.submit(kind, data, request, name=name, batch=batch, position=position))
    except HeirloomError as e:
        if batch is not None and position is not None:
            await run_in_threadpool(rt.storage.settle, batch, position, None, describe(e)[1]["message"])
        raise


async def enqueue_rerun(rt: Runtime, photo_id: str, asked: Asked) -> JobRecord:
    q = client(rt)
    request = q.options(asked.render_size, asked.policy, asked.saturation, asked.format)
    rec = rt.storage.get(photo_id)
    rt.storage.require_writable()
    data = await run_in_threadpool(rt.storage.path(rec, "original").read_bytes)
    return await run_in_threadpool(lambda: q.submit("rerun", data, request, name=rec.name, photo_id=photo_id))


async def colorize_and_wait(rt: Runtime, upload: UploadFile, asked: Asked) -> Response:
    """POST /colorize in queue mode: queue, wait (bounded), answer with the bytes, forget the job."""
    q = client(rt)
    job = await enqueue_upload(rt, upload, asked, "colorize")
    rec = await q.wait(job.id, rt.settings.wait_timeout_s)
    if rec.status == FAILED:
        await run_in_threadpool(q.jobs.delete, rec.id)
        raise job_failure(rec)
    assert rec.result is not None
    data = await run_in_threadpool(q.jobs.result_path(rec).read_bytes)
    await run_in_threadpool(q.jobs.delete, rec.id)
    fmt = rec.result.format
    return Response(
        data,
        media_type=formats.media_type(fmt),
        headers={"Content-Disposition": f'inline; filename="colorized.{formats.extension(fmt)}"'},
    )


def accepted(rt: Runtime, job: JobRecord) -> JSONResponse:
    """202 + the job's status and where to follow it."""
    body = client(rt).status(job.id)
    return JSONResponse(body, 202, headers={"Location": body["url"]})


@router.get("/api/jobs/{job_id}", tags=["jobs"], responses=JOB_RESPONSES, summary="A queued job: status, position")
def job_status(request: Request, job_id: str) -> dict[str, Any]:
    """`status`: queued (with `position`, 0 = next), running, done (`photo_url`/`page_url` for an album job,
    `result_url` for a /colorize one) or failed (`error`: the same code and status the upload would have got)."""
    return client(runtime(request)).status(job_id)


@router.get("/api/jobs/{job_id}/result", tags=["jobs"], response_class=FileResponse, responses=JOB_RESPONSES)
def job_result(request: Request, job_id: str) -> FileResponse:
    q = client(runtime(request))
    rec = q.get(job_id)
    if rec.status != DONE or rec.result is None or not q.jobs.result_path(rec).exists():
        from .errors import NotFound

        raise NotFound("This job has no result (yet, or any more: album photos are under /api/photos).")
    return FileResponse(q.jobs.result_path(rec), media_type=formats.media_type(rec.result.format))


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, job_id: str) -> Response:
    """The no-JavaScript view of a queued upload: reloads itself until the photo is ready."""
    status = client(runtime(request)).status(job_id)
    if status["status"] == DONE and status.get("page_url"):
        return RedirectResponse(status["page_url"], 303)
    return render(request, "job.html", {"job": status})
