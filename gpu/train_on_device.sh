#!/usr/bin/env bash
# Train a recipe (default: model v3's) on the lent GPU machine (one H100/H200, PyTorch + CUDA preinstalled,
# no network, none of ../shared). Run from the repository root there, e.g. through the `device` tool:
#   bash gpu/train_on_device.sh          (photos: data/shard-*.npz, made here by gpu/stage_here.sh)
# Results come back through $OUT (at most 8 files of 16 MiB): best/latest generators (in parts when bigger),
# snapshots.tar (the EMA generator at every evaluation: this machine has no Inception weights, so its best is the
# best by PSNR; score the snapshots' FID back home with `heirloom evaluate` or bench/score_held_back.py), the
# training state (for a later GPU or CPU run to continue, when it fits), evals, metrics, recipe and the two plots.
# Knobs (environment): HEIRLOOM_GPU_SHARDS (a shard, or a folder of shard-*.npz; default data/),
# HEIRLOOM_GPU_RECIPE (a recipe name or file, default heirloom-v6), HEIRLOOM_GPU_MINUTES (training wall
# minutes, default 7: one call may run 10), HEIRLOOM_GPU_INIT
# (warm start; default the shipped generator when it is a hypercolumn one; "none" starts afresh), HEIRLOOM_GPU_SET
# (space-separated recipe overrides, applied after the GPU defaults below), HEIRLOOM_GPU_FILE_KB (the largest
# file returned whole, and the size of the parts of a bigger generator; default 15 MiB), PYTHON.
# A projected critic (d_kind=projected, e.g. heirloom-v9) reads its ImageNet AlexNet from the stlpips wheel, which
# the GPU machine lacks: HEIRLOOM_STAGE_CRITIC=1 gpu/stage_here.sh puts its float16 copy (4.9 MB) in data/
# (HEIRLOOM_GPU_CRITIC: another path); a recipe without that critic ignores it.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
out=${OUT:?set OUT to the folder whose files come back}
shards=${HEIRLOOM_GPU_SHARDS:-data}
minutes=${HEIRLOOM_GPU_MINUTES:-7}
run="$out/run"
mkdir -p "$run"

# The run trains on exactly the encoder it will ship with: the repository's float16 copy.
if [ ! -f "$run/vgg16-encoder.safetensors" ] && [ -f weights/vgg16-encoder.safetensors ]; then
  cp weights/vgg16-encoder.safetensors "$run/"
fi
critic=${HEIRLOOM_GPU_CRITIC:-data/alexnet-encoder.safetensors}
if [ -f "$critic" ]; then cp "$critic" "$run/alexnet-encoder.safetensors"; fi
init=${HEIRLOOM_GPU_INIT:-}
if [ -z "$init" ] && [ -f weights/heirloom-generator.safetensors ] &&
   PYTHONPATH=. "$py" -c "import sys; from model.checkpoint import read_generator as r; sys.exit(r('weights/heirloom-generator.safetensors').architecture != 'hypercolumn')"; then
  init=weights/heirloom-generator.safetensors
fi

# The recipe (a file in model/training/recipes/, default heirloom-v6: v3's decoder, whole-photo views, a quarter
# aged into old prints, no L1 rarity weights; a v2 init is grown to its decoder, whose new blocks start at zero), then the GPU's
# settings: large batches (the encoder runs per batch, in bf16), frequent checkpoints and evals.
recipe=${HEIRLOOM_GPU_RECIPE:-heirloom-v6}
sets=(--set batch_size=128 --set lr=0.001 --set checkpoint_minutes=2 --set eval_minutes=3 --set eval_photos=200
      --set compile=false --set keep_snapshots=true)
if [ -n "$init" ] && [ "$init" != none ]; then
  sets+=(--set "init=$init")
  # Continue the init's decoder in its own shape (the shipped one may be narrower than the defaults); what a
  # recipe may grow (residual blocks, a context, a trained conv5 block) stays the recipe's.
  for kv in $(PYTHONPATH=. "$py" -c "import sys, json; from model.training.warm_start import init_shape_overrides as s; print(' '.join(f'generator.{k}={json.dumps(v)}' for k, v in s(sys.argv[1]).items() if k not in ('blocks', 'context', 'tune_top')))" "$init"); do
    sets+=(--set "$kv")
  done
fi
for kv in ${HEIRLOOM_GPU_SET:-}; do sets+=(--set "$kv"); done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

status=0
PYTHONPATH=. "$py" -m heirloom.cli train "$shards" --run "$run" --recipe "$recipe" --wall-minutes "$minutes" \
  "${sets[@]}" || status=$?

# Whatever was saved comes back, even from a run cut short (checkpoints every 2 minutes), within what the device
# returns: 8 files of at most 16 MiB, the most needed first. A generator too big for one file (one with a trained
# conv5 block is ~17 MB) comes back in parts: `cat best.safetensors.part-* > best.safetensors`. A training state
# that big cannot: continue from latest.safetensors instead.
part=$(( ${HEIRLOOM_GPU_FILE_KB:-15360} * 1024 ))
snapshots=$(cd "$run" && ls snapshot-step-*.safetensors 2>/dev/null || true)
if [ -n "$snapshots" ]; then  # with the encoder's name only: put vgg16-encoder.safetensors beside them to load them
  (cd "$run" && tar -cf snapshots.tar $snapshots)
fi
returned=0
for f in best.safetensors evals.jsonl metrics.csv recipe.json latest.safetensors snapshots.tar state.pt selection.png loss.png; do
  [ -f "$run/$f" ] || continue
  size=$(stat -c %s "$run/$f")
  parts=$(( (size + part - 1) / part ))
  if [ "$parts" -gt 1 ] && [ "${f##*.}" != safetensors ] && [ "${f##*.}" != tar ]; then
    echo "not returned: $f ($(( size / 1024 )) KiB; a returned file holds at most $(( part / 1024 )) KiB)"; continue
  fi
  if [ $(( returned + parts )) -gt 8 ]; then echo "not returned: $f (the device returns 8 files)"; continue; fi
  if [ "$parts" -gt 1 ]; then
    split -b "$part" -d -a 1 "$run/$f" "$out/$f.part-"
    echo "$f comes back in $parts parts: cat $f.part-* > $f"
  else
    cp "$run/$f" "$out/$f"
  fi
  returned=$(( returned + parts ))
done
rm -rf "$run"   # the encoder copy (29 MB) and temporaries must not count against the 8 returned files
exit $status
