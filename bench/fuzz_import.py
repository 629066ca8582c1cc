"""Fuzz `heirloom album import` with generated archives (issue 23): a valid album's export, then bombs
(manifest and members), path-traversal and foreign names, lying and oversized sizes, non-image originals,
missing and extra members, and random byte mutations of the whole file. Every case must be refused with a
one-line `error:` (exit 2) or imported whole; none may crash, write anything when refused, or take more
than --max-mb of memory. Each case runs `heirloom album import` in its own process; prints one JSON object.

    .venv/bin/python bench/fuzz_import.py --count 300
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def album_archive(folder: Path) -> Path:
    """A small real album (two photos, one with two versions, one in the trash), exported."""
    sys.path.insert(0, str(REPO / "tests"))
    from app_helpers import client_for, image_bytes, settings_for  # the suite's tiny model and photos
    from engine_helpers import tiny_weights

    weights = tiny_weights(folder / "tiny.safetensors")
    with client_for(settings_for(folder / "home", weights)) as c:
        a = c.post("/api/photos", files={"file": ("a.png", image_bytes(40, 30), "image/png")}).json()
        b = c.post("/api/photos", files={"file": ("b.png", image_bytes(30, 20), "image/png")}).json()
        c.post(f"{a['url']}/rerun", data={"saturation": "0.5"})
        c.delete(b["url"])
    out = folder / "album.zip"
    subprocess.run(
        [sys.executable, "-m", "heirloom.cli", "album", "export", str(out), "--data-dir", str(folder / "home")],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return out


def _members(src: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(src) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _write(dst: Path, members: dict[str, bytes], deflate: bool = False) -> None:
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _manifest(m: dict[str, bytes]) -> dict:
    return json.loads(m["heirloom-album.json"])


def _with_manifest(m: dict[str, bytes], manifest: dict, rehash: dict[str, bytes] | None = None) -> dict[str, bytes]:
    out = dict(m)
    for name, data in (rehash or {}).items():
        out[name] = data
        pid, file = name.split("/")[1:3]
        for p in manifest["photos"]:
            if p["photo"]["id"] == pid:
                p["files"][file] = hashlib.sha256(data).hexdigest()
    out["heirloom-album.json"] = json.dumps(manifest).encode()
    return out


def make_case(kind: str, src: Path, dst: Path, rng: random.Random) -> None:
    m = _members(src)
    man = _manifest(m)
    first = man["photos"][0]
    pid = first["photo"]["id"]
    original = f"photos/{pid}/{first['photo']['original_file']}"
    if kind == "valid":
        dst.write_bytes(src.read_bytes())
    elif kind == "manifest_bomb":
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z, z.open("heirloom-album.json", "w") as f:
            for _ in range(rng.choice([70, 200, 800])):
                f.write(b" " * (1 << 20))
    elif kind == "member_bomb":  # an original of zeros far over the upload limit, checksum right
        big = b"\0" * ((60 + rng.randrange(40)) << 20)
        _write(dst, _with_manifest(m, man, {original: big}), deflate=True)
    elif kind == "not_an_image":
        junk = rng.choice([b"#!/bin/sh\nrm -rf /\n", b"%PDF-1.4\n", b"GIF89a" + b"\0" * 10, bytes(rng.randbytes(300))])
        _write(dst, _with_manifest(m, man, {original: junk}))
    elif kind == "traversal":
        evil = rng.choice(["../../evil.png", "/etc/passwd", "photos/../../x", "a\\..\\b", "original.png\0.txt"])
        first["photo"]["original_file"] = evil
        first["files"] = {evil if k == first["photo"]["original_file"] else k: v for k, v in first["files"].items()}
        _write(dst, _with_manifest(m, man))
    elif kind == "bad_id":
        first["photo"]["id"] = rng.choice(["../x", "a" * 10, "x" * 200, "<script>", ""])
        _write(dst, _with_manifest(m, man))
    elif kind == "missing_member":
        m.pop(original)
        _write(dst, m)
    elif kind == "extra_member":
        m[f"photos/{pid}/../../../evil"] = b"x"
        _write(dst, m)
    elif kind == "wrong_type":
        field = rng.choice(["width", "height", "created", "name", "original_bytes"])
        first["photo"][field] = rng.choice([None, "12", [], {}, -1e300, True])
        _write(dst, _with_manifest(m, man))
    elif kind == "duplicate":
        man["photos"].append(man["photos"][0])
        _write(dst, _with_manifest(m, man))
    elif kind == "mutate":
        data = bytearray(src.read_bytes())
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        dst.write_bytes(bytes(data))
    elif kind == "truncate":
        data = src.read_bytes()
        dst.write_bytes(data[: rng.randrange(len(data))])
    else:
        raise ValueError(kind)


KINDS = [
    "valid",
    "manifest_bomb",
    "member_bomb",
    "not_an_image",
    "traversal",
    "bad_id",
    "missing_member",
    "extra_member",
    "wrong_type",
    "duplicate",
    "mutate",
    "truncate",
]

WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stderr[-2000:])"
)


def run_case(archive: Path, target: Path) -> tuple[int, float, str]:
    cmd = [sys.executable, "-m", "heirloom.cli", "album", "import", str(archive), "--data-dir", str(target)]
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=REPO).stdout
    first, _, err = out.partition("\n")
    code, kb = first.split()
    return int(code), int(kb) / 1024, err


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-mb", type=float, default=400.0, help="peak memory an import may take")
    a = p.parse_args()
    rng = random.Random(a.seed)
    stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    problems: list[str] = []
    peak = 0.0
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        src = album_archive(folder)
        for i in range(a.count):
            kind = KINDS[i % len(KINDS)] if i < len(KINDS) else rng.choice(KINDS)
            archive, target = folder / f"case-{i}.zip", folder / f"target-{i}"
            make_case(kind, src, archive, rng)
            code, mb, err = run_case(archive, target)
            peak = max(peak, mb)
            written = target.exists() and any((target / "photos").glob("*")) if target.exists() else False
            if code == 0:
                stats[kind]["imported"] += 1
            elif code == 2 and err.startswith("error: ") and err.strip().count("\n") == 0 and not written:
                stats[kind]["refused"] += 1
            else:
                stats[kind]["PROBLEM"] += 1
                problems.append(f"{kind} #{i}: exit {code}, written {written}: {err.strip()[:300]}")
            if any(folder.rglob("evil*")):
                problems.append(f"{kind} #{i}: a file was written outside the data directory")
            if mb > a.max_mb:
                problems.append(f"{kind} #{i}: {mb:.0f} MB of memory")
            archive.unlink()
    print(
        json.dumps(
            {
                "cases": a.count,
                "seconds": round(time.time() - t0, 1),
                "by_kind": {k: dict(v) for k, v in sorted(stats.items())},
                "peak_import_mb": round(peak, 1),
                "problems": problems,
            },
            indent=2,
        )
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
