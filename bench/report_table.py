"""Markdown table from `heirloom evaluate` reports: one row per report, plus the gray baseline once.

python bench/report_table.py evals/a/report.json evals/b/report.json --names "GAN" "L1 only"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(name: str, m: dict) -> str:
    fid = f"{m['fid']:.1f}" if "fid" in m else "–"
    return (
        f"| {name} | {fid} | {m['psnr']:.2f} | {m['ciede2000']:.2f} | {m['colorfulness']:.1f} | {m['delta_cf']:+.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("reports", nargs="+", type=Path)
    ap.add_argument("--names", nargs="+")
    a = ap.parse_args()
    reports = [json.loads(p.read_text()) for p in a.reports]
    names = a.names or [p.parent.name for p in a.reports]
    first = reports[0]
    print(f"{first['photos']} photos of {first['folder']}; real colorfulness {first['real']['colorfulness']:.1f}\n")
    print("| model | FID ↓ | PSNR ↑ | CIEDE2000 ↓ | CF | ΔCF |")
    print("|---|---|---|---|---|---|")
    print(row("gray baseline (output = input)", first["gray"]))
    for name, r in zip(names, reports):
        print(row(name, r["model"]))


if __name__ == "__main__":
    main()
