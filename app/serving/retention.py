"""Retention (`HEIRLOOM_RETENTION_DAYS`, 0 = keep everything): what is over and older than that many days
goes, so a busy server's data directory does not fill with records nobody reads (a day of tests once left
1,167 job folders):

- job records that are finished and dealt with: an album job stored in the album (or failed and told to its
  batch), a /colorize job (its client had its answer or gave up long ago). A job still queued or running, or
  finished but not yet stored in the album, stays whatever its age;
- half-written job folders (`jobs/tmp`) left by a crash;
- batches that never had every photo stored (a file failed, went missing or never arrived) and have not
  moved for that long, unless a job of theirs is still to be dealt with. Their rows go, never a photo.

Run by the web side once at start and then every hour (`sweeping`), and by hand: `heirloom jobs prune`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from ..album.batch_index import BatchIndex
from .job_store import FINISHED, JobNotFound, JobRecord, JobStore
from .log_once import LogOnce

log = logging.getLogger("heirloom.app")
EVERY_S = 3600.0
DAY_S = 86400.0


@dataclass(frozen=True)
class Pruned:
    jobs: int = 0
    leftovers: int = 0
    batches: int = 0

    def __str__(self) -> str:
        return (
            f"{self.jobs} finished job record(s), {self.leftovers} half-written job folder(s), "
            f"{self.batches} abandoned batch(es)"
        )


def dealt_with(rec: JobRecord) -> bool:
    """Nothing will read or store this job again."""
    return rec.status in FINISHED and (rec.collected or rec.kind == "colorize")


def prune(data_dir: Path, batches: BatchIndex | None, days: float, now: float | None = None) -> Pruned:
    """Remove what `days` of retention let go (see the module's docstring); `batches`: the album's (None: no
    album). -> the counts."""
    if days <= 0:
        return Pruned()
    cutoff = (time.time() if now is None else now) - days * DAY_S
    jobs, leftovers, busy_batches = 0, 0, set()
    if (Path(data_dir) / "jobs").is_dir():  # queue mode, now or before
        store = JobStore(data_dir)
        for job_id in store.ids():
            try:
                rec = store.get(job_id)
            except JobNotFound:  # removed meanwhile (another web server's sweep)
                continue
            if not dealt_with(rec):
                if rec.batch is not None:
                    busy_batches.add(rec.batch)
            elif (rec.finished or rec.created) < cutoff:
                store.delete(job_id)
                jobs += 1
        for entry in list(store.staging.iterdir()):
            with contextlib.suppress(FileNotFoundError):  # finished meanwhile: renamed into place
                if entry.lstat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    leftovers += 1
    return Pruned(jobs, leftovers, batches.delete_abandoned(cutoff, busy_batches) if batches else 0)


@contextlib.asynccontextmanager
async def sweeping(data_dir: Path, batches: BatchIndex, days: float) -> AsyncIterator[None]:
    """The web side's sweep, once now and every hour, for the app's lifespan (nothing with `days` 0)."""

    async def loop() -> None:
        trouble = LogOnce(log, "retention: removing old job records and batches")
        while True:
            try:
                pruned = await run_in_threadpool(prune, data_dir, batches, days)
            except Exception as e:  # the database or the disk away: said once, tried again next hour
                trouble.failed(e)
            else:
                trouble.succeeded()
                log.info("retention (%g days): removed %s", days, pruned)
            await asyncio.sleep(EVERY_S)

    if days <= 0:
        yield
        return
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
