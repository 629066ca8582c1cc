#!/bin/bash
# One ablation lane: rows in order, each 20 CPU-minutes on one thread, from the snapshot in /work/abl-tree.
# Resumable: a finished row leaves DONE; an unfinished one continues from its state.pt.
# usage: lane.sh ROW [ROW...]
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
A=/var/tmp/heirloom-runs/abl
HERE=$(cd "$(dirname "$0")" && pwd)  # row_loop.sh lies beside this script
cd /work/abl-tree
H() { /work/main/.venv/bin/python -c "import sys; from heirloom.cli import main; sys.exit(main())" "$@"; }
base=(--photos $A/photos --cpu-hours 0.333 --set threads=1 --set eval_photos=0 --set eval_minutes=999
      --set checkpoint_minutes=3 --set generator.width=128)
l1=(--set class_weight=0 --set generator.decode=regression)
cls=(--set l1_weight=0 --set generator.decode=classes --set generator.temperature=0.38)
# the CPU recipe: VGG16 features from the cache (flips only); the rows that change the encoder or the
# render size cannot use it and compute features on the fly (random resized crops) from photos/
cached=(--cache /var/tmp/heirloom-runs/cache-vgg16-128 --cpu-hours 0.333 --set threads=1 --set eval_photos=0
        --set eval_minutes=999 --set checkpoint_minutes=3 --set generator.width=128)
row() {
  case $1 in
    base)  H train-hypercolumn $A/run-base  "${base[@]}" "${l1[@]}" ;;
    cbase) H train-hypercolumn $A/run-cbase "${cached[@]}" "${l1[@]}" ;;
    cls05) H train-hypercolumn $A/run-cls05 "${cached[@]}" "${cls[@]}" --set rebalance=0.5 ;;
    cls10) H train-hypercolumn $A/run-cls10 "${cached[@]}" "${cls[@]}" --set rebalance=1.0 ;;
    s160)  H train-hypercolumn $A/run-s160  "${base[@]}" "${l1[@]}" --set size=160 ;;
    s224)  H train-hypercolumn $A/run-s224  "${base[@]}" "${l1[@]}" --set size=224 ;;
    alex)  H train-hypercolumn $A/run-alex  "${base[@]}" "${l1[@]}" --set generator.encoder=alexnet ;;
    perc)  H train-hypercolumn $A/run-perc  "${cached[@]}" "${l1[@]}" --set perceptual_weight=1.0 ;;
    gan)   H train-hypercolumn $A/run-gan   "${cached[@]}" "${l1[@]}" --set gan_weight=0.1 --set gan_from=0.5 ;;
    none)  if [ -f $A/00000-none/checkpoints/last.pt ]; then H train --resume $A/00000-none; else
           H train $A/photos --preset cpu-small --set loss.gan=none --set run.max_minutes=20 --set run.threads=1 \
             --set 'data.crop_scale=[0.5,1.0]' --set data.cache_dir=$A/decode-cache --steps 1000000 \
             --runs-dir $A --name none; fi ;;
  esac
}
source "$HERE/row_loop.sh"
run_rows "$@"
