"""The worker API: what a `heirloom worker --server-url` on another machine does to the job store, over
HTTP, instead of on a shared data directory: read a record, start it, fetch its upload, hand in its
result or its typed error. The web side keeps every record; the broker still carries only job ids.

Open only in queue mode with HEIRLOOM_WORKER_TOKEN, and only to that token (app/auth.py: the user's token
does not open it, and the worker's opens nothing else). Not in the API docs: it is not for families."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import NotFound
from ..runtime import BackendDep
from ..serving.job_store import JobNotFound, JobStore
from ..serving.worker_wire import DATA_FILE, PREFIX, PREVIEW_PREFIX, RESULT_FIELD, THUMB_FILE, result_from_json

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_PREVIEWS = 8  # a worker makes three; the form parser refuses more files than this allows


async def _in_store(backend: BackendDep, fn: Any, *args: Any) -> Any:
    store: JobStore = backend.worker_jobs()
    try:
        return await run_in_threadpool(fn, store, *args)
    except JobNotFound:
        raise NotFound("There is no job with this id.") from None


@router.get("/jobs/{job_id}")
async def record(backend: BackendDep, job_id: str) -> Response:
    rec = await _in_store(backend, JobStore.get, job_id)
    return Response(rec.to_json(), media_type="application/json")


@router.post("/jobs/{job_id}/start")
async def start(backend: BackendDep, job_id: str, worker: Annotated[str, Body(embed=True)]) -> Response:
    """Count an attempt; `null` when the job has finished already (a redelivery: nothing to do)."""
    rec = await _in_store(backend, JobStore.start, job_id, worker)
    return Response("null" if rec is None else rec.to_json(), media_type="application/json")


@router.get("/jobs/{job_id}/input")
async def upload(backend: BackendDep, job_id: str) -> Response:
    data = await _in_store(backend, JobStore.input, job_id)
    return Response(data, media_type="application/octet-stream")


@router.post("/jobs/{job_id}/message")
async def message(backend: BackendDep, job_id: str, message_id: Annotated[str, Body(embed=True)]) -> Response:
    rec = await _in_store(backend, JobStore.set_message_id, job_id, message_id)
    return Response(rec.to_json(), media_type="application/json")


@router.post("/jobs/{job_id}/fail")
async def fail(
    backend: BackendDep, job_id: str, error: Annotated[list[str | None], Body(embed=True)]
) -> dict[str, bool]:
    if len(error) != 3 or error[0] is None or error[1] is None:
        raise NotFound("An error travels as [class name, message, field].")
    stored = await _in_store(backend, JobStore.fail, job_id, (error[0], error[1], error[2]))
    return {"stored": stored}


@router.post("/jobs/{job_id}/finish")
async def finish(backend: BackendDep, job_id: str, request: Request) -> dict[str, bool]:
    """The result: its description (JSON) and its files (result, thumbnail, previews), multipart."""
    backend.worker_jobs()  # not open: 404 before a body is read
    async with request.form(max_files=2 + MAX_PREVIEWS, max_fields=1) as form:
        result = result_from_json(json.loads(str(form[RESULT_FIELD])))
        files: dict[str, bytes] = {}
        for name, part in form.multi_items():
            if isinstance(part, UploadFile):
                files[name] = await part.read()
    previews = tuple((n, files[PREVIEW_PREFIX + n]) for n in result.previews)
    stored = await _in_store(backend, JobStore.finish, job_id, result, files[DATA_FILE], files[THUMB_FILE], previews)
    return {"stored": stored}
