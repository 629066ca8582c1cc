"""`heirloom jobs`: the operator's tools for queue mode, on the same data directory and Redis as `heirloom serve
--broker` and `heirloom worker` (the same settings: flags over `HEIRLOOM_*` over the defaults).

  list [--status S]   one line per job: id, kind, status, attempts, age, name (and whether the queue is paused)
  retry JOB_ID        a failed album job queued again, as new
  cancel JOB_ID       a queued job failed with "cancelled by the operator"; a worker that gets it skips it
  pause / resume      workers start no job while paused (app/serving/pause.py); uploads are still queued
  prune [--days N]    the retention sweep the web side runs hourly (app/serving/retention.py), now

A typed error (no such job, a job in a state that does not allow it, Redis out of reach) prints one line and
exits 2. Imports no model and no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from dramatiq.brokers.redis import RedisBroker

from model.errors import HeirloomError, JobCancelled, error_to_wire

from ..safe_files import ID_PATTERN
from ..settings import Settings
from . import broker as jq
from . import pause
from .job_store import FINISHED, QUEUED, RUNNING, JobNotFound, JobRecord, JobStore

STATUSES = (QUEUED, RUNNING, *FINISHED)
CANCELLED = (
    "This photo was cancelled by the operator before it was colorized; nothing was stored. "
    "Upload it again to have it colorized."
)
ALBUM_DATABASE = "heirloom.sqlite3"  # app/album/storage.py's SQLite file in the data directory


class QueueNotReachable(HeirloomError):
    pass


class NoJobsHere(HeirloomError):
    pass


def age(seconds: float) -> str:
    """3 s, 12 min, 5 h, 2 d: as long as a person needs."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(0.0, seconds):.0f} s"


def line(rec: JobRecord, now: float) -> str:
    return f"{rec.id}  {rec.kind:<8}  {rec.status:<7}  {rec.attempts:>8}  {age(now - rec.created):>7}  {rec.name}"


class Operator:
    def __init__(self, settings: Settings, out: Callable[[str], None] = print):
        self.settings, self.out = settings, out

    @cached_property
    def jobs(self) -> JobStore:
        data = self.settings.data_dir
        if not (data / "jobs").is_dir():  # a mistyped path must not get a jobs/ folder made for it
            raise NoJobsHere(f"{data} holds no jobs: give the data directory `heirloom serve --broker` uses")
        return JobStore(data)

    def _broker(self) -> RedisBroker:
        if not self.settings.broker_url:
            raise QueueNotReachable("give the queue: --broker redis://… (or HEIRLOOM_BROKER_URL)")
        broker = jq.make_broker(self.settings.broker_url, self.settings.redelivery_s)
        try:
            jq.waiting(broker)  # reachable, before anything changes
        except jq.BrokerUnavailable as e:
            broker.close()
            raise QueueNotReachable(f"Redis at {self.settings.broker_url} cannot be reached ({e})") from None
        return broker

    def list(self, status: str | None) -> int:
        now = time.time()
        records = []
        for job_id in self.jobs.ids():
            try:
                records.append(self.jobs.get(job_id))
            except JobNotFound:  # removed meanwhile (retention, a /colorize answered)
                continue
        records.sort(key=lambda r: r.created)
        shown = [r for r in records if status is None or r.status == status]
        self.out(f"{'id':<24}  {'kind':<8}  {'status':<7}  {'attempts':>8}  {'age':>7}  name")
        for rec in shown:
            self.out(line(rec, now))
        self.out(f"{len(shown)} job(s){f' {status}' if status else ''}{self._paused_note()}")
        return 0

    def _paused_note(self) -> str:
        if not self.settings.broker_url:
            return ""
        broker = self._broker()
        try:
            since = pause.paused_since(broker)
        finally:
            broker.close()
        return "" if since is None else f"; the queue is PAUSED (for {age(time.time() - since)}: heirloom jobs resume)"

    def retry(self, job_id: str) -> int:
        self.jobs.get(job_id)  # an unknown id is told before Redis is asked
        broker = self._broker()
        try:
            rec = self.jobs.requeue(job_id)
            self.jobs.set_message_id(job_id, jq.enqueue(broker, job_id, jq.lane(rec.batch)))
        finally:
            broker.close()
        self.out(f"job {job_id} queued again")
        return 0

    def cancel(self, job_id: str) -> int:
        self.jobs.cancel(job_id, error_to_wire(JobCancelled(CANCELLED)))
        self.out(f"job {job_id} cancelled")
        return 0

    def pause(self, on: bool) -> int:
        broker = self._broker()
        try:
            if on:
                pause.pause(broker)
                self.out("paused: workers start no new job until `heirloom jobs resume` (uploads are still queued)")
            else:
                was = pause.resume(broker)
                self.out("resumed: workers take jobs again" if was else "the queue was not paused")
        finally:
            broker.close()
        return 0

    def prune(self, days: float | None) -> int:
        from ..album.metadata import PhotoIndex
        from .retention import prune

        s = self.settings
        days = s.retention_days if days is None else days
        if days <= 0:
            self.out("retention is off (0 days): nothing removed")
            return 0
        index = None
        if s.database_url or (s.data_dir / ALBUM_DATABASE).exists():  # else no album: no batches to look at
            index = PhotoIndex(s.data_dir / ALBUM_DATABASE, url=s.database_url)
        try:
            pruned = prune(s.data_dir, index.batches if index else None, days)
        finally:
            if index is not None:
                index.close()
        self.out(f"removed {pruned} (older than {days:g} days)")
        return 0


def ids_last(argv: list[str]) -> list[str]:
    """A job id may begin with '-' (ids are URL-safe base64), which argparse would take for an option: such
    an id (no option is 22 characters of that alphabet) goes after `--`, where only positionals are read."""
    ids = [a for a in argv if a.startswith("-") and ID_PATTERN.match(a)]
    return [a for a in argv if a not in ids] + (["--", *ids] if ids else [])


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    p = argparse.ArgumentParser(prog="heirloom jobs", description="Queue mode's jobs: list, retry, cancel, pause.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--broker", dest="broker_url", help="redis://host:6379/0 ($HEIRLOOM_BROKER_URL)")
    common.add_argument("--data-dir", type=Path, help="the shared data directory ($HEIRLOOM_DATA_DIR)")
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", parents=[common], help="one line per job, oldest first")
    ls.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    sub.add_parser("retry", parents=[common], help="queue a failed album job again").add_argument("job_id")
    sub.add_parser("cancel", parents=[common], help="fail a queued job: cancelled by the operator").add_argument(
        "job_id"
    )
    sub.add_parser("pause", parents=[common], help="workers start no new job (uploads are still queued)")
    sub.add_parser("resume", parents=[common], help="workers take jobs again")
    pr = sub.add_parser("prune", parents=[common], help="remove what retention lets go, now")
    pr.add_argument("--days", type=float, help="older than this (default: $HEIRLOOM_RETENTION_DAYS or 30)")
    a = p.parse_args(ids_last(sys.argv[1:] if argv is None else argv))
    try:
        settings = Settings.from_env(broker_url=a.broker_url, data_dir=a.data_dir)
    except ValueError as e:
        p.error(str(e))
    return a, settings


def main(argv: list[str] | None = None) -> int:
    a, settings = parse(argv)
    op = Operator(settings)
    actions: dict[str, Callable[[], int]] = {
        "list": lambda: op.list(a.status),
        "retry": lambda: op.retry(a.job_id),
        "cancel": lambda: op.cancel(a.job_id),
        "pause": lambda: op.pause(True),
        "resume": lambda: op.pause(False),
        "prune": lambda: op.prune(a.days),
    }
    try:
        return actions[a.action]()
    except (HeirloomError, jq.BrokerUnavailable) as e:
        print(f"heirloom jobs: {e}", file=sys.stderr)
        return 2
