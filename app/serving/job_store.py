"""Queued colorize jobs as files on the data directory that the web servers and the workers share.

Layout:  <data>/jobs/<id>/job.json (the record), input (the upload, byte for byte), result.<ext>,
thumb.jpg.  Markers (empty files), so that nobody lists every job: <data>/jobs/unfinished/<id> for a job
queued or running; <data>/jobs/ready/<id> for a finished job the web side has not dealt with yet (an
album job to store in the album; a /colorize job whose client may have stopped waiting, to delete later).

The broker (Redis) only carries job ids; everything a job is lives here, so a restart of Redis or of a
web server loses no job state, and a worker acknowledges a message only after `finish` or `fail`
returned. Every change of a record happens under that job's `flock`, and a finished job never
changes again: a redelivered job that already has a result is skipped, so each result is stored once.

Small on purpose (create, get, start, finish, fail, collect; and for the operator, `heirloom jobs`: list,
retry, cancel): a database can hold the records later without the worker or the web side changing. Each
outcome stored is counted once in the data directory's tally (`tally.py`, for /metrics). Imports nothing
heavy and nothing of the web framework.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from model.errors import HeirloomError

from ..safe_files import ID_PATTERN, new_id, write_synced
from .contract import JobResult, Request
from .tally import Tally

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)
# What the web side does with a result: answer a waiting /colorize, add a photo to the album, or
# replace an album photo's result (a re-run with other options).
KINDS = ("colorize", "add", "rerun")


class JobNotFound(HeirloomError):
    pass


class JobNotChangeable(HeirloomError):
    """An operator's retry or cancel of a job in a state that does not allow it."""


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    created: float
    status: str = QUEUED
    name: str = "photo"  # the upload's display name (album jobs)
    photo_id: str | None = None  # rerun: the photo to change; add: the photo made, once collected
    request: Request = field(default_factory=Request)
    thumbnail: bool = True
    attempts: int = 0  # how many times a worker started it
    worker: str | None = None  # who ran it last
    message_id: str | None = None  # the broker's id for it, for the queue position
    started: float | None = None
    finished: float | None = None
    result: JobResult | None = None
    error: tuple[str, str, str | None] | None = None  # (class name, message, field), as app.serving.processes sends it
    collected: bool = False  # album jobs: the web side has stored the result in the album
    batch: str | None = None  # an upload of a batch: the batch's id and this photo's place in it
    position: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        d: dict[str, Any] = json.loads(text)
        d["request"] = Request(**d["request"])
        if d.get("result"):
            d["result"]["previews"] = tuple(d["result"].get("previews", ()))  # a JSON list
        d["result"] = JobResult(**d["result"]) if d.get("result") else None
        d["error"] = tuple(d["error"]) if d.get("error") else None
        return cls(**d)


class JobStore:
    def __init__(self, data_dir: Path | str):
        self.root = Path(data_dir) / "jobs"
        self.ready = self.root / "ready"
        self.unfinished = self.root / "unfinished"
        self.staging = self.root / "tmp"
        for folder in (self.root, self.ready, self.unfinished, self.staging):
            folder.mkdir(parents=True, exist_ok=True)
        self.tally = Tally(data_dir)

    def folder(self, job_id: str) -> Path:
        if not ID_PATTERN.match(job_id):
            raise JobNotFound("There is no job with this id.")
        return self.root / job_id

    # --- the web side ---------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        data: bytes,
        request: Request,
        *,
        name: str = "photo",
        photo_id: str | None = None,
        thumbnail: bool = True,
        batch: str | None = None,
        position: int | None = None,
    ) -> JobRecord:
        """The upload and its record, written in a staging folder and renamed into place as one."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        rec = JobRecord(new_id(), kind, time.time(), name=name, photo_id=photo_id, request=request)
        rec = replace(rec, thumbnail=thumbnail, batch=batch, position=position)
        staging = self.staging / rec.id
        staging.mkdir()
        try:
            write_synced(staging / "input", data)
            write_synced(staging / "job.json", rec.to_json().encode())
            os.replace(staging, self.folder(rec.id))
            write_synced(self.unfinished / rec.id, b"")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return rec

    def set_message_id(self, job_id: str, message_id: str) -> JobRecord:
        with self._locked(job_id) as rec:
            return self._save(replace(rec, message_id=message_id))

    def get(self, job_id: str) -> JobRecord:
        path = self.folder(job_id) / "job.json"
        try:
            return JobRecord.from_json(path.read_text())
        except FileNotFoundError:
            raise JobNotFound("There is no job with this id.") from None

    def input(self, job_id: str) -> bytes:
        return (self.folder(job_id) / "input").read_bytes()

    def result_path(self, rec: JobRecord) -> Path:
        if rec.result is None:
            raise JobNotFound("This job has no result.")
        return self.folder(rec.id) / rec.result.file

    def thumb_path(self, rec: JobRecord) -> Path:
        if rec.result is None:
            raise JobNotFound("This job has no result.")
        return self.folder(rec.id) / rec.result.thumb_file

    def uncollected(self) -> list[str]:
        """Finished jobs the web side has not dealt with yet (see the module's docstring)."""
        return sorted(p.name for p in self.ready.iterdir())

    def collect(self, job_id: str, store: Callable[[JobRecord], str]) -> JobRecord:
        """Run `store(record) -> photo id` once for a finished album job, under the job's lock, so that two
        web servers (or a status request and the collecting loop) never both store it; then mark it."""
        with self._locked(job_id) as rec:
            if rec.collected or rec.status not in FINISHED:
                return rec
            rec = self._save(replace(rec, collected=True, photo_id=store(rec)))
        (self.ready / job_id).unlink(missing_ok=True)
        return rec

    def drop_files(self, job_id: str) -> None:
        """Keep the record (for status pages), drop the bytes once the album holds its own copies."""
        rec = self.get(job_id)
        r = rec.result
        made = (r.file, r.thumb_file, *map(r.preview_file, r.previews)) if r else ()
        for name in ("input", *made):
            (self.folder(job_id) / name).unlink(missing_ok=True)

    def delete(self, job_id: str) -> None:
        folder = self.folder(job_id)
        (self.ready / job_id).unlink(missing_ok=True)
        (self.unfinished / job_id).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    # --- the worker side ------------------------------------------------------------------------

    def start(self, job_id: str, worker: str) -> JobRecord | None:
        """Count an attempt and mark the job running; None when it has finished already (a redelivery)."""
        with self._locked(job_id) as rec:
            if rec.status in FINISHED:
                return None
            return self._save(
                replace(rec, status=RUNNING, attempts=rec.attempts + 1, worker=worker, started=time.time())
            )

    def finish(
        self, job_id: str, result: JobResult, data: bytes, thumb: bytes, previews: tuple[tuple[str, bytes], ...] = ()
    ) -> bool:
        """Store the result; False (and nothing written) when the job already finished elsewhere."""
        with self._locked(job_id) as rec:
            if rec.status in FINISHED:
                return False
            folder = self.folder(job_id)
            write_synced(folder / result.file, data)
            write_synced(folder / result.thumb_file, thumb)
            for name, preview in previews:
                write_synced(folder / result.preview_file(name), preview)
            self._mark_ready(self._save(replace(rec, status=DONE, result=result, finished=time.time())))
        self._count(rec, DONE)
        return True

    def fail(self, job_id: str, error: tuple[str, str, str | None]) -> bool:
        """Store the typed error; False when the job already finished elsewhere."""
        with self._locked(job_id) as rec:
            if rec.status in FINISHED:
                return False
            self._mark_ready(self._save(replace(rec, status=FAILED, error=error, finished=time.time())))
        self._count(rec, FAILED)
        return True

    # --- the operator (`heirloom jobs`) ---------------------------------------------------------

    def ids(self) -> list[str]:
        """Every job on the data directory, whatever its state."""
        return sorted(p.name for p in self.root.iterdir() if ID_PATTERN.match(p.name) and p.is_dir())

    def requeue(self, job_id: str) -> JobRecord:
        """A failed album job back to `queued`, as if new (attempts, error and collection undone); the caller
        puts it on the broker's queue. Its batch item, settled as failed, is settled again when it is stored."""
        with self._locked(job_id) as rec:
            if rec.status != FAILED:
                raise JobNotChangeable(f"Job {job_id} is {rec.status}: only a failed job can be retried.")
            if rec.kind == "colorize":
                raise JobNotChangeable(
                    f"Job {job_id} was a POST /colorize, whose client had its answer (or gave up): nobody would "
                    "read a new result. Upload the photo again instead."
                )
            rec = self._save(
                replace(
                    rec,
                    status=QUEUED,
                    attempts=0,
                    worker=None,
                    started=None,
                    finished=None,
                    error=None,
                    collected=False,
                )
            )
            write_synced(self.unfinished / job_id, b"")
        (self.ready / job_id).unlink(missing_ok=True)
        return rec

    def cancel(self, job_id: str, error: tuple[str, str, str | None]) -> JobRecord:
        """A queued job failed with the operator's `error` (its pages say so); a worker that receives its
        message later finds it finished and skips it (`start` returns None)."""
        with self._locked(job_id) as rec:
            if rec.status != QUEUED:
                raise JobNotChangeable(f"Job {job_id} is {rec.status}: only a queued job can be cancelled.")
            rec = self._save(replace(rec, status=FAILED, error=error, finished=time.time()))
            self._mark_ready(rec)
        self.tally.record("cancelled")
        return rec

    # --- inside ---------------------------------------------------------------------------------

    def _count(self, rec: JobRecord, outcome: str) -> None:
        """The tally of an outcome just stored (`rec`: the record as it was started)."""
        now = time.time()
        started = rec.started if rec.started is not None else now
        self.tally.record(outcome, run_s=now - started, wait_s=started - rec.created)

    def _mark_ready(self, rec: JobRecord) -> None:
        write_synced(self.ready / rec.id, b"")
        (self.unfinished / rec.id).unlink(missing_ok=True)

    def not_finished(self) -> list[str]:
        """Jobs queued or running (for finding those whose broker message was lost)."""
        return sorted(p.name for p in self.unfinished.iterdir())

    @contextmanager
    def _locked(self, job_id: str) -> Iterator[JobRecord]:
        folder = self.folder(job_id)
        if not folder.is_dir():
            raise JobNotFound("There is no job with this id.")
        with open(folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # held until the block ends; other processes wait here
            yield self.get(job_id)

    def _save(self, rec: JobRecord) -> JobRecord:
        folder = self.folder(rec.id)
        tmp = folder / f"job.json.{secrets.token_hex(4)}"
        write_synced(tmp, rec.to_json().encode())
        os.replace(tmp, folder / "job.json")  # readers see the old record or the new one, never half
        return rec
