"""Cold start: seconds from `heirloom serve` process start to the first `/healthz` 200 (model loaded).

    python bench/cold_start.py [--runs 3] [--weights FILE]

Prints JSON: each run's seconds, the best and the median. Goal: <= 5 s on the project's 2-core CPU.
Run it with training paused (kill -STOP / -CONT), never beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from local_process import free_port, stop


def once(weights: str | None) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-m", "heirloom.cli", "serve", "--port", str(port), "--data-dir", data]
        if weights:
            cmd += ["--weights", weights]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - t0 < 60:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        if r.status == 200:
                            return time.perf_counter() - t0
                except OSError:
                    time.sleep(0.05)
            raise TimeoutError("no /healthz 200 within 60 s")
        finally:
            stop(proc, 10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--weights")
    a = p.parse_args()
    runs = [round(once(a.weights), 2) for _ in range(a.runs)]
    print(json.dumps({"cold_start_s": runs, "best_s": min(runs), "median_s": statistics.median(runs)}))


if __name__ == "__main__":
    main()
