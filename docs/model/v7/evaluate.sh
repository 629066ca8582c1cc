#!/bin/bash
# The model issue's report for a candidate generator against the shipped one and gray: every val folder
# (imagenet_ood clean and as aged prints, cbsd68, the first 148 of imagenette_val), then the old-photo sheet.
# usage: docs/model/v7/evaluate.sh NEW.safetensors OUT_FOLDER   (run from the repository root; ~20 min on 2 cores)
set -euo pipefail
new=$1; out=$2; val=../shared/data/val
mkdir -p "$out"
shipped=weights/heirloom-generator.safetensors
ev() { .venv/bin/heirloom evaluate --weights "$new" --compare "$shipped" --sheet-rows 8 "$@"; }
ev $val/imagenet_ood $val/cbsd68 -o "$out/clean"
ev $val/imagenet_ood --aged 1 -o "$out/aged"
ev $val/imagenette_val --limit 148 -o "$out/imagenette"
.venv/bin/python bench/compare_sheet.py ../shared/data/oldbw -o "$out/oldbw.jpg" --table "$out/oldbw-table.json" \
  --model today="$shipped" --model new="$new"
