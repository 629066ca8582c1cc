"""What each `heirloom` subcommand does (colorize, evaluate, train, cache-features, pack-shard, export, album):
one function per command, given the parsed arguments (the parser is `cli.py`'s). Each imports what it needs
when it runs, so `heirloom colorize` never loads the trainer and `heirloom train` never loads the web app."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from model.errors import ConfigError
from model.training import recipes

if TYPE_CHECKING:
    from model.options import ColorizeOptions
    from model.pipeline import Colorizer


def _colorizer(args: argparse.Namespace) -> tuple[Colorizer, ColorizeOptions]:
    """The model and the options for it, validated before any photo is read."""
    from model.pipeline import Colorizer

    hints = _read_hints(getattr(args, "hints", None))  # checked before the model loads
    weights = args.weights or os.environ.get("HEIRLOOM_WEIGHTS") or None  # the CLI reads the environment
    colorizer = Colorizer.from_checkpoint(weights, device=args.device, precision=args.precision)
    opts = colorizer.options(args.render_size, args.policy, args.saturation, getattr(args, "format", None), hints)
    return colorizer, opts


def _read_hints(source: str | None) -> tuple:
    """--hints FILE (or - for standard input): the API's hints JSON."""
    from model.hints import parse_hints

    if source is None:
        return ()
    if source == "-":
        return parse_hints(sys.stdin.read())
    try:
        return parse_hints(Path(source).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"--hints {source}: cannot read it ({e.strerror})") from None


def colorize(args: argparse.Namespace) -> int:
    from model.colorize_files import colorize_paths

    colorizer, opts = _colorizer(args)
    return colorize_paths(
        colorizer,
        args.inputs,
        Path(args.output),
        opts,
        sheet=Path(args.sheet) if args.sheet else None,
        sheet_rows=args.sheet_rows,
    )


def _compare_name(path: Path, taken: set[str]) -> str:
    """A report key for a compared generator: its file stem, or folder/stem where two stems are alike
    (two runs' latest.safetensors must not overwrite each other) or the stem is one of the report's own."""
    for name in (path.stem, f"{path.parent.name}/{path.stem}"):
        if name not in taken and name not in ("model", "gray", "real"):
            return name
    raise ConfigError(f"--compare {path}: another compared file has the same folder and name")


def evaluate(args: argparse.Namespace) -> int:
    from model.pipeline import Colorizer
    from model.training.evaluate import evaluate_folder

    colorizer, opts = _colorizer(args)
    compare: dict[str, tuple[Colorizer, ColorizeOptions]] = {}
    files: dict[str, str] = {}
    for path in args.compare or []:
        other = Colorizer.from_checkpoint(path, device=args.device, precision=args.precision)
        name = _compare_name(Path(path), set(compare))
        compare[name] = (other, other.options(None, args.policy, 1.0))  # each at its own render size
        files[name] = str(path)
    out = Path(args.output)
    for folder in args.photos:  # one report per folder: a flattering folder must not hide a hard one
        target = out / Path(folder).name if len(args.photos) > 1 else out
        print(f"== {folder}")
        evaluate_folder(
            Path(folder),
            weights=args.weights,
            out=target,
            limit=args.limit,
            opts=opts,
            fid=not args.no_fid,
            sheet_count=args.sheet_rows,
            colorizer=colorizer,
            compare=compare,
            compare_files=files,
            aged=args.aged,
            hints=args.hint_points,
        )
    return 0


def _new_run_dir(root: Path, name: str) -> Path:
    """runs/00003-NAME: the next number in `root`."""
    numbers = [int(p.name[:5]) for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*")] if root.is_dir() else []
    return root / f"{max(numbers, default=-1) + 1:05d}-{name}"


def train(args: argparse.Namespace) -> int:
    import json

    from model.training.recipe import Recipe, apply_sets, load_recipe

    sets = list(args.set or [])
    for key, value in (
        ("photos", args.photos or args.data),
        ("cache", args.cache),
        ("steps", args.steps),
        ("cpu_hours", args.cpu_hours),
        ("wall_minutes", args.wall_minutes),
    ):
        if value:
            sets.append(f"{key}={json.dumps(value)}")
    run = Path(args.resume or args.run) if (args.resume or args.run) else None
    stored = run / "recipe.json" if run else None
    if args.resume and not (stored and stored.is_file()):
        raise ConfigError(f"--resume {args.resume}: no recipe.json there, so no run to continue")
    if stored and stored.is_file() and not args.restart:  # the run's own recipe; the command adds budgets
        recipe = Recipe.from_dict(apply_sets(json.loads(stored.read_text()), sets))
    else:
        recipe = load_recipe(args.recipe or args.preset or args.config, sets)
    if not (recipe.photos or recipe.cache):
        raise ConfigError("give the colour photos to train on: heirloom train PHOTOS (a folder or .npz shards)")
    if run is None:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("under torchrun give every rank the same run folder: --run DIR")
        name = args.name or Path(args.recipe or args.preset or args.config or recipes.DEFAULT).stem
        run = _new_run_dir(Path(args.runs_dir or "runs"), name)
    if args.dry_run:
        print(json.dumps({"run": str(run), "recipe": recipe.to_dict()}, indent=2))
        return 0
    from model.training.training_run import train as run_training

    trainer = run_training(recipe, run, resume=not args.restart, device=args.device)
    if int(os.environ.get("RANK", "0")) == 0:
        # this run's own selection (kept across resumes), not a best.safetensors left before a --restart
        best = run / "best.safetensors"
        kept = f"best generator: {best}" if trainer.best and best.is_file() else "not scored"
        print(f"done: {run} ({kept}; latest generator: {run / 'latest.safetensors'})")
    return 0


def cache_features(args: argparse.Namespace) -> int:
    from model.training.feature_cache import build
    from model.training.pretrained import pretrained_vgg16

    build(args.photos, args.output, pretrained_vgg16(), args.size, limit=args.limit, precision=args.precision)
    return 0


def pack_shard(args: argparse.Namespace) -> int:
    from model.training.onthefly import pack_shard

    pack_shard(args.photos, args.output, args.size, args.max_mb, skip=args.skip)
    return 0


def export(args: argparse.Namespace) -> int:
    from model.checkpoint import read_generator
    from model.training.export import export_run
    from model.training.lineage import describe

    path = export_run(args.run, args.output, notes=args.notes or "", raw=args.raw, half=not args.full)
    print(f"wrote {path} and {path.name}.sha256 ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"trained: {describe(read_generator(path).info)}")
    return 0


def album(args: argparse.Namespace) -> int:
    from app.album.archive import (  # FastAPI's errors: only for this command
        default_data_dir,
        export_album,
        import_album,
    )

    data = Path(args.data_dir) if args.data_dir else default_data_dir()
    if args.action == "export":
        count = export_album(data, Path(args.file), os.environ.get("HEIRLOOM_DATABASE_URL") or None)
        print(f"wrote {args.file}: {count} photos from {data}")
    else:
        count = import_album(Path(args.file), data, os.environ.get("HEIRLOOM_DATABASE_URL") or None)
        print(f"imported {count} photos from {args.file} into {data}")
    return 0
