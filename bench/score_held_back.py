"""Score generator files on a feature cache's held-back slice, every decoding, as the trainer does.

    python bench/score_held_back.py --cache /var/tmp/heirloom-runs/cache-vgg16-128 \
        --scratch /var/tmp/heirloom-runs/hc-main weights/heirloom-generator.safetensors other.safetensors

Models trained in different runs (a GPU run selects on its own shard's slice, without FID) become
comparable on one slice, with the one selection rule. `--scratch` is a folder for the slice's Inception
features and gray baseline (a run folder of the same cache reuses its own). Prints one JSON line per
model and decoding, then the gray baseline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from model.checkpoint import build_generator, read_generator
from model.training.feature_cache import FeatureCache
from model.training.held_back import HeldBackScorer, selection_key
from model.training.recipe import Recipe, decodings
from model.training.sources import CachedSource


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("generators", nargs="+")
    p.add_argument("--cache", required=True)
    p.add_argument("--scratch", required=True)
    p.add_argument("--photos", type=int, default=200, help="held-back photos to use (the trainer's eval_photos)")
    p.add_argument("--temperatures", default="0.6,0.38")
    a = p.parse_args()
    cache = FeatureCache.open(a.cache)
    source = CachedSource(cache, Recipe(cache=a.cache))
    feats, real = source.held_back(a.photos)
    scorer = HeldBackScorer(Path(a.scratch), feats, real, torch.device("cpu"))
    temps = tuple(float(t) for t in a.temperatures.split(","))
    rows = []
    for path in a.generators:
        gen = read_generator(path)
        decoder = build_generator(gen).decoder.float().eval()
        for row in scorer.score(lambda f, l, d=decoder: d(f, l), decodings(gen.config, temps)):
            row = {"model": path, **row}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"model": "gray baseline", **scorer.gray_baseline()}))
    print(json.dumps({"selected": min(rows, key=selection_key)}))


if __name__ == "__main__":
    main()
