"""Turn a run's generator into a shippable file: half precision, recipe in the header, SHA-256 beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..checkpoint import build_generator, read_generator, sha256_of
from .generator_file import save_generator, write_checksum


def export_run(run_dir: str | Path, out: str | Path, notes: str = "", raw: bool = False, half: bool = True) -> Path:
    """The run's selected generator (best.safetensors; with `raw` its latest) and a frozen encoder's file,
    side by side in `out`'s folder, each with its SHA-256 file; the generator's header names the encoder
    and its checksum. `half`: float16 (runs save their generators in it already)."""
    run_dir, out = Path(run_dir), Path(out)
    src = run_dir / f"{'latest' if raw else 'best'}.safetensors"
    gen = read_generator(src)
    enc_out = None
    if gen.encoder_path is not None:
        enc_out = out.parent / gen.encoder_path.name
        if not enc_out.exists() or sha256_of(enc_out) != gen.encoder_sha256:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gen.encoder_path, enc_out)
        write_checksum(enc_out)
    weights = "EMA of the generator" if gen.info.get("recipe", {}).get("ema", 1) else "the generator"
    info = dict(gen.info, notes=notes, weights=weights, exported_from=f"{run_dir.name}/{src.name}")
    path = save_generator(out, build_generator(gen), gen.render_size, info, half=half, encoder_path=enc_out)
    write_checksum(path)
    return path
