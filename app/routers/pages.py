"""HTML pages. Each form works without JavaScript (POST, then a redirect); static/app.js adds
drag & drop, several files at once with progress, and the comparison slider."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from model import HeirloomError, InvalidOption
from model.hints import parse_hints
from model.options import MAX_RENDER_SIZE, POLICIES, ColorizeOptions

from ..album.metadata import MAX_CAPTION, SORTS, Record
from ..album.storage import Storage
from ..album.trash import in_trash, move_to_trash, purge_at
from ..album.versions import PREVIEW_SIDES, Version
from ..auth import COOKIE, client_key, safe_next, session_cookie, token_matches
from ..errors import LastVersion, NotFound, describe
from ..runtime import LimiterDep, OptionsDep, Runtime, RuntimeDep, runtime
from ..serving.backend import Queued
from ..templating import ROOT, STATIC, render
from ..wording import POLICY_LABELS, detail_label

router = APIRouter(include_in_schema=False)


def _form_defaults(rt: Runtime) -> dict[str, Any]:
    """The form's defaults are the loaded model's own options (render size from its checkpoint)."""
    known = rt.backend.form_defaults()
    defaults = known or ColorizeOptions.make(256, 32)
    return {
        "policy_labels": {p: POLICY_LABELS.get(p, p) for p in POLICIES},
        "default_policy": defaults.policy,
        "max_render_size": MAX_RENDER_SIZE,
        "default_render_size": defaults.render_size,
        "default_saturation": defaults.saturation,
        "multiple": known.multiple if known else 32,
        "max_upload_mb": rt.settings.max_upload_bytes // 2**20,
        "detail_choices": _details(rt, *TYPICAL_SCAN, defaults.render_size),
        "example_size": _example_size(),  # the home page, also when it comes back with an error
    }


TYPICAL_SCAN = (4000, 3000)  # the upload form cannot know the photo: it offers what fits a 12-MP scan


def _details(rt: Runtime, width: int, height: int, standard: int, deep: bool = False) -> list[tuple[int, str]]:
    """The detail levels a photo of this size fits at on this server, in words (none while the model is unknown:
    the form then takes a number)."""
    return [(s, detail_label(s, standard)) for s in rt.backend.render_sizes(width, height, deep)]


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


@functools.cache
def _example_size() -> tuple[int, int]:
    """The home page's example (static/example/, scripts/make_example.py): its size for the <img> tags."""
    from PIL import Image

    with Image.open(STATIC / "example" / "after.jpg") as im:
        return im.size


@router.post("/photos")
async def upload(
    request: Request,
    rt: RuntimeDep,
    asked: OptionsDep,
    file: list[UploadFile] = File(...),
) -> Response:
    """The no-JavaScript path: one file goes to its photo page (in queue mode: its job's page); several
    become a batch, each colorized in turn (one that fails does not stop the others), and the batch's
    page shows how each went."""
    files = [f for f in file if f.filename]
    try:
        rt.backend.check(asked)  # a bad option is a 422 before any file is read
        if not files:
            raise InvalidOption("file", "Choose a photo first.")
        if len(files) == 1:
            result = await rt.backend.add(files[0], asked)
            return RedirectResponse(result.page if isinstance(result, Queued) else f"/photos/{result.id}", 303)
        rt.storage.require_writable()
        batch = await run_in_threadpool(rt.storage.create_batch, [f.filename or "photo" for f in files])
    except HeirloomError as e:
        return _form_page(request, "index.html", e)
    for position, f in enumerate(files):
        try:
            await rt.backend.add(f, asked, batch.id, position)
        except HeirloomError:
            pass  # recorded in the batch, shown on its page
    return RedirectResponse(f"/batches/{batch.id}", 303)


def _photo(rt: Runtime, photo_id: str, version_id: str | None = None) -> dict[str, Any]:
    """The photo page's context: the photo, its versions and the one shown (the favourite unless asked)."""
    rec = rt.storage.get(photo_id)
    versions = rt.storage.versions(photo_id)
    shown = next((v for v in versions if v.id == version_id), rec.favorite)
    return {
        "photo": rec,
        "versions": versions,
        "shown": shown,
        "srcsets": _srcsets(rt.storage, rec, shown),
        "shown_hints": parse_hints(shown.hints),
        "takes_hints": rt.backend.takes_hints(),
        "options_open": True,
        "detail_choices": _details(rt, rec.width, rec.height, _standard(rt), rec.original_format in DEEP_FORMATS),
    }


def _srcsets(storage: Storage, rec: Record, shown: Version) -> dict[str, str] | None:
    """The compare view's `srcset`s, before and after, from the previews made with the photo (JPEGs any browser
    shows, a few hundred KB); None for photos from before previews (the page shows the full files then)."""
    base = f"/api/photos/{rec.id}"
    sets = {}
    for which, version, url in (("before", None, f"{base}/original"), ("after", shown, f"{base}/versions/{shown.id}")):
        sides = [s for s in PREVIEW_SIDES if storage.preview_path(rec, s, version) is not None]
        if len(sides) < len(PREVIEW_SIDES):
            return None
        scale = [min(1.0, s / max(rec.width, rec.height)) for s in sides]
        sets[which] = ", ".join(f"{url}/preview/{s} {max(1, round(rec.width * k))}w" for s, k in zip(sides, scale))
    return sets


DEEP_FORMATS = ("PNG", "TIFF")  # may hold 16 bits a channel: the larger budget is assumed for them


def _standard(rt: Runtime) -> int:
    known = rt.backend.form_defaults()
    return known.render_size if known else 256


NO_STORE = {"Cache-Control": "no-store"}  # Back after a delete asks again (no photo shown from the page cache)


@router.get("/photos/{photo_id}")
def photo_page(request: Request, rt: RuntimeDep, photo_id: str, v: str | None = None) -> Response:
    try:
        context = _photo(rt, photo_id, v)
    except NotFound:
        try:  # an old link to a photo in the trash says so, with Restore
            rec = in_trash(rt.storage, photo_id)
        except NotFound:
            raise NotFound(
                "There is no photo with this id: it may have been deleted for good. The album lists every photo."
            ) from None
        return render(request, "trashed.html", {"photo": rec, "purge_at": purge_at(rec)}, headers=NO_STORE)
    response = _form_page(request, "photo.html", **context)
    response.headers.update(NO_STORE)
    return response


@router.post("/photos/{photo_id}/versions/{version_id}/favorite")
async def favorite(rt: RuntimeDep, photo_id: str, version_id: str) -> Response:
    await run_in_threadpool(rt.storage.set_favorite, photo_id, version_id)
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/versions/{version_id}/delete")
async def delete_version(request: Request, rt: RuntimeDep, photo_id: str, version_id: str) -> Response:
    try:
        await run_in_threadpool(rt.storage.delete_version, photo_id, version_id)
    except LastVersion as e:
        return _form_page(request, "photo.html", e, **_photo(rt, photo_id, version_id))
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/rerun")
async def rerun(request: Request, rt: RuntimeDep, photo_id: str, asked: OptionsDep) -> Response:
    try:
        result = await rt.backend.rerun(photo_id, asked)
        if isinstance(result, Queued):
            return RedirectResponse(result.page, 303)
    except HeirloomError as e:
        return _form_page(request, "photo.html", e, **_photo(rt, photo_id))
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/caption")
async def caption(
    request: Request, rt: RuntimeDep, photo_id: str, who: str = Form(""), where: str = Form(""), when: str = Form("")
) -> Response:
    """The caption form (no JavaScript needed): all three fields, as typed."""
    try:
        await run_in_threadpool(lambda: rt.storage.set_caption(photo_id, who=who, where=where, when=when))
    except InvalidOption as e:
        return _form_page(
            request,
            "photo.html",
            e,
            **_photo(rt, photo_id),
            caption_typed={"who": who, "where": where, "when": when},
        )
    return RedirectResponse(f"/photos/{photo_id}", 303)


@router.post("/photos/{photo_id}/delete")
async def delete(rt: RuntimeDep, photo_id: str) -> Response:
    await run_in_threadpool(move_to_trash, rt.storage, photo_id)
    return RedirectResponse(f"/album?deleted={photo_id}", 303)


PER_PAGE = 60  # photos on one album page
SORT_LABELS = {"newest": "Newest first", "oldest": "Oldest first", "caption": "By caption (who, where, when)"}


@router.get("/album")
def album(
    request: Request, rt: RuntimeDep, q: str = "", sort: str = "newest", page: int = 1, deleted: str = ""
) -> Response:
    storage = rt.storage
    q, sort, page = q.strip()[:MAX_CAPTION], sort if sort in SORTS else "newest", max(page, 1)
    found, photos = storage.listing(q, sort, PER_PAGE, (page - 1) * PER_PAGE)
    pages = max(1, -(-found // PER_PAGE))

    def url(n: int) -> str:
        return "/album?" + urlencode({k: v for k, v in (("q", q), ("sort", sort), ("page", n)) if v})

    context = {
        "photos": photos,
        "found": found,
        "total": storage.count(),
        "q": q,
        "sort": sort,
        "sort_labels": {k: SORT_LABELS.get(k, k) for k in SORTS},
        "page": page,
        "pages": pages,
        "prev_url": url(page - 1) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
        "deleted": _just_deleted(storage, deleted),
    }
    return render(request, "album.html", context, headers=NO_STORE)


def _just_deleted(storage: Storage, photo_id: str) -> Record | None:
    """The photo a delete has just moved to the trash (the album says so, with Undo); None if it is not there."""
    if not photo_id:
        return None
    try:
        return in_trash(storage, photo_id)
    except NotFound:
        return None


@router.get("/about")
def about(request: Request) -> Response:
    return render(request, "about.html")


@router.get("/about/model-card")
def model_card() -> Response:
    """The technical card, one link from the family's About page (the Markdown as it is in weights/)."""
    card = ROOT / "weights" / "MODEL_CARD.md"
    if not card.is_file():
        raise NotFound("This installation has no model card.")
    return Response(card.read_text(encoding="utf-8"), media_type="text/plain; charset=utf-8")


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
def login(
    request: Request, rt: RuntimeDep, limiter: LimiterDep, token: str = Form(""), next: str = Form("/")
) -> Response:
    settings = rt.settings
    if not settings.token:
        return RedirectResponse(safe_next(next), 303)
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
    rt.sessions.end(request.cookies.get(COOKIE))  # a new login is a new session: the one before ends
    response = RedirectResponse(safe_next(next), 303)
    session_cookie(response, rt.sessions.start(), request, rt.sessions.idle_s)
    return response


@router.post("/logout")
def logout(request: Request, rt: RuntimeDep) -> Response:
    rt.sessions.end(request.cookies.get(COOKIE))  # ended on the server: the cookie is worth nothing any more
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response
