"""HTML pages. Each form works without JavaScript (POST, then a redirect); static/app.js adds
drag & drop, several files at once with progress, and the comparison slider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from model import HeirloomError, InvalidOption
from model.job_store import Request as Asked
from model.options import MAX_RENDER_SIZE, POLICIES, ColorizeOptions

from .auth import COOKIE, LoginLimiter, client_key, safe_next, session_value, token_matches
from .errors import describe
from .metadata import MAX_CAPTION
from .photos import Runtime, create_photo, rerun_photo, runtime
from .queue_routes import enqueue_rerun, enqueue_upload
from .templating import render

router = APIRouter(include_in_schema=False)


# The aspect policies in plain words, in the order of model.options.POLICIES (a test checks both agree).
POLICY_LABELS = {
    "pad-reflect": "Fit whole photo, fill the edges with the photo (recommended)",
    "pad-black": "Fit whole photo, fill the edges with black",
    "stretch": "Stretch to a square",
    "rotate-portrait": "Turn upright photos sideways",
    "center-crop": "Crop to the middle",
    "pad-multiple": "Keep the shape as it is",
}


def _form_defaults(rt: Runtime) -> dict[str, Any]:
    """The form's defaults are the loaded model's own options (render size from its checkpoint)."""
    c = rt.colorizer
    queued = rt.queue.form_defaults() if rt.queue is not None else None
    defaults = c.options() if c else queued or ColorizeOptions.make(256, 32)
    return {
        "policy_labels": {p: POLICY_LABELS.get(p, p) for p in POLICIES},
        "default_policy": defaults.policy,
        "max_render_size": MAX_RENDER_SIZE,
        "default_render_size": defaults.render_size,
        "default_saturation": defaults.saturation,
        "multiple": c.multiple if c else queued.multiple if queued else 32,
        "max_upload_mb": rt.settings.max_upload_bytes // 2**20,
    }


def _form_page(request: Request, name: str, error: HeirloomError | None = None, **context: Any) -> Response:
    """A page with the options form; with `error`, its sentence and its HTTP status (see app.errors)."""
    status, headers = 200, dict[str, str]()
    if error is not None:
        status, body, headers = describe(error)
        context["error"] = body["message"]
        if isinstance(error, InvalidOption) and error.field in ("render_size", "policy", "saturation"):
            context["options_open"] = True  # show the option that was wrong
    return render(request, name, {**_form_defaults(runtime(request)), **context}, status_code=status, headers=headers)


@router.get("/")
def index(request: Request) -> Response:
    return _form_page(request, "index.html")


@router.post("/photos")
async def upload(
    request: Request,
    file: list[UploadFile] = File(...),
    render_size: int | None = Form(None),
    policy: str | None = Form(None),
    saturation: float | None = Form(None),
) -> Response:
    """The no-JavaScript path: one or several files in one form post."""
    rt = runtime(request)
    if rt.queue is not None:
        return await _enqueue_uploads(request, rt, file, Asked(render_size, policy, saturation))
    try:
        opts = rt.require_model().options(render_size, policy, saturation)
        records = [await create_photo(rt, f, opts) for f in file if f.filename]
    except HeirloomError as e:
        return _form_page(request, "index.html", e)
    if not records:
        return _form_page(request, "index.html", InvalidOption("file", "Choose a photo first."))
    target = f"/photos/{records[0].id}" if len(records) == 1 else "/album"
    return RedirectResponse(target, 303)


async def _enqueue_uploads(request: Request, rt: Runtime, files: list[UploadFile], asked: Asked) -> Response:
    """Queue mode: each file becomes a job; one file's page follows its job, several go to the album."""
    try:
        jobs = [await enqueue_upload(rt, f, asked, "add") for f in files if f.filename]
    except HeirloomError as e:
        return _form_page(request, "index.html", e)
    if not jobs:
        return _form_page(request, "index.html", InvalidOption("file", "Choose a photo first."))
    return RedirectResponse(f"/jobs/{jobs[0].id}" if len(jobs) == 1 else "/album", 303)


@router.get("/photos/{photo_id}")
def photo_page(request: Request, photo_id: str) -> Response:
    return _form_page(request, "photo.html", photo=runtime(request).storage.get(photo_id), options_open=True)


@router.post("/photos/{photo_id}/rerun")
async def rerun(
    request: Request,
    photo_id: str,
    render_size: int | None = Form(None),
    policy: str | None = Form(None),
    saturation: float | None = Form(None),
) -> Response:
    rt = runtime(request)
    try:
        if rt.queue is not None:
            job = await enqueue_rerun(rt, photo_id, Asked(render_size, policy, saturation))
            return RedirectResponse(f"/jobs/{job.id}", 303)
        opts = rt.require_model().options(render_size, policy, saturation)
        await rerun_photo(rt, photo_id, opts)
    except HeirloomError as e:
        return _form_page(request, "photo.html", e, photo=rt.storage.get(photo_id), options_open=True)
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/caption")
async def caption(
    request: Request, photo_id: str, who: str = Form(""), where: str = Form(""), when: str = Form("")
) -> Response:
    """The caption form (no JavaScript needed): all three fields, as typed."""
    rt = runtime(request)
    try:
        await run_in_threadpool(lambda: rt.storage.set_caption(photo_id, who=who, where=where, when=when))
    except InvalidOption as e:
        return _form_page(
            request,
            "photo.html",
            e,
            photo=rt.storage.get(photo_id),
            options_open=True,
            caption_typed={"who": who, "where": where, "when": when},
        )
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/delete")
async def delete(request: Request, photo_id: str) -> Response:
    await run_in_threadpool(runtime(request).storage.delete, photo_id)
    return RedirectResponse("/album", 303)


@router.get("/album")
def album(request: Request, q: str = "") -> Response:
    storage = runtime(request).storage
    q = q.strip()[:MAX_CAPTION]
    if q:
        found, photos = storage.search(q, 500)
        return render(request, "album.html", {"photos": photos, "found": found, "total": storage.count(), "q": q})
    return render(request, "album.html", {"photos": storage.newest_first(500), "total": storage.count(), "q": ""})


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
def login(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    settings = runtime(request).settings
    if not settings.token:
        return RedirectResponse(safe_next(next), 303)
    limiter: LoginLimiter = request.app.state.login_limiter
    client = client_key(request.scope)
    wait = limiter.retry_after(client)
    if wait is not None:
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": f"Too many wrong tokens; try again in {wait} s."},
            429,
            headers={"Retry-After": str(wait)},
        )
    if not token_matches(settings, token):
        limiter.failed(client)
        return render(request, "login.html", {"next": safe_next(next), "error": "That token is not right."}, 401)
    response = RedirectResponse(safe_next(next), 303)
    response.set_cookie(
        COOKIE,
        session_value(settings.token),
        max_age=30 * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response
