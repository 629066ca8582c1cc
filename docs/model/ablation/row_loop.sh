# The ablation lanes' loop, sourced by lanes.sh and lanes2.sh once each has defined row() and $A: the rows in order,
# each once (a finished row leaves $A/DONE-row; an unfinished one resumes from its run folder's state);
# `--after PID` first waits for another lane to end.
run_rows() {
  [ "$1" = --after ] && { while kill -0 "$2" 2>/dev/null; do sleep 10; done; shift 2; }
  for r in "$@"; do
    [ -f $A/DONE-$r ] && continue
    echo "== $r $(date -u +%T)"
    row $r && touch $A/DONE-$r || echo "!! $r failed"
  done
}
