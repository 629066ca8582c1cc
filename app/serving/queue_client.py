"""Queue mode (`heirloom serve --broker redis://…`): the web side of colorize jobs. An upload gets the
cheap checks (size, format, pixels from the header), is stored as a job on the shared data directory
and queued; `heirloom worker`s do the work. This process loads no model.

Album jobs are finished here: a finished `add` job becomes the album photo of the job's own id (so
storing it twice finds it stored), a finished `rerun` adds a version to its photo (its favourite). A
background loop collects them, so an album fills even when no page is watching; reading a job's status
collects it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from model import HeirloomError
from model.errors import JobTimeout, error_from_wire
from model.header_check import check_header
from model.hints import hints_json, parse_hints
from model.options import ColorizeOptions

from ..album.storage import Storage
from ..album.versions import Rendering
from ..errors import NotFound, QueueFull, QueueUnavailable, TooManyVersions, describe
from ..settings import Settings
from . import broker as jq
from .contract import ModelId, ModelProfile, Request
from .job_store import DONE, FAILED, QUEUED, JobNotFound, JobRecord, JobStore
from .log_once import LogOnce

log = logging.getLogger("heirloom.app")
QUEUE_FULL_RETRY_S = 30  # Retry-After of an upload refused by a full queue
PROFILE_TTL_S = 5.0  # how long the workers' model profile is trusted before it is read again
COLLECT_EVERY_S = 0.5
ANY_RENDER_SIZE = 256  # before any worker announced its model: a stand-in default, so the given values get checked
RECOVER_EVERY_S = 60.0  # look for jobs whose message Redis lost (restarted without its data, flushed)
RECOVER_AFTER_S = 30.0  # …among jobs at least this old (a younger one may be between create and enqueue)
RESTART_RECOVER_AFTER_S = 1.0  # …after Redis restarted: create-to-enqueue takes milliseconds
WATCH_EVERY_S = 2.0  # how often the collector asks Redis whether it restarted (one INFO call)
BUSY_NOTICE = (
    "The server is busy for a moment (its job queue cannot be reached). Your photo is safe and will be "
    "colorized when the queue is back; there is no need to upload it again."
)


class QueueClient:
    def __init__(self, settings: Settings, storage: Storage):
        assert settings.broker_url is not None
        self.settings = settings
        self.storage = storage
        self.broker = jq.make_broker(settings.broker_url, settings.redelivery_s)
        self.jobs = JobStore(settings.data_dir)
        self._profile: tuple[float, ModelProfile | None] = (0.0, None)
        self._run_id: str | None = None  # Redis's, to notice a restart
        with contextlib.suppress(jq.BrokerUnavailable):  # Redis away at start: the collector keeps trying
            if warning := jq.persistence_warning(self.broker):
                log.warning("queue: %s", warning)

    # --- before queueing ------------------------------------------------------------------------

    def profile(self) -> ModelProfile | None:
        at, profile = self._profile
        if time.monotonic() - at > PROFILE_TTL_S:
            profile = self._call(jq.model_profile, self.broker)
            self._profile = (time.monotonic(), profile)
        return profile

    def options(self, asked: Request) -> Request:
        """The options as given, validated as far as this side can (422 now rather than a failed job):
        fully against the workers' model once one has announced it, else all but the render size's multiple
        and whether the model takes hints."""
        profile = self.profile()
        opts = (
            profile.resolve(asked)
            if profile is not None
            else ColorizeOptions.make(
                ANY_RENDER_SIZE,
                1,
                render_size=asked.render_size,
                policy=asked.policy,
                saturation=asked.saturation,
                format=asked.format,
                hints=asked.hints,
            )
        )
        hints = hints_json(opts.hints) if opts.hints else None  # canonical: what the version will record
        return Request(asked.render_size, asked.policy or None, asked.saturation, opts.format, hints)

    def form_defaults(self) -> ColorizeOptions | None:
        """The workers' model's own defaults for the forms; None while unknown (or Redis is away: the
        page still shows, and the upload will say what is wrong)."""
        try:
            profile = self.profile()
        except QueueUnavailable:
            return None
        return None if profile is None else profile.options()

    def submit(
        self,
        kind: str,
        data: bytes,
        request: Request,
        *,
        name: str = "photo",
        photo_id: str | None = None,
        batch: str | None = None,
        position: int | None = None,
    ) -> JobRecord:
        """Check the upload's header, store the job, queue it (blocking: call from a thread)."""
        waiting = self._call(jq.waiting, self.broker)
        if waiting >= self.settings.max_queued:  # back-pressure: refused before anything is stored
            raise QueueFull(
                f"{waiting} photos are waiting for a colorizing worker, the most this server queues; "
                "please retry shortly.",
                QUEUE_FULL_RETRY_S,
            )
        if kind != "rerun":
            check_header(data, self.settings.max_pixels)
        if kind != "colorize":
            self.storage.require_writable()
        rec = self.jobs.create(
            kind,
            data,
            request,
            name=name,
            photo_id=photo_id,
            thumbnail=kind != "colorize",
            batch=batch,
            position=position,
        )
        try:
            message_id = self._call(jq.enqueue, self.broker, rec.id, jq.lane(rec.batch))
        except QueueUnavailable:
            self.jobs.delete(rec.id)  # the client hears "nothing was queued": so nothing may run later
            raise
        return self.jobs.set_message_id(rec.id, message_id)

    # --- after ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        try:
            return self.jobs.get(job_id)
        except JobNotFound:
            raise NotFound("There is no job with this id.") from None

    async def wait(self, job_id: str, timeout_s: float) -> JobRecord:
        """The finished record, or JobTimeout-like 504 when it takes longer than `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        pause = 0.02
        while True:
            rec = await run_in_threadpool(self.get, job_id)
            if rec.status in (DONE, FAILED):
                return rec
            if time.monotonic() > deadline:
                raise JobTimeout(
                    f"This photo was not finished within {timeout_s:g} s (job {job_id}, {rec.status}); "
                    f"it stays queued: follow it at /api/jobs/{job_id}."
                )
            await asyncio.sleep(pause)
            pause = min(0.25, pause * 1.5)

    def status(self, job_id: str) -> dict[str, Any]:
        """The job as the API shows it; an album job is 'done' once its photo is in the album."""
        rec = self.get(job_id)
        if rec.kind != "colorize" and rec.status in (DONE, FAILED) and not rec.collected:
            with contextlib.suppress(HeirloomError):  # a full disk now: the loop tries again later
                rec = self.collect(job_id)
        status = rec.status
        if status == DONE and rec.kind != "colorize" and not rec.collected:
            status = "running"
        position, notice = None, None
        if status == QUEUED:
            try:
                position = self._position(rec)
            except QueueUnavailable:  # the record is the truth: the job waits, the queue comes back
                notice = BUSY_NOTICE
        body: dict[str, Any] = {
            "id": rec.id,
            "kind": rec.kind,
            "status": status,
            "position": position,
            "notice": notice,
            "attempts": rec.attempts,
            "created": rec.created,
            "started": rec.started,
            "finished": rec.finished,
            "name": rec.name,
            "url": f"/api/jobs/{rec.id}",
            "error": None,
        }
        if rec.error is not None:
            http, err, _ = describe(error_from_wire(rec.error))
            body["error"] = {**err, "status": http}
        if status == DONE and rec.kind == "colorize":
            body["result_url"] = f"/api/jobs/{rec.id}/result"
        if status == DONE and rec.photo_id:
            body["photo_id"] = rec.photo_id
            body["photo_url"] = f"/api/photos/{rec.photo_id}"
            body["page_url"] = f"/photos/{rec.photo_id}"
        return body

    def _position(self, rec: JobRecord) -> int:
        if rec.message_id is None:
            return 0
        pos = self._call(jq.position, self.broker, rec.message_id, jq.lane(rec.batch))
        return 0 if pos is None else pos  # fetched by a worker, about to start

    def collect(self, job_id: str) -> JobRecord:
        """Store a finished album job's result in the album (once), then drop the job's copies.
        A /colorize job is its waiting request's to read and delete; one whose client gave up is deleted
        once nobody can be waiting for it any more."""
        rec = self.jobs.get(job_id)
        if rec.kind == "colorize":
            if rec.finished is not None and time.time() - rec.finished > self.settings.wait_timeout_s + 60:
                self.jobs.delete(job_id)
            return rec
        if rec.collected or rec.status not in (DONE, FAILED):
            return rec
        rec = self.jobs.collect(job_id, self._store_in_album)
        if rec.status == DONE:
            self.jobs.drop_files(job_id)
        return rec

    def _store_in_album(self, rec: JobRecord) -> str:
        """-> the album photo's id (none for a failed job); a batch's item is settled either way."""
        if rec.status == FAILED or rec.result is None:
            if rec.batch is not None and rec.position is not None and rec.error is not None:
                message = describe(job_failure(rec))[1]["message"]
                self.storage.settle(rec.batch, rec.position, None, message)
            return rec.photo_id or ""
        photo_id = self._store_result(rec)
        if rec.batch is not None and rec.position is not None and photo_id:
            if not self.storage.settle(rec.batch, rec.position, photo_id):
                # The same place uploaded twice: the first stored keeps it, this copy goes.
                self.storage.delete(photo_id)
                return self.storage.batch(rec.batch).items[rec.position].photo_id or ""
        return photo_id

    def _store_result(self, rec: JobRecord) -> str:
        assert rec.result is not None
        result, folder = rec.result, self.jobs.folder(rec.id)
        data, thumb = (folder / result.file).read_bytes(), (folder / result.thumb_file).read_bytes()
        r = Rendering(
            data,
            result.format,
            thumb,
            ColorizeOptions(
                result.render_size, result.policy, result.saturation, result.format, parse_hints(result.hints)
            ),
            ModelId(result.model_name, result.model_sha256),
            tuple((name, (folder / result.preview_file(name)).read_bytes()) for name in result.previews),
        )
        if rec.kind == "rerun":
            assert rec.photo_id is not None
            try:
                self.storage.get(rec.photo_id)
                self.storage.require_version_room(rec.photo_id)
            except (NotFound, TooManyVersions):  # deleted (or trashed, or full) while its re-run waited
                return ""
            self.storage.add_version(rec.photo_id, r, version_id=job_version_id(rec.id))
            return rec.photo_id
        try:
            return self.storage.get(rec.id).id  # stored before a crash, not marked
        except NotFound:
            pass
        photo = self.storage.add(
            name=rec.name,
            original=self.jobs.input(rec.id),
            original_format=result.source_format,
            width=result.width,
            height=result.height,
            r=r,
            photo_id=rec.id,
        )
        return photo.id

    def collect_ready(self) -> int:
        done = 0
        for job_id in self.jobs.uncollected():
            try:
                self.collect(job_id)
                done += 1
            except JobNotFound:
                continue
            except HeirloomError as e:  # full or read-only disk, a photo deleted meanwhile: log, go on
                log.error("queue: job %s could not be stored in the album: %s", job_id, e)
        return done

    def requeue_lost(self, min_age_s: float = RECOVER_AFTER_S) -> list[str]:
        """Queue again the unfinished jobs that Redis no longer holds (the job records are the truth).
        A job queued twice this way still runs at most once to completion: its result is stored once."""
        again = []
        for job_id in self.jobs.not_finished():
            try:
                rec = self.jobs.get(job_id)
            except JobNotFound:
                continue
            if rec.status in (DONE, FAILED) or time.time() - rec.created < min_age_s:
                continue
            if rec.message_id is not None and self._call(jq.is_known, self.broker, rec.message_id):
                continue
            self.jobs.set_message_id(job_id, self._call(jq.enqueue, self.broker, job_id, jq.lane(rec.batch)))
            again.append(job_id)
        if again:
            log.warning("queue: %d job(s) were not in Redis any more and were queued again", len(again))
        return again

    def redis_restarted(self) -> bool:
        """Has Redis restarted since the last look (a new run id)? Then a Redis without appendonly has lost
        its messages, and the jobs it held are queued again now rather than at the next minute's round."""
        run_id = self._call(jq.server_run_id, self.broker)
        restarted = self._run_id is not None and run_id != self._run_id
        if restarted:
            log.warning("queue: Redis restarted; queueing again the jobs it no longer holds")
        self._run_id = run_id
        return restarted

    async def collector(self) -> None:
        """Store finished jobs; every 2 s ask Redis whether it restarted (then queue again at once what it
        lost), every minute look for lost messages anyway. Each concern logs an outage once and its end once."""
        last_recovery = last_watch = 0.0
        trouble = LogOnce(log, "queue: collecting finished jobs")  # the data directory, the album
        redis_trouble = LogOnce(log, "queue: looking after Redis")
        while True:
            try:
                await run_in_threadpool(self.collect_ready)
                trouble.succeeded()
            except Exception as e:  # keep collecting whatever one round met (a full disk: try again later)
                trouble.failed(e)
            now = time.monotonic()
            watch, recover = now - last_watch > WATCH_EVERY_S, now - last_recovery > RECOVER_EVERY_S
            last_watch, last_recovery = (now if watch else last_watch), (now if recover else last_recovery)
            try:
                if watch and await run_in_threadpool(self.redis_restarted):
                    await run_in_threadpool(self.requeue_lost, RESTART_RECOVER_AFTER_S)
                if recover:
                    await run_in_threadpool(self.requeue_lost)
                if watch or recover:
                    redis_trouble.succeeded()
            except Exception as e:  # Redis away: try again at the next round
                redis_trouble.failed(e)
            await asyncio.sleep(COLLECT_EVERY_S)

    def health(self) -> dict[str, Any]:
        return {
            "waiting": self._call(jq.waiting, self.broker),
            "workers": self._call(jq.live_workers, self.broker, self.settings.redelivery_s),
        }

    def close(self) -> None:
        self.broker.close()

    @staticmethod
    def _call(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except jq.BrokerUnavailable as e:
            raise QueueUnavailable(f"The job queue cannot be reached ({e}); nothing was queued.") from e


@contextlib.asynccontextmanager
async def running(settings: Settings, storage: Storage) -> AsyncIterator[QueueClient]:
    """The client and its collecting loop, for the app's lifespan."""
    client = QueueClient(settings, storage)
    task = asyncio.create_task(client.collector())
    try:
        yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        client.close()


def job_version_id(job_id: str) -> str:
    """A re-run job's version id (8 hex digits, as the album's own): the same job adds one version, however
    many times its result is stored (a crash between storing and marking it collected)."""
    return hashlib.sha256(job_id.encode()).hexdigest()[:8]


def job_failure(rec: JobRecord) -> HeirloomError:
    """A failed job's typed error, to raise where the client waits (POST /colorize)."""
    assert rec.error is not None
    return error_from_wire(rec.error)
