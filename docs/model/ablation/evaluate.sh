#!/bin/bash
# Score ablation rows on the same 179 held-back photos (224 px; each model at its own render size through
# the full pipeline), side by side with gray, clean or as aged prints (scored against the clean photos).
# usage: [A=runs folder] [THREADS=n] evaluate.sh OUTNAME [--aged SEED] ROW [ROW...]
A=${A:-/var/tmp/heirloom-runs/abl}; M=$A/models; mkdir -p $M
cd /work/main
out=$1; shift
extra=(); [ "$1" = --aged ] && { extra=(--aged "$2"); shift 2; }
cp -n /work/main/weights/vgg16-encoder.safetensors $M/ 2>/dev/null
[ -f $A/run-alex/alexnet-encoder.safetensors ] && cp -n $A/run-alex/alexnet-encoder.safetensors $M/
args=()
for r in "$@"; do
  if [ $r = shipped ]; then
    cp /work/main/weights/heirloom-generator.safetensors $M/shipped.safetensors
  elif [ $r = none ]; then
    [ -f $M/none.safetensors ] || .venv/bin/heirloom export $A/00000-none -o $M/none.safetensors --notes "ablation: encoder none (U-Net)"
  else
    cp $A/run-$r/latest.safetensors $M/$r.safetensors
  fi
  args+=(--compare $M/$r.safetensors)
done
first=${args[1]}; rest=("${args[@]:2}")
OMP_NUM_THREADS=${THREADS:-2} nice -n 5 .venv/bin/heirloom evaluate $A/heldback --weights $first "${rest[@]}" "${extra[@]}" \
  -o $A/eval-$out --sheet-rows 8
