"""Load test of the Heirloom server over loopback: many uploads at a fixed concurrency.

Starts `python -m app.server` on a free port (or targets --url), sends --count uploads of a
synthetic gray scan at --concurrency, stops after --max-seconds, and prints one JSON object:
requests/s, p50/p95 latency, errors by status, and the server's peak RSS (sampled with psutil).

    .venv/bin/python bench/bench_server.py --count 64 --concurrency 16
    .venv/bin/python bench/bench_server.py --url http://127.0.0.1:8000 --token T
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def scan_bytes(w: int, h: int) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    gray = 128 + 60 * np.sin(x / 23.0) * np.cos(y / 17.0) + np.random.default_rng(0).normal(0, 8, (h, w))
    buf = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_weights(path: str | None, tmp: Path) -> tuple[Path, str]:
    """The given or shipped weights; else random weights of the default architecture (same cost per call)."""
    if path:
        return Path(path), path
    shipped = REPO / "weights" / "heirloom-generator.safetensors"
    if shipped.exists():
        return shipped, str(shipped)
    sys.path.insert(0, str(REPO))
    from model.checkpoint import save_generator
    from model.networks import GeneratorConfig, UNetGenerator

    out = tmp / "random-default.safetensors"
    save_generator(out, UNetGenerator(GeneratorConfig()), render_size=256)
    return out, "random weights, default GeneratorConfig, render 256"


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
            "max": round(float(lat.max()), 1),
        },
    }


def start_server(args, tmp: Path) -> tuple[subprocess.Popen, str, str]:
    weights, described = bench_weights(args.weights, tmp)
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
        str(tmp / "data"),
        "--log-level",
        "warning",
    ]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    env = {k: v for k, v in os.environ.items() if k != "HEIRLOOM_TOKEN"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url, described
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the server did not become healthy in 60 s")


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
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    data = scan_bytes(w, h)
    with tempfile.TemporaryDirectory(prefix="heirloom-bench-") as tmp:
        proc = None
        if args.url:
            url, described, pid = args.url.rstrip("/"), "remote", args.pid
        else:
            proc, url, described = start_server(args, Path(tmp))
            pid = proc.pid
        sampler = RssSampler(pid) if pid else None
        if sampler:
            sampler.start()
        try:
            result = asyncio.run(drive(url, data, args))
        finally:
            if sampler:
                sampler.stop.set()
                sampler.join()
            if proc:
                proc.terminate()
                proc.wait(15)
    result.update(
        {
            "peak_server_rss_mb": round(sampler.peak / 2**20, 1) if sampler else None,
            "concurrency": args.concurrency,
            "endpoint": args.endpoint,
            "image": f"{w}x{h} JPEG",
            "image_bytes": len(data),
            "weights": described,
            "cpu_count": os.cpu_count(),
        }
    )
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
