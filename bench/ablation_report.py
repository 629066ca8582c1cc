"""The ablation table and plot from `heirloom evaluate` reports of one photo folder.

    python bench/ablation_report.py --reports eval-*/report.json --rows rows.json -o docs/model/ablation.png

`rows.json` lists the table in order: [{"model": "cbase", "lever": "baseline", "setting": "..."}, ...]
(optional "seen" / "cpu" text replaces the header's figures, for a model trained in several runs; "bold")
where "model" is the generator file's stem in the reports (`--compare` names) or "model" for a
report's main `--weights`, matched by file stem. Photos seen and CPU-hours are read from each
generator file's header, so the table says what every row was given. Prints a Markdown table with
the gray baseline first (neutral tint where the reports have it); the plot shows FID and colourfulness
per row against gray and the photos.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model.checkpoint import read_generator


def collect(reports: list[Path]) -> tuple[dict[str, dict], dict, float, dict[str, str]]:
    """-> (metrics per model stem, gray metrics, photos' CF, generator path per stem)."""
    rows: dict[str, dict] = {}
    paths: dict[str, str] = {}
    gray: dict = {}
    real_cf = 0.0
    for path in reports:
        r = json.loads(path.read_text())
        if gray and abs(r["gray"].get("fid", 0) - gray.get("fid", 0)) > 1e-6:
            raise SystemExit(f"{path} scored other photos than the first report (its gray FID differs)")
        gray, real_cf = r["gray"], r["real"]["colorfulness"]
        main = Path(r["weights"]).stem
        rows[main], paths[main] = r["model"], r["weights"]
        for name in r["compared"]:
            rows[name] = r[name]
            # Reports written before evaluate stored compared_files: rebuilt from the stem beside the main file.
            paths[name] = r.get("compared_files", {}).get(name) or str(
                Path(r["weights"]).with_name(name + ".safetensors")
            )
    return rows, gray, real_cf, paths


def tint(m: dict) -> str:
    """Mean predicted chroma where the photo is neutral (evaluate's neutral_tint; "–" where there is none)."""
    value = m.get("neutral_tint")  # None too where no photo has neutral pixels
    return "–" if value is None else f"{value:.2f}"


def seen_and_cpu(path: str) -> tuple[int, float]:
    info = read_generator(path).info
    cpu = info.get("cpu_hours", info.get("cpu_seconds", 0) / 3600)
    return int(info.get("images_seen", 0)), float(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", nargs="+", type=Path, required=True)
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("-o", "--plot", type=Path, required=True)
    a = p.parse_args()
    metrics, gray, real_cf, paths = collect(a.reports)
    table = json.loads(a.rows.read_text())
    cf_head = f"CF (photos {real_cf:.1f})"
    print(f"| lever | setting | photos seen | CPU-h | FID ↓ | PSNR ↑ | CIEDE2000 ↓ | {cf_head} | neutral tint ↓ |")
    print("|---|---|---|---|---|---|---|---|---|")
    g = gray
    scores = f"{g['fid']:.1f} | {g['psnr']:.2f} | {g['ciede2000']:.2f} | 0 | {tint(g)}"
    print(f"| – | gray (input = output) | – | – | {scores} |")
    labels, fids, cfs = [], [], []
    for row in table:
        m = metrics[row["model"]]
        seen, cpu = seen_and_cpu(paths[row["model"]])
        seen_txt, cpu_txt = row.get("seen", f"{seen:,}"), row.get("cpu", f"{cpu:.2f}")  # a run of several parts
        bold = "**" if row.get("bold") else ""
        print(
            f"| {row['lever']} | {bold}{row['setting']}{bold} | {seen_txt} | {cpu_txt} | {bold}{m['fid']:.1f}{bold} | "
            f"{m['psnr']:.2f} | {m['ciede2000']:.2f} | {m['colorfulness']:.1f} | {tint(m)} |"
        )
        labels.append(f"{row['lever']}: {row['setting']}" if row["lever"] != "–" else row["setting"])
        fids.append(m["fid"])
        cfs.append(m["colorfulness"])
    plot(a.plot, labels, fids, cfs, gray["fid"], real_cf)


def plot(path: Path, labels: list[str], fids: list[float], cfs: list[float], gray_fid: float, real_cf: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.45 * len(labels) + 1.4), sharey=True)
    y = list(range(len(labels)))[::-1]
    ax1.barh(y, fids, color="#4a7ab8")
    ax1.axvline(gray_fid, color="gray", ls="--", label=f"gray {gray_fid:.1f}")
    ax1.set_xlabel("FID on held-back photos (lower is better)")
    ax1.set_yticks(y, labels, fontsize=8)
    ax1.legend(fontsize=8, loc="lower right")
    ax2.barh(y, cfs, color="#c8824a")
    ax2.axvline(real_cf, color="black", ls=":", label=f"photos {real_cf:.1f}")
    ax2.set_xlabel("colourfulness (the photos' is the goal)")
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
