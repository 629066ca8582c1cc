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
The test suite imports `make_cases` and `LiveServer` and runs a small sample (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import json
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
POLICIES = ("pad-reflect", "pad-black", "stretch", "rotate-portrait", "center-crop", "pad-multiple")


@dataclass
class Case:
    kind: str  # the class: valid, truncated, bitflip, bomb, strip, foreign, garbage, options
    name: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    url: str = "/colorize"


# --- generators ------------------------------------------------------------------------------------


def _photo(rng: random.Random, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.5 * np.sin((x + y) / (3 + rng.random() * 9))], -1)
    return (base * 255).astype(np.uint8)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _cv2_16bit(arr: np.ndarray, ext: str) -> bytes:
    import cv2

    return cv2.imencode(ext, arr)[1].tobytes()


def valid_images(rng: random.Random) -> list[tuple[str, bytes]]:
    """Every promised format, every mode, every EXIF orientation, at small random sizes."""
    out: list[tuple[str, bytes]] = []
    h, w = rng.randint(5, 160), rng.randint(5, 160)
    rgb = Image.fromarray(_photo(rng, h, w))
    gray = rgb.convert("L")
    modes = {
        "L": gray,
        "RGB": rgb,
        "RGBA": rgb.convert("RGBA"),
        "LA": gray.convert("LA"),
        "P": rgb.convert("P"),
        "1": gray.convert("1"),
        "CMYK": rgb.convert("CMYK"),
        "I;16": gray.convert("I;16"),
        "F": gray.convert("F"),
    }
    writers = {
        "PNG": ("L", "RGB", "RGBA", "LA", "P", "1", "I;16"),
        "JPEG": ("L", "RGB", "CMYK"),
        "TIFF": ("L", "RGB", "RGBA", "LA", "P", "1", "CMYK", "I;16", "F"),
        "WEBP": ("L", "RGB", "RGBA"),
        "BMP": ("L", "RGB", "P", "1"),
        "GIF": ("L", "P"),
    }
    for fmt, ok in writers.items():
        for mode in ok:
            try:
                out.append((f"{fmt}-{mode}", _save(modes[mode], fmt)))
            except (OSError, ValueError, KeyError):
                pass
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out.append((f"JPEG-exif{orientation}", _save(rgb, "JPEG", exif=exif)))
    out.append(("MPO", _save(rgb, "MPO", save_all=True, append_images=[gray.convert("RGB")])))
    out.append(("GIF-animated", _save(gray.convert("P"), "GIF", save_all=True, append_images=[rgb.convert("P")])))
    out.append(("TIFF-pages", _save(rgb, "TIFF", save_all=True, append_images=[gray.convert("RGB")])))
    arr16 = _photo(rng, h, w).astype(np.uint16) * 257
    out.append(("PNG-rgb16", _cv2_16bit(arr16, ".png")))
    out.append(("TIFF-rgb16", _cv2_16bit(arr16, ".tif")))
    out.append(("PNG-rgba16", _cv2_16bit(np.dstack([arr16, arr16[..., 0]]), ".png")))
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        out.append(("HEIC", _save(rgb, "HEIF")))
    except ImportError:
        pass
    return out


def foreign_images(rng: random.Random) -> list[tuple[str, bytes]]:
    from PIL import features

    im = Image.fromarray(_photo(rng, 16, 16))
    out = [("EPS-loop", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n{ } loop\n")]
    for fmt, conv in (
        ("EPS", "RGB"),
        ("ICO", "RGB"),
        ("DDS", "RGB"),
        ("SPIDER", "F"),
        ("PCX", "RGB"),
        ("TGA", "RGB"),
        ("PPM", "RGB"),
        ("SGI", "RGB"),
        ("PDF", "RGB"),
        ("XBM", "1"),
        ("ICNS", "RGB"),
        ("QOI", "RGB"),
        ("JPEG2000", "RGB"),
        ("AVIF", "RGB"),
        ("IM", "RGB"),
    ):
        if fmt in ("JPEG2000", "AVIF") and not features.check({"JPEG2000": "jpg_2000", "AVIF": "avif"}[fmt]):
            continue
        try:
            out.append((fmt, _save(im.convert(conv), fmt)))
        except (OSError, ValueError, KeyError):
            pass
    out += [
        ("SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>'),
        ("HTML", b"<html><script>alert(1)</script></html>"),
        ("ZIP", b"PK\x03\x04" + bytes(40)),
    ]
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bombs(rng: random.Random) -> list[tuple[str, bytes]]:
    """Tiny files whose headers claim enormous images, one per container."""
    import zlib

    out = []
    for w, h in ((100_000, 100_000), (65_535, 65_535), (1_000_000, 1)):
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
        out.append(
            (
                f"PNG-{w}x{h}",
                b"\x89PNG\r\n\x1a\n"
                + _png_chunk(b"IHDR", ihdr)
                + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                + _png_chunk(b"IEND", b""),
            )
        )
    small = Image.new("L", (8, 8), 128)
    jpeg = bytearray(_save(small, "JPEG"))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    out.append(("JPEG-65000x65000", bytes(jpeg)))
    gif = bytearray(_save(small.convert("P"), "GIF"))
    gif[6:10] = struct.pack("<HH", 65_535, 65_535)
    desc = gif.find(b"\x2c", 13)
    gif[desc + 5 : desc + 9] = struct.pack("<HH", 65_535, 65_535)
    out.append(("GIF-65535x65535", bytes(gif)))
    bmp = bytearray(_save(small, "BMP"))
    bmp[18:26] = struct.pack("<ii", 50_000, 50_000)
    out.append(("BMP-50000x50000", bytes(bmp)))
    tif = bytearray(_save(small, "TIFF"))
    first = struct.unpack("<I", tif[4:8])[0]
    for i in range(struct.unpack("<H", tif[first : first + 2])[0]):
        e = first + 2 + 12 * i
        tag, typ = struct.unpack("<HH", tif[e : e + 4])
        if tag in (256, 257):
            tif[e + 8 : e + 12] = struct.pack("<I", 200_000) if typ == 4 else struct.pack("<HH", 65_000, 0)
    out.append(("TIFF-huge", bytes(tif)))
    webp = bytearray(_save(small.convert("RGB"), "WEBP", lossless=False))
    vp8 = webp.find(b"\x9d\x01\x2a")
    if vp8 > 0:
        webp[vp8 + 3 : vp8 + 7] = struct.pack("<HH", 16_383, 16_383)
        out.append(("WEBP-16383x16383", bytes(webp)))
    return out


def truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, max(0, len(data) - 1))]


def bitflipped(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


STRIPS = ((1, 5000), (5000, 1), (1, 20_000), (20_000, 1), (3, 30_000))


def make_cases(n: int, seed: int = 0, render_sizes: tuple[int, ...] = (32, 256, 512, 2048)) -> list[Case]:
    """`n` cases (at least one of every class), shuffled; deterministic for a seed."""
    rng = random.Random(seed)
    valid = valid_images(rng)
    cases: list[Case] = []
    for name, data in foreign_images(rng):
        cases.append(Case("foreign", name, data))
    for name, data in bombs(rng):
        cases.append(Case("bomb", name, data))
    strip_cases = []
    for h, w in STRIPS:
        png = _save(Image.fromarray(_photo(rng, h, w)[..., 0]), "PNG")
        for policy in POLICIES:
            for size in render_sizes:
                strip_cases.append(
                    Case("strip", f"{w}x{h}-{policy}-{size}", png, {"policy": policy, "render_size": str(size)})
                )
    rng.shuffle(strip_cases)
    cases += strip_cases[: max(len(POLICIES), n // 8)]
    for name, data in valid:
        cases.append(Case("valid", name, data, {"policy": rng.choice(POLICIES)}))
    garbage = [
        b"",
        b"\0",
        os.urandom(64),
        b"GIF89a",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"II*\x00",
        b"RIFF\0\0\0\0WEBP",
        b"BM" + bytes(60),
    ]
    for i, g in enumerate(garbage):
        cases.append(Case("garbage", f"garbage-{i}", g))
    bad_options = [
        {"render_size": "0"},
        {"render_size": "-32"},
        {"render_size": "99999999999"},
        {"render_size": "1e9"},
        {"render_size": "33"},
        {"policy": "../../etc"},
        {"saturation": "nan"},
        {"saturation": "inf"},
        {"saturation": "-1"},
        {"format": "eps"},
        {"format": "gif"},
    ]
    for opts in bad_options:
        cases.append(Case("options", "options-" + "-".join(opts.values()), valid[0][1], opts))
    while len(cases) < n:
        name, data = rng.choice(valid)
        roll = rng.random()
        if roll < 0.4:
            cases.append(Case("truncated", f"{name}-trunc", truncated(rng, data)))
        elif roll < 0.8:
            cases.append(Case("bitflip", f"{name}-flip", bitflipped(rng, data)))
        else:
            cases.append(
                Case(
                    "valid",
                    name,
                    data,
                    {"policy": rng.choice(POLICIES), "render_size": str(rng.choice(render_sizes[:2]))},
                )
            )
    for c in cases:
        if rng.random() < 0.15 and c.kind not in ("strip",):
            c.url = "/api/photos"  # the stored path too
    rng.shuffle(cases)
    return cases


def sample(cases: list[Case], k: int, seed: int = 0) -> list[Case]:
    """`k` cases with every class represented."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Case]] = collections.defaultdict(list)
    for c in cases:
        by_kind[c.kind].append(c)
    picked = [rng.choice(v) for v in by_kind.values()]
    rest = [c for c in cases if c not in picked]
    return picked + rng.sample(rest, max(0, min(len(rest), k - len(picked))))


# --- the server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> LiveServer:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the run ----------------------------------------------------------------------------------------


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
