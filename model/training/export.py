"""Turn a run's generator into a shippable file: half precision, recipe in the header, SHA-256 beside it."""
from __future__ import annotations

from pathlib import Path

from ..checkpoint import build_generator, read_generator, save_generator, write_checksum
from .config import TrainConfig
from .run_folder import RunFolder


def export_run(run_dir: str | Path, out: str | Path, half: bool = True, notes: str = "", raw: bool = False) -> Path:
    """`raw`: the trained G itself from the last training state, instead of its EMA average."""
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

