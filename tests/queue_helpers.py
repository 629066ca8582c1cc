"""Real servers for the queue tests: a redis-server on a free port, `heirloom worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (Debian: apt-get install redis-server; .ci/run does)"
)
REDELIVERY_S = 2.0  # tests: a silent worker is dead after 2 s (its job is back within 2.5 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            self.proc.terminate()
            self.proc.wait(10)
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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

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
        server.terminate()
        server.wait(10)
