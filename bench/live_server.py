"""`python -m app.server` on a free loopback port for the fuzzers (bench/fuzz_uploads.py, tests/test_fuzz.py),
optionally under an address-space limit, the memory of all its processes sampled from /proc."""

from __future__ import annotations

import collections
import http.client
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from local_process import free_port, stop

REPO = Path(__file__).resolve().parent.parent


def _tree(root: int) -> list[int]:
    """root and its descendants (from /proc)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children[ppid].append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class LiveServer:
    """`python -m app.server` on a free loopback port, optionally under RLIMIT_AS, its memory sampled."""

    def __init__(
        self,
        weights: Path | None,
        data_dir: Path,
        *,
        workers: int = 2,
        queue: int = 32,
        timeout_s: float = 60.0,
        max_request_mb: float | None = None,
        max_pixels: int | None = None,
        address_limit: int | None = None,
        log: Path | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout_s = timeout_s
        args = [
            sys.executable,
            "-m",
            "app.server",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--workers",
            str(workers),
            "--queue",
            str(queue),
            "--log-level",
            "warning",
        ]
        if weights:
            args += ["--weights", str(weights)]
        env = {**os.environ, "HEIRLOOM_REQUEST_TIMEOUT": str(timeout_s), "OMP_NUM_THREADS": "1"}
        if max_request_mb:
            env["HEIRLOOM_MAX_REQUEST_MB"] = str(max_request_mb)
        if max_pixels:
            env["HEIRLOOM_MAX_PIXELS"] = str(max_pixels)
        env.pop("HEIRLOOM_TOKEN", None)

        def limit() -> None:
            if address_limit:
                resource.setrlimit(resource.RLIMIT_AS, (address_limit, address_limit))

        self._log = open(log or os.devnull, "wb")
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=limit
        )
        self.peak_rss = 0
        self.peak_worker_hwm = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            pids = _tree(self.proc.pid)
            self.peak_rss = max(self.peak_rss, sum(_status_kb(p, "VmRSS") for p in pids) * 1024)
            hwm = [_status_kb(p, "VmHWM") * 1024 for p in pids if p != self.proc.pid]
            self.peak_worker_hwm = max([self.peak_worker_hwm, *hwm])

    def wait_ready(self, limit_s: float = 180.0) -> None:
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if self.get("/healthz")[0] == 200:
                    self._sampler.start()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become healthy")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def alive(self) -> bool:
        try:
            return self.proc.poll() is None and self.get("/healthz")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        self._stop.set()
        stop(self.proc, 20)
        self._log.close()

    def __enter__(self) -> LiveServer:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
