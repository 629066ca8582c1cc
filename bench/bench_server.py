"""Load test of the Heirloom server over loopback: many uploads at a fixed concurrency, per precision.

For each precision in --precisions (default: float32, then auto), starts `python -m app.server` on a
free port with the shipped model (HEIRLOOM_PRECISION set), sends --count uploads of a synthetic gray
scan at --concurrency, then --big-count single uploads of a --big scan (12 MP) one at a time, and prints
one JSON object: requests/s, p50/p95/p99 latency, errors by status, the 12-MP latency, and the summed
peak RSS (VmHWM) of the server and its engine processes. With --url it measures a running server once.

    .venv/bin/python bench/bench_server.py                    # float32 vs auto, c16 640x480 + 12 MP
    .venv/bin/python bench/bench_server.py --url http://127.0.0.1:8000 --token T --big-count 0
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
from local_process import free_port, stop
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def scan_bytes(w: int, h: int) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    gray = 128 + 60 * np.sin(x / 23.0) * np.cos(y / 17.0) + np.random.default_rng(0).normal(0, 8, (h, w))
    buf = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def bench_weights(path: str | None) -> Path:
    """The given weights, else the shipped model (the architecture families get)."""
    weights = Path(path) if path else REPO / "weights" / "heirloom-generator.safetensors"
    if not weights.exists():
        raise SystemExit(f"no weights at {weights}")
    return weights


def peak_rss_sum(pid: int) -> int:
    """Summed VmHWM (peak resident set) of a process and all its descendants, in bytes (Linux)."""
    total = 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.every, self.peak, self.stop = psutil.Process(pid), every_s, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rss = self.proc.memory_info().rss + sum(c.memory_info().rss for c in self.proc.children(True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            time.sleep(self.every)


async def drive(url: str, data: bytes, args) -> dict:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    latencies, errors, sent = [], {}, 0
    deadline = time.perf_counter() + args.max_seconds
    limits = httpx.Limits(max_connections=args.concurrency)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=args.max_seconds, limits=limits) as client:

        async def worker() -> None:
            nonlocal sent
            while sent < args.count and time.perf_counter() < deadline:
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(
                        args.endpoint,
                        files={"file": ("scan.jpg", data, "image/jpeg")},
                        data={"render_size": str(args.render_size)} if args.render_size else {},
                    )
                    status = r.status_code
                except httpx.HTTPError as e:
                    status = type(e).__name__
                if status in (200, 201):
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "requests": sent,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 1),
            "p95": round(float(np.percentile(lat, 95)), 1),
            "p99": round(float(np.percentile(lat, 99)), 1),
            "max": round(float(lat.max()), 1),
        },
    }


def start_server(args, tmp: Path, precision: str) -> tuple[subprocess.Popen, str]:
    weights = bench_weights(args.weights)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "app.server",
        "--port",
        str(port),
        "--weights",
        str(weights),
        "--data-dir",
        str(tmp / f"data-{precision}"),
        "--log-level",
        "warning",
    ]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    env = {k: v for k, v in os.environ.items() if k != "HEIRLOOM_TOKEN"}
    env["HEIRLOOM_PRECISION"] = precision
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        time.sleep(0.1)
    stop(proc)
    raise SystemExit("the server did not become healthy in 60 s")


async def big_scans(url: str, data: bytes, args) -> dict:
    """One large scan at a time, end to end through the endpoint: what a family waits for."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    times = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=args.max_seconds) as client:
        for _ in range(args.big_count):
            t0 = time.perf_counter()
            r = await client.post(args.endpoint, files={"file": ("scan.jpg", data, "image/jpeg")})
            if r.status_code not in (200, 201):
                return {"error": r.status_code}
            times.append(time.perf_counter() - t0)
    return {"p50_s": round(float(np.median(times)), 3), "min_s": round(min(times), 3), "runs": len(times)}


def measure(url: str, pid: int | None, args, small: bytes, big: bytes) -> dict:
    sampler = RssSampler(pid) if pid else None
    if sampler:
        sampler.start()
    try:
        asyncio.run(drive(url, small, argparse.Namespace(**{**vars(args), "count": args.concurrency})))  # warm-up
        result = asyncio.run(drive(url, small, args))
        if args.big_count:
            result["big_scan"] = {"size": args.big, **asyncio.run(big_scans(url, big, args))}
    finally:
        if sampler:
            sampler.stop.set()
            sampler.join()
    if pid:
        result["peak_rss_mb"] = round(peak_rss_sum(pid) / 2**20, 1)  # VmHWM, server + engine processes
        result["sampled_rss_mb"] = round(sampler.peak / 2**20, 1) if sampler else None
    if not args.url:
        health = httpx.get(url + "/healthz", timeout=5).json()
        result["precision_running"] = health.get("precision")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="target a running server instead of starting one (RSS then needs --pid)")
    p.add_argument("--pid", type=int, help="server process to sample for RSS when using --url")
    p.add_argument("--token")
    p.add_argument("--weights", help="generator file for the started server (default: shipped, else random)")
    p.add_argument("--workers", type=int, help="server worker threads (default: the server's own)")
    p.add_argument("--endpoint", default="/colorize", choices=["/colorize", "/api/photos"])
    p.add_argument("--count", type=int, default=64, help="uploads in total")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-seconds", type=float, default=120, help="stop sending after this long")
    p.add_argument("--size", default="640x480", help="scan size WxH")
    p.add_argument("--render-size", type=int, help="render size to ask for (default: the model's)")
    p.add_argument("--precisions", default="float32,auto", help="HEIRLOOM_PRECISION values to compare")
    p.add_argument("--big", default="4000x3000", help="the large scan's size WxH (default 12 MP)")
    p.add_argument("--big-count", type=int, default=5, help="large scans sent one at a time (0: none)")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    bw, bh = (int(v) for v in args.big.lower().split("x"))
    small, big = scan_bytes(w, h), scan_bytes(bw, bh) if args.big_count else b""
    common = {
        "concurrency": args.concurrency,
        "endpoint": args.endpoint,
        "image": f"{w}x{h} JPEG",
        "weights": str(bench_weights(args.weights)) if not args.url else "remote",
        "cpu_count": os.cpu_count(),
    }
    results: dict = {}
    if args.url:
        results["remote"] = measure(args.url.rstrip("/"), args.pid, args, small, big)
    else:
        with tempfile.TemporaryDirectory(prefix="heirloom-bench-") as tmp:
            for precision in args.precisions.split(","):
                proc, url = start_server(args, Path(tmp), precision)
                try:
                    results[precision] = measure(url, proc.pid, args, small, big)
                finally:
                    stop(proc, 15)
    print(json.dumps({**common, **results}, indent=2))
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
