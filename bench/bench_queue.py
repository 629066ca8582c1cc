"""Queue mode over loopback: a redis-server, `heirloom serve --broker` and 1, then 2, `heirloom worker`s.

For each worker count it starts everything afresh (new Redis, new data directory), waits until the
workers are ready, queues --count album uploads of a synthetic gray scan as fast as the web server
takes them, and follows every job to the album. Prints one JSON object per worker count, then a table:
jobs/s (first upload to last photo in the album), queue latency (upload answered -> a worker starts it;
p50/p95), time in the worker (p50) and the upload's own answer time (p50).

    .venv/bin/python bench/bench_queue.py --count 40 --workers 1,2
    .venv/bin/python bench/bench_queue.py --count 40 --workers 1,2 --remote   # --server-url workers

With --remote every worker has its own data directory and reaches the jobs' files through the web
server's worker API (`heirloom worker --server-url`, HEIRLOOM_WORKER_TOKEN), as on another machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import REPO, bench_weights, scan_bytes
from local_process import free_port


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    redis = shutil.which("redis-server")
    if redis is None:
        sys.exit("bench_queue: redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    return proc, f"redis://127.0.0.1:{port}/0"


WORKER_TOKEN = "bench-worker-token-" + os.urandom(8).hex()


def start_worker(
    url: str, data: Path, weights: Path, name: str, threads: int, server: str | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO), "HEIRLOOM_WORKER_TOKEN": WORKER_TOKEN}
    cmd = [sys.executable, "-m", "heirloom.cli", "worker", "--broker", url, "--data-dir", str(data)]
    cmd += ["--weights", str(weights), "--workers", "1", "--torch-threads", str(threads), "--name", name]
    cmd += ["--server-url", server] if server else []
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("heirloom worker ready"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300):
        proc.kill()
        sys.exit(f"bench_queue: worker {name} did not start")
    return proc


def start_web(url: str, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HEIRLOOM_BROKER_URL": url, "HEIRLOOM_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    env["HEIRLOOM_WORKER_TOKEN"] = WORKER_TOKEN
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.server", "--port", str(port), "--log-level", "warning"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit("bench_queue: the web server did not start")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def run(n_workers: int, count: int, weights: Path, upload: bytes, remote: bool = False) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="heirloom-bench-queue-"))
    procs: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
    try:
        redis, url = start_redis(tmp)
        procs.append(redis)
        web, base = start_web(url, tmp / "data")
        procs.append(web)
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        procs += [
            start_worker(
                url,
                tmp / (f"worker-{i}" if remote else "data"),
                weights,
                f"bench-{i}",
                threads,
                remote and base or None,
            )
            for i in range(n_workers)
        ]
        with httpx.Client(base_url=base, timeout=60) as client:
            t0 = time.time()
            answers, ids = [], []
            for i in range(count):
                sent = time.perf_counter()
                r = client.post("/api/photos", files={"file": (f"scan-{i}.jpg", upload, "image/jpeg")})
                answers.append(time.perf_counter() - sent)
                r.raise_for_status()
                ids.append(r.json()["id"])
            pending, states = set(ids), {}
            while pending:
                for job_id in list(pending):
                    state = client.get(f"/api/jobs/{job_id}").json()
                    if state["status"] in ("done", "failed"):
                        states[job_id] = state
                        pending.discard(job_id)
                time.sleep(0.1)
            t1 = max(s["finished"] for s in states.values())
        failed = [s for s in states.values() if s["status"] != "done"]
        waits = [s["started"] - s["created"] for s in states.values()]
        work = [s["finished"] - s["started"] for s in states.values()]
        return {
            "workers": n_workers,
            "remote": remote,
            "torch_threads_each": threads,
            "jobs": count,
            "failed": len(failed),
            "jobs_per_s": round(count / (t1 - t0), 2),
            "queue_latency_p50_s": round(pct(waits, 0.5), 2),
            "queue_latency_p95_s": round(pct(waits, 0.95), 2),
            "queue_latency_first_s": round(min(waits), 3),
            "in_worker_p50_s": round(pct(work, 0.5), 3),
            "upload_answer_p50_ms": round(1000 * pct(answers, 0.5), 1),
        }
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=40, help="jobs per run")
    p.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    p.add_argument("--size", default="640x480", help="the synthetic scan's size")
    p.add_argument("--weights", help="generator file (default: the shipped one)")
    p.add_argument("--remote", action="store_true", help="workers on their own data directories (--server-url)")
    a = p.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    weights = bench_weights(a.weights)
    results = [run(int(n), a.count, weights, scan_bytes(w, h), a.remote) for n in a.workers.split(",")]
    for r in results:
        print(json.dumps(r))
    print(f"\n{a.count} jobs of {a.size}" + (", workers through the worker API (--server-url):" if a.remote else ":"))
    print("| workers | jobs/s | queue latency p50 / p95 | in worker p50 | upload answered p50 |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workers']} | {r['jobs_per_s']} | {r['queue_latency_p50_s']} s / {r['queue_latency_p95_s']} s "
            f"| {r['in_worker_p50_s']} s | {r['upload_answer_p50_ms']} ms |"
        )


if __name__ == "__main__":
    main()
