"""Fuzz the upload path of a live Heirloom server over loopback (issue 9).

Generates malformed and unusual uploads of every class — valid photos in every format, mode and EXIF
orientation; truncations; bit flips; decompression bombs in every container; extreme aspect ratios with
every policy and render size; foreign formats (EPS, ICO, DDS, AVIF…); garbage; bad options — posts them
to `python -m app.server` (started here, optionally under an address-space limit) and prints one JSON
object: status counts (overall and by class), the 5xx count (must be 0), the slowest request (must stay
under the server's timeout), the server's peak memory (all its processes; each worker under the
per-request ceiling) and whether the server is alive at the end.

    .venv/bin/python bench/fuzz_uploads.py --count 1000                 # the shipped model
    .venv/bin/python bench/fuzz_uploads.py --count 60 --weights tiny.safetensors --max-pixels 4000000

Needs nothing beyond the test dependencies (the standard library's http.client; memory from /proc).
The cases are made in upload_cases.py, the server run by live_server.py; the test suite runs a small sample
(tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from live_server import LiveServer
from upload_cases import Case, make_cases


def post(conn: http.client.HTTPConnection, case: Case) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in case.fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + case.data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    conn.request("POST", case.url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = conn.getresponse()
    return r.status, r.read()


def run(server: LiveServer, cases: list[Case], concurrency: int = 2) -> dict[str, object]:
    results: list[tuple[Case, int, float, bytes]] = []
    lock = threading.Lock()
    todo = list(cases)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=server.timeout_s + 30)
        while True:
            with lock:
                if not todo:
                    break
                case = todo.pop()
            start = time.perf_counter()
            try:
                status, body = post(conn, case)
            except (OSError, http.client.HTTPException) as e:
                status, body = 0, repr(e).encode()  # connection dropped: counted as status 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=server.timeout_s + 30)
            with lock:
                results.append((case, status, time.perf_counter() - start, body[:300]))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    statuses = collections.Counter(str(s) for _, s, _, _ in results)
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case, status, _, _ in results:
        by_kind[case.kind][str(status)] += 1
    slowest = max(results, key=lambda r: r[2])
    bad = [(c.kind, c.name, s, b.decode(errors="replace")) for c, s, _, b in results if s >= 500 or s == 0]
    return {
        "uploads": len(results),
        "classes": {k: sum(v.values()) for k, v in sorted(by_kind.items())},
        "status_counts": dict(sorted(statuses.items())),
        "status_by_class": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "5xx": sum(v for k, v in statuses.items() if k.startswith("5")),
        "dropped_connections": statuses.get("0", 0),
        "failures": bad[:10],
        "slowest_s": round(slowest[2], 2),
        "slowest_case": f"{slowest[0].kind}:{slowest[0].name} -> {slowest[1]}",
        "timeout_s": server.timeout_s,
        "wall_s": round(wall, 1),
        "peak_server_rss_mb": round(server.peak_rss / 2**20),
        "peak_worker_hwm_mb": round(server.peak_worker_hwm / 2**20),
        "alive_at_end": server.alive(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--weights", type=Path, help="default: the shipped weights/")
    p.add_argument("--timeout", type=float, default=60.0, help="the server's request timeout (s)")
    p.add_argument("--max-request-mb", type=float, help="the server's per-request memory ceiling")
    p.add_argument("--max-pixels", type=int)
    p.add_argument("--address-limit-gb", type=float, help="RLIMIT_AS for the whole server")
    a = p.parse_args(argv)
    cases = make_cases(a.count, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        limit = int(a.address_limit_gb * 2**30) if a.address_limit_gb else None
        with LiveServer(
            a.weights,
            Path(tmp) / "data",
            workers=a.workers,
            timeout_s=a.timeout,
            max_request_mb=a.max_request_mb,
            max_pixels=a.max_pixels,
            address_limit=limit,
            log=Path(tmp) / "server.log",
        ) as server:
            report = run(server, cases, a.concurrency)
        from app.settings import Settings

        s = Settings(workers=a.workers, max_work_bytes=int(a.max_request_mb * 2**20) if a.max_request_mb else None)
        report["ceiling_per_request_mb"] = round(s.work_bytes / 2**20)
        report["worker_under_ceiling"] = report["peak_worker_hwm_mb"] <= report["ceiling_per_request_mb"]  # type: ignore[operator]
    print(json.dumps(report, indent=2))
    ok = report["5xx"] == 0 and report["alive_at_end"] and report["slowest_s"] < a.timeout  # type: ignore[operator]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
