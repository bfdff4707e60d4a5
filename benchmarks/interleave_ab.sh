#!/usr/bin/env bash
# Does --interleave lower the run-to-run spread? Paired runs, alternating which arm goes first:
#
#   bash benchmarks/interleave_ab.sh OUTDIR [BACKEND] [SIZE] [PAIRS]     (default: cpu tiny 5)
#
# Each pair runs the same cases twice with --processes 3: back to back (OUTDIR/turn) and
# interleaved (OUTDIR/inter), odd pairs turn first, even pairs inter first, so a phase of the
# machine that lasts minutes falls on both arms alike (a comparison made arm after arm measures
# the machine's phases, not the method). Then the run-to-run table of each arm
# (benchmarks/noise.py runs --analyse-only). Cases: ops matmul, layer_norm, softmax; llm train,
# inference; eager. On the 2-core CPU machine this takes about 11 minutes. PYTHON: the interpreter
# with perfwatch's dependencies (default python3; .venv/bin/python in a checkout set up here).
set -eu
OUT=${1:?usage: interleave_ab.sh OUTDIR [BACKEND] [SIZE] [PAIRS]}
BACKEND=${2:-cpu}; SIZE=${3:-tiny}; PAIRS=${4:-5}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT/turn" "$OUT/inter"; OUT=$(cd "$OUT" && pwd)
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then order="turn inter"; else order="inter turn"; fi
  for arm in $order; do
    extra=""; [ "$arm" = inter ] && extra="--interleave"
    for s in "ops matmul,layer_norm,softmax" "llm train,inference"; do
      set -- $s
      $PY -m perfwatch run --suite "$1" --benchmarks "$2" --backend "$BACKEND" --size "$SIZE" --modes eager \
        --min-time 0.3 --processes 3 $extra --no-accuracy --no-detect --db "sqlite:///$OUT/$arm/noise.db" \
        >> "$OUT/$arm.log" 2>&1 || { echo "perfwatch run failed ($arm, pair $i): see $OUT/$arm.log" >&2; tail -5 "$OUT/$arm.log" >&2; exit 1; }
    done
    echo "pair $i: $arm done $(date +%T)"
  done
done
for arm in turn inter; do echo "== $arm"; $PY benchmarks/noise.py runs "$OUT/$arm" --analyse-only; done
