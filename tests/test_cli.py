"""The `heirloom` command: colorize files and folders, bad files reported and skipped, evaluate."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from heirloom.cli import main
from model.photo_io import load_photo

from engine_helpers import photo_array, tiny_weights, write_photos


def test_colorize_keeps_names_formats_and_sizes(tmp_path, capsys):
    w = tiny_weights(tmp_path / "g.safetensors")
    src = tmp_path / "in"
    write_photos(src / "album", 2, size=(37, 53))
    Image.fromarray(photo_array(20, 30)[..., 0]).save(src / "gray.jpg", quality=95)
    single = tmp_path / "single.webp"
    Image.fromarray(photo_array(25, 25)).save(single, lossless=True)
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(src),
                str(single),
                "-o",
                str(out),
                "--weights",
                str(w),
                "--sheet",
                str(tmp_path / "sheet.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "sheet.png").size[1] > 4 * 240  # a row per photo
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["album/photo0.png", "album/photo1.png", "gray.jpg", "single.webp"]
    assert load_photo(out / "gray.jpg").format == "JPEG"
    assert load_photo(out / "gray.jpg").pixels.shape == (20, 30, 3)
    assert load_photo(out / "album" / "photo0.png").pixels.shape == (37, 53, 3)
    assert "colorized 4 of 4" in capsys.readouterr().err


def test_colorize_reports_bad_file_and_fails(tmp_path, capsys):
    w = tiny_weights(tmp_path / "g.safetensors")
    src = tmp_path / "in"
    write_photos(src, 1)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(src),
                "-o",
                str(out),
                "--weights",
                str(w),
                "--format",
                "jpeg",
                "--policy",
                "stretch",
                "--saturation",
                "1.5",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "broken.png" in err and "not an image" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["photo0.jpg"]  # nothing written for the bad one


def test_colorize_without_weights_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HEIRLOOM_WEIGHTS", str(tmp_path / "missing.safetensors"))
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "No weights file" in capsys.readouterr().err


def test_evaluate_writes_report_and_sheet(tmp_path, capsys):
    w = tiny_weights(tmp_path / "g.safetensors")
    write_photos(tmp_path / "val", 4)
    out = tmp_path / "eval"
    assert main(["evaluate", str(tmp_path / "val"), "--weights", str(w), "-o", str(out), "--no-fid"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["photos"] == 4
    assert report["gray"]["colorfulness"] == 0 and report["real"]["colorfulness"] > 10
    assert report["gray"]["delta_cf"] == -report["real"]["colorfulness"]
    for k in ("psnr", "ciede2000", "colorfulness", "delta_cf"):
        assert np.isfinite(report["model"][k])
    assert "fid" not in report["model"]
    sheet = Image.open(out / "contact-sheet.png")
    assert sheet.size[1] > 4 * 160
    assert "model" in capsys.readouterr().out


def test_fid_distance_and_reference_cache(tmp_path, monkeypatch):
    import model.training.evaluate as ev
    import model.training.fid as fid

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert abs(fid.InceptionFID.distance(a, a)) < 1e-6
    assert fid.InceptionFID.distance(a, a + 3.0) == pytest.approx(4 * 9.0, rel=1e-3)  # |Δμ|² for equal covariances

    calls = []

    class CheapFID(fid.InceptionFID):  # stands in for Inception: mean colour + spread per image
        def __init__(self, device="cpu"):
            pass

        def features(self, rgb):
            calls.append(1)
            x = rgb.reshape(-1, 3).astype(float)
            return np.concatenate([x.mean(0), x.std(0)])

    monkeypatch.setattr(fid, "InceptionFID", CheapFID)
    monkeypatch.setattr(fid, "fid_available", lambda: True)
    monkeypatch.setenv("HEIRLOOM_CACHE", str(tmp_path / "cache"))
    w = tiny_weights(tmp_path / "g.safetensors")
    write_photos(tmp_path / "val", 8)
    first = ev.evaluate_folder(tmp_path / "val", str(w), tmp_path / "e1", log=lambda *a: None)
    assert len(calls) == 3 * 8  # model, gray and real features
    calls.clear()
    second = ev.evaluate_folder(tmp_path / "val", str(w), tmp_path / "e2", log=lambda *a: None)
    assert len(calls) == 8  # the photos' own features came from the cache
    assert second["gray"]["fid"] == pytest.approx(first["gray"]["fid"])
    assert second["model"]["fid"] == pytest.approx(first["model"]["fid"])
    assert first["gray"]["fid"] > 0
    picked = sorted((tmp_path / "val").iterdir())[:3]  # a slice of the folder (bench_hints --held-back)
    part = ev.evaluate_folder(tmp_path / "val", str(w), tmp_path / "e3", fid=False, files=picked, log=lambda *a: None)
    assert part["photos"] == 3
    assert part["gray"]["psnr"] != pytest.approx(first["gray"]["psnr"])  # other photos, other scores


def test_help_loads_neither_torch_nor_opencv():
    """`heirloom --help` and `heirloom <cmd> --help` answer at once: the parser reads only light tables."""
    code = (
        "import sys; from heirloom.cli import build_parser; from app.server import parse; build_parser(); "
        "heavy = {'torch', 'cv2', 'PIL', 'numpy', 'fastapi'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_flags_list_their_choices_from_the_tables(capsys):
    from model.formats import CHOICES
    from model.options import POLICIES
    from model.training import recipes

    for cmd, listed in (("colorize", [*CHOICES, *POLICIES]), ("evaluate", POLICIES), ("train", recipes.names())):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = capsys.readouterr().out
        assert all(name in out for name in listed), cmd
    for cmd in ("colorize", "evaluate"):  # the same flag means the same in every command
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = capsys.readouterr().out
        assert "-o OUTPUT, --output OUTPUT" in out and "--sheet-rows N" in out


def test_only_typed_errors_become_one_line_messages(tmp_path, capsys, monkeypatch):
    w = tiny_weights(tmp_path / "g.safetensors")
    write_photos(tmp_path / "in", 1)
    assert (
        main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--weights", str(w), "--render-size", "30"])
        == 2
    )  # an InvalidOption: one line, exit 2
    assert capsys.readouterr().err.startswith("error: render_size must be a multiple of 32")
    import model.colorize_files as cf

    monkeypatch.setattr(cf, "collect", lambda inputs: 1 / 0)  # a bug: its traceback must show
    with pytest.raises(ZeroDivisionError):
        main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--weights", str(w)])


def test_colorize_names_follow_the_written_format(tmp_path):
    """`--format` renames; a source we cannot write (GIF) comes back as PNG, as from the web app."""
    w = tiny_weights(tmp_path / "g.safetensors")
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array(20, 30)[..., 0]).save(src / "old.gif")
    Image.fromarray(photo_array(20, 30)).save(src / "scan.jpeg", quality=95)
    assert (
        main(
            [
                "colorize",
                str(src / "old.gif"),
                str(src / "scan.jpeg"),
                "-o",
                str(tmp_path / "keep"),
                "--weights",
                str(w),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["old.png", "scan.jpeg"]
    assert (
        main(["colorize", str(src / "scan.jpeg"), "-o", str(tmp_path / "tif"), "--weights", str(w), "--format", "tiff"])
        == 0
    )
    assert load_photo(tmp_path / "tif" / "scan.tif").format == "TIFF"


def test_evaluate_compare_files_with_one_name_are_both_reported(tmp_path):
    write_photos(tmp_path / "val", 2)
    w = tiny_weights(tmp_path / "g.safetensors")
    a = tiny_weights(tmp_path / "run-a" / "latest.safetensors")
    b = tiny_weights(tmp_path / "run-b" / "latest.safetensors")
    out = tmp_path / "eval"
    args = ["evaluate", str(tmp_path / "val"), "--weights", str(w), "-o", str(out), "--no-fid"]
    assert main([*args, "--compare", str(a), "--compare", str(b)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["compared"] == ["latest", "run-b/latest"]
    assert report["compared_files"] == {"latest": str(a), "run-b/latest": str(b)}
    assert all(np.isfinite(report[k]["psnr"]) for k in report["compared"])


def test_colorize_takes_hints_from_a_file_or_stdin_and_refuses_them_without_a_hint_input(tmp_path, capsys, monkeypatch):
    import io

    photo = tmp_path / "p.png"
    Image.fromarray(photo_array(48, 64)).save(photo)
    hinted = tiny_weights(tmp_path / "h.safetensors", hints=True)
    hints = tmp_path / "hints.json"
    hints.write_text('[{"x": 0.5, "y": 0.5, "color": "#3a5fb0", "radius": 0.1}]')
    run = ["colorize", str(photo), "--weights", str(hinted), "--precision", "float32", "-o"]
    assert main([*run, str(tmp_path / "auto")]) == 0
    assert main([*run, str(tmp_path / "file"), "--hints", str(hints)]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(hints.read_text()))
    assert main([*run, str(tmp_path / "stdin"), "--hints", "-"]) == 0
    auto, by_file, by_stdin = (np.asarray(Image.open(tmp_path / d / "p.png"), int) for d in ("auto", "file", "stdin"))
    assert np.abs(by_file - auto).mean() > 1 and np.array_equal(by_file, by_stdin)
    capsys.readouterr()
    hints.write_text('[{"x": 2, "y": 0.5, "color": "#3a5fb0"}]')
    assert main([*run, str(tmp_path / "bad"), "--hints", str(hints)]) == 2
    assert "x must be between 0.0 and 1.0" in capsys.readouterr().err
    plain = tiny_weights(tmp_path / "g.safetensors")
    hints.write_text('[{"x": 0.5, "y": 0.5, "color": "#3a5fb0"}]')
    out = str(tmp_path / "x")
    assert main(["colorize", str(photo), "--weights", str(plain), "-o", out, "--hints", str(hints)]) == 2
    err = capsys.readouterr().err
    assert "no hint input" in err and len(err.strip().splitlines()) == 1
    assert main([*run, str(tmp_path / "y"), "--hints", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_evaluate_gives_hint_models_points_of_each_photos_own_colour(tmp_path):
    from model.training.hint_sampling import truth_hints

    rgb = photo_array(60, 80)
    hints = truth_hints(rgb, 5, np.random.default_rng(3), radius=0.02)
    assert truth_hints(rgb, 2, np.random.default_rng(3), radius=0.02) == hints[:2], "k hints are the first k of n"
    for h in hints:
        r, c = min(59, int(h.y * 60)), min(79, int(h.x * 80))
        near = rgb[max(0, r - 2) : r + 3, max(0, c - 2) : c + 3].reshape(-1, 3).mean(0)
        assert np.abs(np.array([int(h.color[i : i + 2], 16) for i in (1, 3, 5)]) - near).max() <= 12
    hinted, plain = tiny_weights(tmp_path / "h.safetensors", hints=True), tiny_weights(tmp_path / "g.safetensors")
    write_photos(tmp_path / "val", 3)
    reports = {}
    for n in (0, 5):
        out = tmp_path / f"eval{n}"
        run = ["evaluate", str(tmp_path / "val"), "--weights", str(hinted), "--compare", str(plain), "-o", str(out)]
        assert main([*run, "--no-fid", "--precision", "float32", "--hint-points", str(n)]) == 0
        reports[n] = json.loads((out / "report.json").read_text())
    assert reports[5]["hints"] == 5 and reports[0]["hints"] == 0
    assert reports[5]["model"]["ciede2000"] != reports[0]["model"]["ciede2000"], "the hint model got hints"
    assert reports[5]["g"] == reports[0]["g"], "a model without a hint input colours on its own"
