"""Turn a run's generator into a shippable file: half precision, recipe in the header, SHA-256 beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..checkpoint import build_generator, read_generator, save_generator, sha256_of, write_checksum
from .config import TrainConfig
from .run_folder import RunFolder


def export_hypercolumn(run_dir: Path, out: Path, notes: str = "", which: str = "best") -> Path:
    """The run's selected (or latest) generator and its encoder, side by side in `out`'s folder, each
    with its SHA-256 file; the generator's header names the encoder and its checksum."""
    src = run_dir / f"{which}.safetensors"
    gen = read_generator(src)
    if gen.encoder_path is None:
        raise ValueError(f"{src} names no encoder")
    enc_out = out.parent / gen.encoder_path.name
    if not enc_out.exists() or sha256_of(enc_out) != gen.encoder_sha256:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gen.encoder_path, enc_out)
    write_checksum(enc_out)
    info = dict(gen.info, notes=notes, weights="EMA of the decoder", exported_from=f"{run_dir.name}/{src.name}")
    path = save_generator(out, build_generator(gen), gen.render_size, info, half=True, encoder_path=enc_out)
    write_checksum(path)
    return path


def export_run(run_dir: str | Path, out: str | Path, half: bool = True, notes: str = "", raw: bool = False) -> Path:
    """`raw`: the trained G itself from the last training state, instead of its EMA average.
    A hypercolumn run (recipe.json) exports its selected generator (best.safetensors), or with
    `raw` its latest."""
    if (Path(run_dir) / "recipe.json").exists():
        return export_hypercolumn(Path(run_dir), Path(out), notes, "latest" if raw else "best")
    run = RunFolder(Path(run_dir))
    gen = read_generator(run.generator_path)
    cfg = TrainConfig.load(run.config_path)
    info = dict(gen.info)
    info.update(recipe=cfg.to_dict(), notes=notes, weights="G" if raw or cfg.optim.ema <= 0 else "EMA of G")
    if raw:
        gen.state = run.load_state()["G"]
    path = save_generator(out, build_generator(gen), gen.render_size, info, half=half)
    write_checksum(path)
    return path
