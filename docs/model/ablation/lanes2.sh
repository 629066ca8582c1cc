#!/bin/bash
# The model issue's ablation rows (2026-12-05): one lever at a time against baselines re-run on the same code,
# each row 20 CPU-minutes on one thread, two lanes side by side, from the code snapshot in $CODE.
# Resumable: a finished row leaves DONE-row; an unfinished one continues from its state.pt.
# usage: lanes2.sh ROW [ROW...]        (cache: lanes2.sh cache, before the cached rows; cacheall before call)
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
A=${A:-/var/tmp/heirloom-runs/abl2}
CODE=${CODE:-/var/tmp/heirloom-runs/code}
CACHE_PRECISION=${CACHE_PRECISION:-float32}  # auto: bf16 where the CPU has it (the 2026-12-05 "all photos" pair)
HERE=$(cd "$(dirname "$0")" && pwd)  # row_loop.sh lies beside this script
cd "$CODE"
H() { PYTHONPATH=. /work/main/.venv/bin/python -c "import sys; from heirloom.cli import main; sys.exit(main())" "$@"; }
common=(--cpu-hours 0.333 --set threads=1 --set eval_photos=0 --set eval_minutes=999 --set checkpoint_minutes=3
        --set generator.width=128 --set lr=5e-4 --set class_weight=0 --set generator.decode=regression)
otf=(--photos $A/photos "${common[@]}")   # VGG16 run on every random crop (photo-set.py's 9,270 photos)
cached=(--cache $A/cache "${common[@]}")  # VGG16 features computed once (flips only): the CPU recipe
row() {
  case $1 in
    cache) OMP_NUM_THREADS=2 H cache-features $A/photos -o $A/cache --precision $CACHE_PRECISION &&
           # the first 6,400 of the cache's fixed shuffle, read in place: the same arrays, a shorter table
           mkdir -p $A/cache6k && for f in $A/cache/*.npy $A/cache/table.npz; do ln -sf $f $A/cache6k/; done &&
           /work/main/.venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); m['done']=6400; \
             m['files']=m['files'][:6400]; json.dump(m, open(sys.argv[2],'w'))" $A/cache/meta.json $A/cache6k/meta.json ;;
    # all 18,004 photos (photo-set.py $A/all 18004): its own cache, the same held-back names left out
    cacheall) OMP_NUM_THREADS=2 H cache-features $A/all/photos -o $A/cacheall --precision $CACHE_PRECISION ;;
    call)  H train-hypercolumn $A/run-call --cache $A/cacheall "${common[@]}" ;;
    obase) H train-hypercolumn $A/run-obase "${otf[@]}" ;;
    oaged) H train-hypercolumn $A/run-oaged "${otf[@]}" --set age=0.5 ;;
    cbase) H train-hypercolumn $A/run-cbase "${cached[@]}" ;;
    c6k)   H train-hypercolumn $A/run-c6k --cache $A/cache6k "${common[@]}" ;;
    ctx)   H train-hypercolumn $A/run-ctx "${cached[@]}" --set generator.context=256 ;;
    deep)  H train-hypercolumn $A/run-deep "${cached[@]}" --set generator.blocks=2 ;;
    wide)  H train-hypercolumn $A/run-wide "${cached[@]}" --set generator.width=256 ;;
    # bf16 vs float32: this CPU has no native bf16 (emulated, ~0.3x float32's step rate), so the pair runs an
    # equal step count (320 steps, 10,240 photos), not equal CPU time: the same photos seen, the precision alone changed
    f32s)  H train-hypercolumn $A/run-f32s "${cached[@]}" --set precision=float32 --cpu-hours 0 --steps 320 ;;
    # (the trainer refuses bf16 on a CPU without it, rightly for users; here it is forced, for its numbers alone)
    bf16)  PYTHONPATH=. /work/main/.venv/bin/python -c "import sys, model.precision as p; p.cpu_has_native_bf16 = lambda: True
from heirloom.cli import main; sys.exit(main())" train-hypercolumn $A/run-bf16 "${cached[@]}" --set precision=bfloat16 \
             --cpu-hours 0 --steps 320 ;;
  esac
}
source "$HERE/row_loop.sh"
run_rows "$@"
