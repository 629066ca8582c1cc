"""`heirloom album export` / `import`: the same album (originals, versions, captions, trash) in an empty data
directory; a damaged or foreign archive, or a data directory with photos, is a clear message and changes nothing."""

from __future__ import annotations

import json
import zipfile

import pytest

from heirloom.cli import main

from app_helpers import client_for, image_bytes, settings_for

SKIP = {"url", "page_url", "original_url", "result_url", "thumbnail_url", "versions_url"}


def build_album(client):
    def add(w, h, name):
        r = client.post("/api/photos", files={"file": (name, image_bytes(w, h), "image/png")})
        assert r.status_code == 201
        return r.json()

    a, b, c = add(40, 30, "rose.png"), add(23, 31, "tom.png"), add(20, 20, "gone.png")
    assert client.post(f"{a['url']}/rerun", data={"saturation": "0", "format": "jpeg"}).status_code == 201
    first = client.get(a["url"]).json()["versions"][0]["id"]
    assert client.patch(a["url"], json={"who": "Rose", "when": "1952", "favorite": first}).status_code == 200
    assert client.delete(c["url"]).status_code == 204
    return a, b, c


def snapshot(client) -> dict:
    """Everything the album says about itself, and every file's bytes, without per-server URLs."""
    out = {}
    for p in client.get("/api/photos").json()["photos"] + client.get("/api/trash").json()["photos"]:
        folder = client.app.state.runtime.storage.photos / p["id"]
        out[p["id"]] = {
            "record": {k: v for k, v in p.items() if k not in SKIP and k != "restore_url"},
            "files": {f.name: f.read_bytes() for f in sorted(folder.iterdir())},
        }
        full = client.get(p["url"]) if not p.get("restore_url") else None
        out[p["id"]]["versions"] = full.json()["versions"] if full else None
    return out


@pytest.fixture
def exported(tmp_path, tiny_weights, capsys):
    with client_for(settings_for(tmp_path / "home", tiny_weights)) as c:
        build_album(c)
        before = snapshot(c)
    archive = tmp_path / "album.zip"
    assert main(["album", "export", str(archive), "--data-dir", str(tmp_path / "home")]) == 0
    assert "3 photos" in capsys.readouterr().out
    return archive, before


def test_export_then_import_gives_the_same_album(exported, tmp_path, tiny_weights, capsys):
    archive, before = exported
    assert main(["album", "import", str(archive), "--data-dir", str(tmp_path / "new")]) == 0
    assert "imported 3 photos" in capsys.readouterr().out
    with client_for(settings_for(tmp_path / "new", tiny_weights)) as c:
        after = snapshot(c)
        assert after == before and len(after) == 3
        trashed = c.get("/api/trash").json()["photos"]
        assert [p["name"] for p in trashed] == ["gone.png"]
        rose = next(p for p in c.get("/api/photos").json()["photos"] if p["name"] == "rose.png")
        assert rose["caption"]["who"] == "Rose" and len(c.get(rose["url"]).json()["versions"]) == 2


def rewrite(src, dest, change):
    """A copy of the archive with `change(name, data)` applied to each member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def damaged_manifest(name, data):
    if name != "heirloom-album.json":
        return data
    manifest = json.loads(data)
    manifest["photos"][0]["photo"]["original_file"] = "../../evil.png"
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda src, dst: dst.write_bytes(b"not a zip at all"), "not a Heirloom album archive"),
        (lambda src, dst: dst.write_bytes(src.read_bytes()[:-300]), "not a Heirloom album archive"),
        (lambda src, dst: zipfile.ZipFile(dst, "w").writestr("holiday.jpg", b"x"), "no heirloom-album.json"),
        (
            lambda src, dst: rewrite(src, dst, lambda n, d: d[:-1] + bytes([d[-1] ^ 1]) if "original" in n else d),
            "does not match its checksum",
        ),
        (lambda src, dst: rewrite(src, dst, lambda n, d: None if "result-" in n else d), "is missing"),
        (lambda src, dst: rewrite(src, dst, damaged_manifest), "names this Heirloom would not write"),
        (
            lambda src, dst: rewrite(
                src,
                dst,
                lambda n, d: (
                    json.dumps({"format": "heirloom-album", "format_version": 9}).encode() if n.endswith(".json") else d
                ),
            ),
            "format version 9",
        ),
    ],
)
def test_damaged_or_foreign_archives_change_nothing(exported, tmp_path, capsys, make, message):
    archive, _ = exported
    bad = tmp_path / "bad.zip"
    make(archive, bad)
    target = tmp_path / "new"
    assert main(["album", "import", str(bad), "--data-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not target.exists()  # checked before anything is written


def test_import_needs_an_empty_album_and_export_an_album(exported, tmp_path, capsys):
    archive, _ = exported
    home = tmp_path / "home"
    files_before = sorted(p.relative_to(home) for p in home.rglob("*") if "tmp" not in p.parts)
    assert main(["album", "import", str(archive), "--data-dir", str(home)]) == 2
    assert "already has photos" in capsys.readouterr().err
    assert sorted(p.relative_to(home) for p in home.rglob("*") if "tmp" not in p.parts) == files_before
    assert main(["album", "export", str(tmp_path / "x.zip"), "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "There is no album" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()
    assert main(["album", "import", str(tmp_path / "missing.zip"), "--data-dir", str(tmp_path / "n")]) == 2
    assert "There is no file" in capsys.readouterr().err


def test_export_only_reads_the_album(tmp_path, tiny_weights, capsys):
    """A running server's half-written upload (in tmp/, or a folder not yet recorded) is left alone."""
    home = tmp_path / "home"
    with client_for(settings_for(home, tiny_weights)) as c:
        build_album(c)
    (home / "tmp" / "upload-in-progress").write_bytes(b"half")
    (home / "photos" / ("N" * 24)).mkdir()
    assert main(["album", "export", str(tmp_path / "a.zip"), "--data-dir", str(home)]) == 0
    assert (home / "tmp" / "upload-in-progress").exists() and (home / "photos" / ("N" * 24)).exists()
    victim = next(p for p in (home / "photos").rglob("result-*"))
    victim.unlink()
    assert main(["album", "export", str(tmp_path / "b.zip"), "--data-dir", str(home)]) == 2
    assert "missing a file" in capsys.readouterr().err and not (tmp_path / "b.zip").exists()


def _rehash(name_of, replace):
    """A rewrite that swaps one member's bytes and keeps the manifest's checksum right, so that only the new
    checks (sizes, the upload probe) can refuse it."""
    import hashlib

    def change(src, dst):
        with zipfile.ZipFile(src) as zin:
            manifest = json.loads(zin.read("heirloom-album.json"))
            entry = manifest["photos"][0]
            name = name_of(entry)
            member = f"photos/{entry['photo']['id']}/{name}"
            data = replace(zin.read(member))
            entry["files"][name] = hashlib.sha256(data).hexdigest()
            with zipfile.ZipFile(dst, "w") as zout:
                for info in zin.infolist():
                    if info.filename == "heirloom-album.json":
                        zout.writestr(info.filename, json.dumps(manifest))
                    else:
                        zout.writestr(info.filename, data if info.filename == member else zin.read(info))

    return change


@pytest.mark.parametrize(
    "make,env,message",
    [
        (_rehash(lambda e: e["photo"]["original_file"], lambda d: b"#!/bin/sh\nrm -rf /\n"), {}, "not a photo"),
        (
            _rehash(lambda e: e["photo"]["original_file"], lambda d: d + b"\0" * 4096),
            {"HEIRLOOM_MAX_UPLOAD_MB": "0.001"},
            "over the limit",
        ),
    ],
)
def test_import_checks_sizes_and_probes_every_original(exported, tmp_path, capsys, monkeypatch, make, env, message):
    archive, _ = exported
    bad = tmp_path / "bad.zip"
    make(archive, bad)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    target = tmp_path / "new"
    assert main(["album", "import", str(bad), "--data-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not target.exists()


@pytest.mark.slow
def test_a_manifest_bomb_is_refused_in_bounded_memory(tmp_path):
    """80 MB of manifest in a 80 KB archive: refused from its declared size, exit 2, nothing written, the
    importer's memory far below what reading it would take."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("heirloom-album.json", "w") as f:
        chunk = b" " * (1 << 20)
        for _ in range(80):
            f.write(chunk)
    assert bomb.stat().st_size < 1 << 20
    target = tmp_path / "new"
    # A wrapper process runs the import and reports the peak memory of its only child: this process's own
    # children (servers, workers of other tests) must not count.
    wrapper = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stderr)"
    )
    cmd = [sys.executable, "-m", "heirloom.cli", "album", "import", str(bomb), "--data-dir", str(target)]
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, timeout=120).stdout
    code, peak_kb = out.splitlines()[0].split()
    peak_mb = int(peak_kb) / 1024
    assert code == "2" and "heirloom-album.json is 83,886,080 bytes" in out, out
    assert peak_mb < 400 and not target.exists()


def test_a_sample_of_the_import_fuzzer_is_refused_cleanly_or_imported_whole(exported, tmp_path):
    """One archive of each kind bench/fuzz_import.py makes (bombs, traversal, lying sizes, non-images,
    mutations), imported in-process: an ArchiveError with nothing written, or the whole album."""
    import random

    from fuzz_import import KINDS, make_case

    from app.album.archive import ArchiveError, import_album

    archive, _ = exported
    rng = random.Random(0)
    for kind in KINDS:
        if kind in ("manifest_bomb", "member_bomb"):
            continue  # their memory bound is the slow test above; here they would only cost time
        case, target = tmp_path / f"{kind}.zip", tmp_path / f"into-{kind}"
        make_case(kind, archive, case, rng)
        try:
            count = import_album(case, target)
        except ArchiveError as e:
            assert str(e) and "\n" not in str(e), kind
            assert not target.exists() or not any((target / "photos").glob("*")), kind
        else:
            assert kind in ("valid", "extra_member") and count == 3, kind
        assert not list(tmp_path.rglob("evil*")), kind
