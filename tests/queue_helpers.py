"""The queue tests' shared parts: real servers (a redis-server on a free port, `heirloom worker` processes,
the web app in queue mode) and shared steps (settings, waiting for jobs, what the workers reported, a job run
in-process with a stand-in for the model, a batch and a single photo)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from local_process import free_port, stop

from app.serving import broker as jq
from app.serving.job_store import JobStore

from app_helpers import image_bytes, settings_for

REPO = Path(__file__).resolve().parent.parent
REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (Debian: apt-get install redis-server; .ci/run does)"
)
REDELIVERY_S = 2.0  # tests: a silent worker is dead after 2 s (its job is back within 2.5 s)


class RedisServer:
    """A throw-away redis-server (no persistence, as Debian's default config loses messages too) on a free
    port, which a test can stop and start again on the same port (an outage, a restart)."""

    def __init__(self, folder: Path):
        assert REDIS is not None
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> RedisServer:
        assert REDIS is not None
        cmd = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*cmd, "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, 10)
            self.proc = None


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throw-away redis-server on a free port; yields its URL."""
    server = RedisServer(folder).start()
    try:
        yield server.url
    finally:
        server.stop()


class WorkerProc:
    """`heirloom worker` as a child process of the test; its output is kept for failure messages."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        weights: Path,
        name: str,
        workers: int = 1,
        redelivery_s: float = REDELIVERY_S,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ):
        env = {
            **os.environ,
            "OMP_WAIT_POLICY": "PASSIVE",
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        cmd = [sys.executable, "-m", "heirloom.cli", "worker", "--broker", url, "--data-dir", str(data_dir)]
        cmd += ["--weights", str(weights), "--device", "cpu", "--workers", str(workers), "--torch-threads", "1"]
        cmd += ["--redelivery", str(redelivery_s), "--name", name, "--request-timeout", "60", *extra]
        self.name = name
        out = subprocess.PIPE
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("heirloom worker ready"):
                self._ready.set()

    def wait_ready(self, timeout_s: float = 180) -> WorkerProc:
        if not self._ready.wait(timeout_s):
            self.stop()
            raise AssertionError(f"worker {self.name} did not start:\n{self.log()}")
        return self

    def children(self) -> list[int]:
        """All its descendants, read from /proc: the fork server *and* the engine processes it forked (the
        engines are the fork server's children, not the worker's: stopping only direct children let a job
        finish before a test saw it running)."""
        found: list[int] = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:  # exited meanwhile
                continue
            for task in tasks:
                try:
                    kids = [int(p) for p in (task / "children").read_text().split()]
                except OSError:
                    continue
                found += kids
                todo += kids
        return found

    def kill9(self) -> None:
        """kill -9 the worker; its engine processes are then killed the same way (they would exit on
        their own when their pipe closes, but a stopped one never reads it)."""
        kids = self.children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        stop(self.proc, 30)

    def log(self) -> str:
        return "".join(self.lines[-40:])


@contextmanager
def queue_web_server(redis_url: str, data_dir: Path, **env: str) -> Iterator[str]:
    """`python -m app.server` in queue mode as a child process on a free port (for the browser); yields its URL
    once it answers (its /healthz may say 503 while Redis is away: any answer will do)."""
    import urllib.error
    import urllib.request

    port = free_port()
    env = {**os.environ, "HEIRLOOM_BROKER_URL": redis_url, "HEIRLOOM_DATA_DIR": str(data_dir), **env}
    env.pop("HEIRLOOM_TOKEN", None)
    cmd = [sys.executable, "-m", "app.server", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        yield url
    finally:
        stop(server, 10)


# --- the tests' shared steps: settings, waiting, what the workers reported, a job run in-process -----


def queue_settings(data: Path, url: str):
    return settings_for(data, None, broker_url=url, redelivery_s=REDELIVERY_S, load_model=False)


def wait_for(client, job_ids, timeout_s: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        states = {j: client.get(f"/api/jobs/{j}").json() for j in job_ids}
        if all(s["status"] in ("done", "failed") for s in states.values()):
            return states
        assert time.monotonic() < deadline, Counter(s["status"] for s in states.values())
        time.sleep(0.2)


def finished_lines(workers: list[WorkerProc]) -> Counter[str]:
    """How often each job id was reported finished by any worker."""
    seen: Counter[str] = Counter()
    for w in workers:
        for line in w.lines:
            if " job " in line and ("done" in line or "failed" in line):
                seen[line.split(" job ", 1)[1].split()[0]] += 1
    return seen


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def running_job(web, upload: bytes, worker: WorkerProc) -> dict:
    """Upload one photo and wait until a worker has started it (-> the job as the upload answered it)."""
    job = web.post("/api/photos", files={"file": ("grandpa.png", upload, "image/png")}).json()
    deadline = time.monotonic() + 60
    while web.get(job["url"]).json()["status"] != "running":
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)
    return job


def assert_queue_empty(url: str):
    broker = jq.make_broker(url, REDELIVERY_S)
    try:
        assert (jq.waiting(broker), jq.unacknowledged(broker), jq.dead_lettered(broker)) == (0, 0, 0)
    finally:
        broker.close()


def run_queued_job(data: Path, job_id: str, size=(40, 24)):
    """Do what a worker does with a job, in this process, with a stand-in for the model."""
    from app.serving.consumer import JobRunner
    from app.serving.contract import ModelProfile
    from app.serving.processes import Outcome

    def engine(job):
        return Outcome(image_bytes(*size), "PNG", "PNG", size[0], size[1], image_bytes(20, 12, "JPEG"))

    profile = ModelProfile(32, 32, "cpu", "stand-in.safetensors", "ab" * 32)
    return JobRunner(JobStore(data), engine, profile, "inline")(job_id)


def batch_and_single(web) -> tuple[list[str], str]:
    """Three photos of a batch, then one on its own: -> (the batch's job ids, the single one's)."""
    batch = web.post("/api/batches", json={"names": ["a.png", "b.png", "c.png"]}).json()
    bulk = [
        web.post(
            "/api/photos",
            files={"file": (name, image_bytes(40 + i, 24), "image/png")},
            data={"batch": batch["id"], "position": str(i)},
        ).json()["id"]
        for i, name in enumerate(["a.png", "b.png", "c.png"])
    ]
    single = web.post("/api/photos", files={"file": ("alone.png", image_bytes(), "image/png")}).json()["id"]
    return bulk, single
