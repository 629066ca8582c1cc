#!/bin/bash
# Score lanes2.sh's rows on the same 179 held-back photos as every ablation row (224 px, each model through
# the full pipeline, side by side with gray), clean or aged. usage: evaluate2.sh OUTNAME [--aged SEED] ROW...
A=${A:-/var/tmp/heirloom-runs/abl2}; M=$A/models; mkdir -p $M
cd /work/main
out=$1; shift
extra=(); [ "$1" = --aged ] && { extra=(--aged "$2"); shift 2; }
cp -n weights/vgg16-encoder.safetensors $M/ 2>/dev/null
args=()
for r in "$@"; do
  if [ $r = shipped ]; then cp weights/heirloom-generator.safetensors $M/shipped.safetensors
  else cp $A/run-$r/latest.safetensors $M/$r.safetensors; fi
  args+=(--compare $M/$r.safetensors)
done
OMP_NUM_THREADS=${THREADS:-2} nice -n 5 .venv/bin/heirloom evaluate $A/heldback --weights "${args[1]}" "${args[@]:2}" \
  "${extra[@]}" -o $A/eval-$out --sheet-rows 8
