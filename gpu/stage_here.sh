#!/usr/bin/env bash
# Run HERE, before a device call: fills the ignored data/ folder (sent along with `carry: ["data"]`) with what
# gpu/train_on_device.sh reads there: one shard of photos and, with HEIRLOOM_STAGE_CRITIC=1 (for a recipe with
# d_kind=projected), the critic's ImageNet AlexNet (from the stlpips wheel, which the GPU machine lacks; 4.9 MB,
# ~800 photos' room).
#   bash gpu/stage_here.sh PHOTOS [SKIP]     e.g. bash gpu/stage_here.sh ../shared/data/train 0
# SKIP starts later in the fixed shuffle: the next call's is this one's SKIP plus the photos it packed (printed).
# The shard gets what is left of the 64 MiB that travels, after the work tree and the critic (1 MiB spare);
# HEIRLOOM_SHARD_MB sets it instead. PYTHON: the interpreter with this repository installed (default .venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
photos=${1:?usage: gpu/stage_here.sh PHOTOS [SKIP]}
skip=${2:-0}
py=${PYTHON:-.venv/bin/python}
rm -f data/shard-* data/alexnet-encoder.safetensors   # the device trains on every shard in data/: only this call's
mkdir -p data
if [ "${HEIRLOOM_STAGE_CRITIC:-0}" = 1 ]; then
  PYTHONPATH=. "$py" -c "from model.training.projected_discriminator import imagenet_alexnet as a; a('data/alexnet-encoder.safetensors')"
fi
# What travels besides the shard: the work tree (a tracked file deleted here counts nothing) and all of data/.
tree=$( (git ls-files -z -co --exclude-standard | xargs -0r stat -c %s 2>/dev/null || true) | awk '{s += $1} END {print s + 0}')
staged=$(du -sb data | cut -f1)
room=$(( 64 * 1024 * 1024 - tree - staged - 1024 * 1024 ))
mb=${HEIRLOOM_SHARD_MB:-$(awk -v b="$room" 'BEGIN {printf "%.1f", b / 1e6}')}
if awk -v m="$mb" 'BEGIN {exit !(m < 1)}'; then
  echo "no room for a shard: the work tree is $(( tree / 1024 / 1024 )) MiB of the 64 that travel" >&2; exit 1
fi
PYTHONPATH=. "$py" -m heirloom.cli pack-shard "$photos" -o data/shard-0.npz --skip "$skip" --max-mb "$mb"
du -ch data/* | tail -1
