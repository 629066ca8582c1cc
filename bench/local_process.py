"""What the benchmarks and the tests need to run a server of ours as a child process: a free loopback port,
and a stop that never leaves the process behind (asked to end, then killed if it does not)."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM (the server's graceful shutdown), then SIGKILL after `grace_s`; returns once it has exited."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
