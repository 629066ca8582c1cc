"""`heirloom worker`: takes colorize jobs off the Redis queue and stores their results on the shared
data directory. Any number of them, on any machine that reaches Redis and the data directory, CPU or CUDA.

One worker loads the model once (in its engine processes, `processes.ProcessPool`, which decode and
colorize untrusted bytes in children capped by RLIMIT_AS and a timeout) and runs one Dramatiq thread
per engine process. A job's message is acknowledged only after its outcome is stored:

- a result, or a typed error for a bad photo (unreadable, too large, over budget, crashed or hung its
  engine process): stored once, never retried (an engine process killed from outside runs the photo
  once more first: `processes.ProcessPool`);
- the worker itself killed mid-job (kill -9, OOM killer, power): no ack, so the broker gives the job to
  another worker after the redelivery timeout (at once when the worker restarts under its own name:
  `broker.reclaim`); the second start counts, and a job that has been started
  `MAX_ATTEMPTS` times without finishing is failed (`WorkerCrashed`) instead of killing a third worker.

Imports no web framework.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from model.errors import HeirloomError, WorkerCrashed, error_to_wire
from model.hints import hints_json
from model.options import PRECISIONS

from ..settings import Settings
from .contract import Job, JobResult, ModelProfile
from .job_store import JobNotFound, JobRecord, JobStore

log = logging.getLogger("heirloom.queue_worker")
MAX_ATTEMPTS = 2
REDIS_RETRY_S = 1.0  # how often a worker started before Redis looks for it again
CRASHED_TWICE = (
    f"This photo was started {MAX_ATTEMPTS} times and each time the worker colorizing it died; "
    f"it was not tried again. Other photos are not affected."
)


class JobRunner:
    """The work of one message, apart from the broker so that it can be tested without one.
    `run(job) -> Outcome` is `ProcessPool.run` (or a stand-in)."""

    def __init__(self, store: JobStore, run: Any, profile: Any, name: str):
        self.store, self.run, self.profile, self.name = store, run, profile, name

    def __call__(self, job_id: str) -> str:
        """Store the job's outcome; -> what happened ('done', 'failed', 'skipped'). Returning acks."""
        try:
            rec = self.store.start(job_id, self.name)
        except JobNotFound:
            log.warning("job %s is not on the data directory (deleted, or another data directory?)", job_id)
            return "skipped"
        if rec is None:  # redelivered after its outcome was stored: nothing to do but ack
            return "skipped"
        if rec.attempts > MAX_ATTEMPTS:
            self._fail(rec, WorkerCrashed(CRASHED_TWICE))
            return "failed"
        try:
            opts = self.profile.resolve(rec.request)
            out = self.run(Job(self.store.input(job_id), opts, rec.thumbnail))
        except HeirloomError as e:
            self._fail(rec, e)
            return "failed"
        except Exception:  # a bug, not the photo: stored as failed too, so no one waits forever
            log.exception("job %s: unexpected error", job_id)
            self._fail(rec, HeirloomError("The worker failed on this photo; the error is in its log."))
            return "failed"
        result = JobResult(
            out.format,
            out.source_format,
            out.width,
            out.height,
            opts.render_size,
            opts.policy,
            opts.saturation,
            getattr(self.profile, "model_name", ""),
            getattr(self.profile, "model_sha256", ""),
            hints_json(opts.hints) if opts.hints else "",
            tuple(name for name, _ in out.previews),
        )
        stored = self.store.finish(job_id, result, out.data, out.thumb, out.previews)
        log.info("job %s %s (attempt %d)", job_id, "done" if stored else "already done elsewhere", rec.attempts)
        return "done"

    def _fail(self, rec: JobRecord, e: HeirloomError) -> None:
        log.info("job %s failed (attempt %d): %s", rec.id, rec.attempts, e)
        self.store.fail(rec.id, error_to_wire(e))


class QueueWorker:
    """The model's engine processes, a Dramatiq worker on the queue, and a heartbeat thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()

    def run(self) -> int:
        import dramatiq
        from dramatiq.worker import Worker

        from model.checkpoint import DEFAULT_WEIGHTS, read_generator
        from model.pipeline import pick_device
        from model.precision import describe, resolve_precision
        from model.weights_file import sha256_of

        from . import broker as job_queue
        from . import pause
        from .job_work import WorkerSpec
        from .processes import ProcessPool

        s = self.settings
        assert s.broker_url is not None
        # The model itself lives in the engine processes (each loads and checks it); this process reads
        # only the file's header for the options the web side validates against.
        weights = Path(s.weights) if s.weights else DEFAULT_WEIGHTS
        gen = read_generator(weights)
        device = pick_device(s.device)
        running = describe(resolve_precision(s.precision, device), device)
        profile = ModelProfile(
            gen.render_size,
            gen.config.multiple,
            str(device),
            weights.name,
            sha256_of(weights),
            running,
            bool(getattr(gen.config, "hint_channels", 0)),
        )
        del gen
        spec = WorkerSpec(
            str(weights),
            s.device,
            s.max_pixels,
            s.work_bytes,
            s.threads,
            precision=s.precision,
            limit_memory=device.type == "cpu",
        )
        pool = ProcessPool(spec, s.workers, s.request_timeout_s)
        pool.start()
        engine = pool.profile  # what the engine processes measured of the loaded network, for the forms
        profile = replace(profile, footprint=engine.footprint, max_work_bytes=engine.max_work_bytes, hints=engine.hints)
        broker = job_queue.make_broker(s.broker_url, s.redelivery_s, judge=True)
        if s.server_url:  # nothing shared with the web side but Redis: the job store over its worker API
            from .remote_jobs import RemoteJobStore

            assert s.worker_token is not None  # Settings.checked
            store: Any = RemoteJobStore(s.server_url, s.worker_token)
        else:
            store = JobStore(s.data_dir)
        runner = JobRunner(store, pool.run, profile, self.name)

        def colorize(job_id: str) -> None:
            if not pause.hold(broker, self._stop):  # paused and stopping: back on the queue, untouched
                pause.put_back(broker, runner.store, job_id)
                return
            runner(job_id)

        for queue, actor, priority in job_queue.LANES.values():  # the lane of single photos first
            dramatiq.actor(actor_name=actor, queue_name=queue, priority=priority, broker=broker)(colorize)
        worker = Worker(broker, worker_threads=s.workers, worker_timeout=200)
        worker.queue_prefetch = s.workers  # fetch a job only for a free thread: the rest wait in Redis, in order

        beat_s = max(0.2, s.redelivery_s / 4)
        if not self._wait_for_redis(broker):  # stopped while waiting
            pool.close()
            broker.close()
            return 0
        if warning := job_queue.persistence_warning(broker):
            log.warning("%s", warning)
        if job_queue.reclaim(broker, self.name):
            log.info("worker %s restarted: its unfinished jobs go back on the queue now", self.name)
        job_queue.heartbeat(broker, self.name, profile, s.redelivery_s)  # also the maintenance that reclaims
        beats = threading.Thread(
            target=self._beat, args=(broker, profile, beat_s), name="heirloom-heartbeat", daemon=True
        )
        beats.start()
        worker.start()
        log.info("heirloom worker %s: %d engine process(es) on %s", self.name, s.workers, profile.device)
        print(f"heirloom worker ready: {self.name}", flush=True)
        try:
            self._stop.wait()
        finally:
            worker.stop()  # unstarted prefetched messages go back to the queue
            job_queue.leave(broker, self.name)
            pool.close()
            broker.close()
        return 0

    def _wait_for_redis(self, broker: Any) -> bool:
        """A worker started before Redis (a machine's boot, compose without ordering) waits for it;
        -> False when told to stop meanwhile."""
        from . import broker as job_queue

        said = False
        while not self._stop.is_set():
            try:
                job_queue.ping(broker)
                if said:
                    log.info("Redis is up")
                return True
            except job_queue.BrokerUnavailable as e:
                if not said:
                    log.warning("waiting for Redis (%s); trying again every %g s", e, REDIS_RETRY_S)
                    said = True
                self._stop.wait(REDIS_RETRY_S)
        return False

    def _beat(self, broker: Any, profile: Any, every_s: float) -> None:
        from . import broker as job_queue

        while not self._stop.wait(every_s):
            try:
                job_queue.heartbeat(broker, self.name, profile, self.settings.redelivery_s)
            except Exception as e:  # Redis away for a moment: try again at the next beat
                log.warning("heartbeat failed: %s", e)
                continue
            if self.settings.beat_file:
                self.settings.beat_file.touch()

    def stop(self, *_: Any) -> None:
        self._stop.set()


def parse(argv: list[str] | None) -> Settings:
    """Flags over the environment over the defaults: the same settings tree, variables and defaults as
    `heirloom serve` (app/settings.py)."""
    p = argparse.ArgumentParser(
        prog="heirloom worker", description="Colorize jobs from the Redis queue that `heirloom serve --broker` fills."
    )
    p.add_argument("--broker", dest="broker_url", help="redis://host:6379/0 ($HEIRLOOM_BROKER_URL)")
    p.add_argument("--data-dir", type=Path, help="the data directory the web servers use, shared ($HEIRLOOM_DATA_DIR)")
    p.add_argument("--weights", type=Path, help="generator .safetensors (default: shipped; $HEIRLOOM_WEIGHTS)")
    p.add_argument("--device", help="cpu, cuda, cuda:1… (default: CUDA when present)")
    p.add_argument("--precision", choices=PRECISIONS, help="auto (default), float32, bfloat16 ($HEIRLOOM_PRECISION)")
    p.add_argument("--workers", type=int, help="engine processes = jobs at once (default: up to 4, by CPU count)")
    p.add_argument("--torch-threads", type=int, help="torch threads per job (default: cores ÷ workers)")
    p.add_argument("--max-pixels", type=int, help="largest image in pixels ($HEIRLOOM_MAX_PIXELS)")
    p.add_argument(
        "--max-request-mb", type=float, help="peak memory one photo may use, model included (default: by machine)"
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        dest="request_timeout_s",
        help="seconds one photo may take; then it fails with `timeout` ($HEIRLOOM_REQUEST_TIMEOUT)",
    )
    p.add_argument(
        "--redelivery",
        type=float,
        dest="redelivery_s",
        help="seconds without a heartbeat after which a worker counts as dead and its job runs elsewhere "
        "($HEIRLOOM_REDELIVERY_S)",
    )
    p.add_argument("--name", dest="worker_name", help="this worker's name in logs and job records (default host:pid)")
    p.add_argument(
        "--server-url",
        help="a web server (http://host:port) whose worker API hands out the jobs' files: no shared data directory "
        "(needs HEIRLOOM_WORKER_TOKEN; $HEIRLOOM_SERVER_URL)",
    )
    a = p.parse_args(argv)
    fields = ("broker_url", "data_dir", "weights", "device", "precision", "workers", "torch_threads", "max_pixels")
    overrides = {k: getattr(a, k) for k in (*fields, "request_timeout_s", "redelivery_s", "worker_name", "server_url")}
    if a.max_request_mb is not None:
        overrides["max_work_bytes"] = int(a.max_request_mb * 2**20)
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as e:
        p.error(str(e))
    if not settings.broker_url:
        p.error("--broker redis://… (or HEIRLOOM_BROKER_URL) is required")
    return settings


def main(argv: list[str] | None = None) -> int:
    settings = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    worker = QueueWorker(settings)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    try:
        return worker.run()
    except HeirloomError as e:
        print(f"heirloom worker: {e}", file=sys.stderr)
        return 2
