"""Worker processes: untrusted bytes are decoded and colorized in child processes, so a crash or a
hang in native code (OpenCV, libtiff, a codec) costs one request, never the process that serves.

The interface is small and knows nothing of the web framework, so a queue worker on another machine
can reuse it as it is:

- `Job`: the upload's bytes and validated `ColorizeOptions`; `Outcome`: the encoded result (and a
  thumbnail); `run_job(colorizer, job)` (job_work.py) is the work itself, the same in a child or in-process.
- `WorkerProcess`: one child holding its own `Colorizer` (built from a `WorkerSpec`), one job at a
  time. `run(job, timeout_s)` returns an `Outcome` or raises a typed error: the engine's own
  (`UnreadableImage`, `WorkTooLarge`…), `JobTimeout` (the child was killed), `WorkerCrashed` (the
  child died; the photo is failed). A dead or killed child is replaced on the next job.
- `ProcessPool`: N of them behind a blocking, thread-safe `run(job)`. A child killed by SIGKILL was
  killed from outside (the OOM killer, an operator; the photo's own excesses hit RLIMIT_AS or the
  timeout first), so its job runs once more on a fresh child before the photo is blamed; a second kill
  fails it, as `OutOfMemory` when the kernel's OOM counter moved.

Children start from a fork server that has already imported torch and OpenCV (fast, and no fork of
a threaded parent). Each child caps its own address space (RLIMIT_AS) at its size after loading
the model plus the work budget, so an allocation the budget did not foresee fails in the child.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import resource
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from model.errors import CheckpointError, HeirloomError, JobTimeout, OutOfMemory, WorkerCrashed, WorkTooLarge
from model.errors import error_from_wire as error_from_wire  # re-exported: the wire format lives with the errors
from model.errors import error_to_wire as error_to_wire

from .contract import Job, ModelProfile, Outcome
from .job_work import WorkerSpec, run_job

# What the fork server preloads: the heavy libraries only. Our own modules load in each child (milliseconds):
# preloading them made every 12-MP photo ~70 ms slower in the children (measured, 0.39 vs 0.32 s).
ENGINE_MODULES = ["torch", "cv2", "PIL.Image", "pillow_heif", "safetensors.torch"]

log = logging.getLogger("heirloom.worker")

STARTUP_S = 120.0  # loading torch and the weights, on a busy machine
ADDRESS_SLACK = 1 << 30  # thread stacks and malloc arenas beyond the budget


def _vm_size() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(conn: Connection, spec: WorkerSpec) -> None:
    """A worker's life: build the Colorizer, cap the address space, then one job after another."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it closes us
    try:
        if spec.torch_threads:
            import torch

            torch.set_num_threads(spec.torch_threads)
        colorizer = spec.build()
    except HeirloomError as e:
        conn.send(("failed", error_to_wire(e)))
        return
    if spec.limit_memory and colorizer.device.type == "cpu":
        cap = _vm_size() + spec.max_work_bytes + ADDRESS_SLACK
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        cap = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    conn.send(("ready", spec.profile(colorizer)))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            conn.send(("ok", run_job(colorizer, job)))
        except HeirloomError as e:
            conn.send(("error", error_to_wire(e)))
        except MemoryError:
            conn.send(
                (
                    "fatal",
                    error_to_wire(
                        WorkTooLarge(
                            "This photo needed more memory than one request may use; choose a smaller render size."
                        )
                    ),
                )
            )
            return  # start afresh: a failed allocation may have left the heap fragmented
        except Exception:
            conn.send(("internal", traceback.format_exc()))
            return


_context: Any = None
_context_lock = threading.Lock()


def _mp_context() -> Any:
    """The fork server, preloaded with this module (torch, OpenCV, Pillow), started once per process."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(ENGINE_MODULES)
            _context = ctx
        return _context


def prestart_engine() -> None:
    """Start the fork server (it imports torch and OpenCV) in the background now, so that those imports
    overlap the caller's own; the worker processes then start from it."""

    def start() -> None:
        from multiprocessing import forkserver

        _mp_context()  # sets the preload list first
        forkserver.ensure_running()

    threading.Thread(target=start, daemon=True, name="heirloom-forkserver").start()


class EngineKilled(WorkerCrashed):
    """The child died of SIGKILL: killed from outside, so the pool tries its job once more."""


# Where the kernel counts its OOM kills: the container's cgroup (v2), else the whole machine (Linux >= 4.13).
OOM_COUNTERS = (("/sys/fs/cgroup/memory.events", "oom_kill"), ("/proc/vmstat", "oom_kill"))


def oom_kills() -> int | None:
    """The kernel's count of OOM kills (None where it keeps none we can read)."""
    for path, key in OOM_COUNTERS:
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class WorkerProcess:
    """One child process and the pipe to it. Not thread-safe: one caller at a time (ProcessPool)."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self._proc: Any = None
        self._conn: Connection | None = None
        self.started_at = 0.0
        self.profile: ModelProfile | None = None  # what the child's model is, once it is ready
        self.starts = 0  # children started, the first included

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def start(self, timeout_s: float = STARTUP_S) -> None:
        self.kill()
        self.started_at = 0.0  # until the new child is ready
        ctx = _mp_context()
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(child, self.spec), daemon=True, name="heirloom-worker")
        proc.start()
        self.starts += 1
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(timeout_s):
            self.kill()
            raise CheckpointError(f"A worker process did not start within {timeout_s:.0f} s.")
        try:
            kind, payload = parent.recv()
        except (EOFError, OSError):
            code = self._reap()
            raise CheckpointError(f"A worker process died while loading the model ({_death(code)}).") from None
        if kind != "ready":
            self.kill()
            raise error_from_wire(payload)
        self.profile = payload
        self.started_at = time.monotonic()

    def run(self, job: Job, timeout_s: float) -> Outcome:
        if not self.alive:
            self.start()  # replaces a child that died between jobs (not this photo's doing)
        conn = self._conn
        assert conn is not None
        try:
            conn.send(job)
            if not conn.poll(timeout_s):
                self.kill()
                raise JobTimeout(
                    f"This photo took longer than the limit of {timeout_s:g} s; it was stopped. "
                    f"Try a smaller render size or a smaller scan."
                )
            kind, payload = conn.recv()
        except (EOFError, OSError):
            code = self._reap()
            log.error("worker process died on a job (%s)", _death(code))
            if code == -signal.SIGKILL:
                raise EngineKilled(_death(code)) from None
            raise WorkerCrashed(
                f"This photo stopped the worker that was decoding or colorizing it "
                f"({_death(code)}); it was not stored. Other photos are not affected."
            ) from None
        if kind == "ok":
            out: Outcome = payload
            return out
        if kind == "internal":
            log.error("worker failed on a job:\n%s", payload)
            self._reap()
            raise RuntimeError("a worker process failed; see the log")
        if kind == "fatal":  # the child answered and is exiting: wait for it, so the next job gets a new one
            self._reap()
        raise error_from_wire(payload)

    def _reap(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        code: int | None = proc.exitcode
        self._close_conn()
        self._proc = None
        return code

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            self._proc = None
        self._close_conn()

    def close(self, wait_s: float = 5.0) -> None:
        """Ask the child to finish, then make sure it has."""
        if self._proc is not None and self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._proc.join(wait_s)
        self.kill()


class ProcessPool:
    """`workers` child processes behind a blocking, thread-safe `run(job)`: the caller's thread waits for
    a free child (callers bound their own concurrency; the web app's admission queue does)."""

    def __init__(self, spec: WorkerSpec, workers: int, timeout_s: float):
        self.spec = spec
        self.timeout_s = timeout_s
        self.workers = [WorkerProcess(spec) for _ in range(workers)]
        self._idle: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        for w in self.workers:
            self._idle.put(w)
        self._busy: dict[int, WorkerProcess] = {}

    def start(self) -> None:
        """Start every child at once (in parallel); raises the first start-up error."""
        problems: list[BaseException] = []

        def start(w: WorkerProcess) -> None:
            try:
                w.start()
            except BaseException as e:  # reported to the caller below
                problems.append(e)

        threads = [threading.Thread(target=start, args=(w,)) for w in self.workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if problems:
            raise problems[0]

    @property
    def profile(self) -> ModelProfile:
        """The model the children loaded (after `start`)."""
        profile = self.workers[0].profile
        if profile is None:
            raise RuntimeError("the worker processes have not started")
        return profile

    def pids(self) -> list[int]:
        return [p for w in self.workers if (p := w.pid) is not None]

    @property
    def restarts(self) -> int:
        """Children started again after a crash, a kill or a timeout (for /metrics)."""
        return sum(max(0, w.starts - 1) for w in self.workers)

    def busy_pids(self) -> list[int]:
        return [p for w in list(self._busy.values()) if (p := w.pid) is not None]

    def run(self, job: Job) -> Outcome:
        w = self._idle.get()
        self._busy[id(w)] = w
        try:
            oom_before = oom_kills()
            try:
                return w.run(job, self.timeout_s)
            except EngineKilled:
                log.warning("worker process killed from outside (SIGKILL): trying its photo once more")
            try:
                return w.run(job, self.timeout_s)  # on a fresh child: run() replaces the dead one
            except EngineKilled:
                oom_after = oom_kills()
                if oom_before is not None and oom_after is not None and oom_after > oom_before:
                    raise OutOfMemory(
                        "The server ran out of memory while colorizing this photo (twice); it was not stored. "
                        "Try again later, or with a smaller render size or scan."
                    ) from None
                raise WorkerCrashed(
                    "The process colorizing this photo was killed from outside twice (SIGKILL); "
                    "it was not stored. Other photos are not affected."
                ) from None
        finally:
            self._busy.pop(id(w), None)
            self._idle.put(w)

    def close(self) -> None:
        for w in self.workers:
            w.close()
