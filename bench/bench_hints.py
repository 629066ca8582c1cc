"""Colour hints measured (Zhang et al. 2017's protocol): a folder of colour photos made gray, colorized with
0, 1, 2, 5 and 10 hints taken from each photo's own colours (`truth_hints`: the same points for the same
file), PSNR and CIEDE2000 against the photos; beside them the automatic numbers of the model before the
hint fine-tune (`--before`). Prints a markdown table for the model card and writes the rows as JSON.

    python bench/bench_hints.py ../shared/data/val/imagenet_ood --weights RUN/best.safetensors \\
        --before weights/heirloom-generator.safetensors -o /tmp/hints-eval

`--held-back` scores a training folder's held-back slice instead (the photos the trainer never sees, by
`is_val`, as the trainer splits them): for choosing among a run's checkpoints without touching a test folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model import Colorizer
from model.training.evaluate import evaluate_folder, held_back_photos, list_photos


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--weights", required=True, help="a generator with a hint input")
    p.add_argument("--before", help="the generator before the hint fine-tune (its automatic numbers)")
    p.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10])
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--precision", default="auto")
    p.add_argument(
        "--held-back", type=float, metavar="FRACTION", help="only the training folder's held-back slice (0.02)"
    )
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args()
    out, folder = Path(args.output), Path(args.folder)
    files = held_back_photos(folder, args.held_back) if args.held_back else list_photos(folder)
    model = Colorizer.from_checkpoint(args.weights, precision=args.precision)
    if not model.takes_hints:
        raise SystemExit(f"{args.weights} has no hint input")
    rows = []
    if args.before:
        before = Colorizer.from_checkpoint(args.before, precision=args.precision)
        r = evaluate_folder(folder, args.before, out / "before", args.limit, fid=False, colorizer=before, files=files)
        rows.append({"model": "before the fine-tune", "hints": 0, **{k: r["model"][k] for k in ("psnr", "ciede2000")}})
        rows.append({"model": "gray", "hints": 0, **{k: r["gray"][k] for k in ("psnr", "ciede2000")}})
    for n in args.counts:
        r = evaluate_folder(
            folder, args.weights, out / f"hints-{n}", args.limit, fid=False, colorizer=model, hints=n, files=files
        )
        if not any(row["model"] == "gray" for row in rows):  # the same photos made gray, from the first pass
            rows.insert(0, {"model": "gray", "hints": 0, **{k: r["gray"][k] for k in ("psnr", "ciede2000")}})
        rows.append({"model": "with hint input", "hints": n, **{k: r["model"][k] for k in ("psnr", "ciede2000")}})
    (out / "hints.json").write_text(json.dumps({"folder": args.folder, "photos": r["photos"], "rows": rows}, indent=2))
    print(f"\n{r['photos']} photos of {args.folder}\n")
    print("| model | hints | PSNR (dB) | CIEDE2000 |\n|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['hints']} | {row['psnr']:.2f} | {row['ciede2000']:.2f} |")


if __name__ == "__main__":
    main()
