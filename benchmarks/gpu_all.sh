#!/usr/bin/env bash
# Every suite on the GPU, in one command; results as SQLite + `perfwatch export` JSONL.
#
#   bash benchmarks/gpu_all.sh OUTDIR [SECTION ...]
#
# Sections (default: all, in this order): env probe llm uvm ops dynamic vision noise fidelity
#   env       nvidia-smi, versions, `perfwatch env`
#   probe     benchmarks/uvm_graph_probe.py: does the managed allocator serve CUDA graphs?
#   llm       --suite llm, with --profile (traces in OUTDIR/traces)
#   uvm       --suite uvm (caching / managed / managed_prefetch); the managed ones are stored as
#             "unsupported" under reduce-overhead and max-autotune (CUDA graphs; see probe)
#   ops dynamic vision
#   noise     benchmarks/noise.py probe: where a launch-bound step's noise comes from (processes,
#             time, blocks), 8 processes x 10 rounds, unpinned and pinned to one core each
#   fidelity  benchmarks/fidelity.py: perfwatch (--processes 5) vs do_bench vs torch Timer, 5 runs
#   interleave (not in the default list: ~22 minutes) benchmarks/fidelity.py --interleave: the llm
#             suite in eager as one run with each case's processes back to back, the same run with
#             --interleave, and the references, 5 runs in rotating order (PERFWATCH_INTERLEAVE_CASES)
#   repeats   (not in the default list: ~25 minutes) benchmarks/noise.py runs: one benchmark per
#             suite in every mode of PERFWATCH_GPU_MODES, 5 fresh `perfwatch run`s each, round by
#             round: the run-to-run CV of step_time and graph_time per suite and mode
# Modes: PERFWATCH_GPU_MODES (default eager,default,reduce-overhead,max-autotune); max-autotune
# autotunes every GEMM and takes minutes per model, so its runs get a 900 s case timeout.
# Size: PERFWATCH_GPU_SIZE (default small). Time: PERFWATCH_GPU_BUDGET_S (default 3000 s) for
# the whole script; a section that would start after it is skipped and says so (cases already
# finished are in the database). Needs perfwatch importable (run from the repo root) with
# SQLAlchemy and Alembic; cupti-python for the uvm counters (else uvm_status says why).
set -u
OUTDIR=${1:?usage: gpu_all.sh OUTDIR [SECTION ...]}
shift
SECTIONS=${*:-env probe llm uvm ops dynamic vision noise fidelity}
MODES=${PERFWATCH_GPU_MODES:-eager,default,reduce-overhead,max-autotune}
case $MODES in *max-autotune*) CASE_TIMEOUT=900 ;; *) CASE_TIMEOUT=300 ;; esac
SIZE=${PERFWATCH_GPU_SIZE:-small}
BUDGET=${PERFWATCH_GPU_BUDGET_S:-3000}
MIN_TIME=${PERFWATCH_GPU_MIN_TIME:-0.5}
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR/logs" "$OUTDIR/export"
OUTDIR=$(cd "$OUTDIR" && pwd)
DB="sqlite:///$OUTDIR/perfwatch.db"
START=$(date +%s)
export PYTHONUNBUFFERED=1

left() { echo $((START + BUDGET - $(date +%s))); }

pw_run() {  # NAME, then perfwatch run arguments
  local name=$1; shift
  local t; t=$(left)
  if [ "$t" -lt 30 ]; then echo "== $name: SKIPPED (budget spent)" | tee -a "$OUTDIR/logs/skipped.txt"; return; fi
  echo "== $name ($(date -u +%H:%M:%S), ${t}s left): perfwatch run $*"
  timeout --signal=INT --kill-after=20 "$t" $PY -m perfwatch run --backend cuda --size "$SIZE" --min-time "$MIN_TIME" \
    --db "$DB" --tag source=gpu_all "$@" 2>&1 | tee "$OUTDIR/logs/$name.log"
  echo "== $name exit ${PIPESTATUS[0]}"
  $PY -m perfwatch export --db "$DB" --run latest --format jsonl -o "$OUTDIR/export/$name.jsonl" || true
}

for s in $SECTIONS; do
  case $s in
    env)
      { date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
        $PY -c 'import torch,sys;print("python",sys.version.split()[0],"torch",torch.__version__,"cuda",torch.version.cuda,"device",torch.cuda.get_device_name())'
        $PY -c 'import triton;print("triton",triton.__version__)'
        $PY -c 'import cupti,importlib.metadata as m;print("cupti-python",m.version("cupti-python"))' 2>&1 | tail -1
        $PY -m perfwatch env 2>&1 | head -40; } > "$OUTDIR/logs/env.txt" 2>&1
      cat "$OUTDIR/logs/env.txt" ;;
    probe) timeout 120 $PY benchmarks/uvm_graph_probe.py managed > "$OUTDIR/logs/probe.txt" 2>&1; cat "$OUTDIR/logs/probe.txt" ;;
    llm) pw_run llm --suite llm --modes "$MODES" --timeout $CASE_TIMEOUT --profile --profile-dir "$OUTDIR/traces" ;;
    uvm|ops|dynamic|vision) pw_run $s --suite $s --modes "$MODES" --timeout $CASE_TIMEOUT ;;
    noise)
      for pin in none distinct; do
        timeout 300 $PY benchmarks/noise.py probe llm:train:eager:small --procs 8 --rounds 10 --block 0.15 --pin $pin \
          --json "$OUTDIR/noise-$pin.json" 2>&1 | tee "$OUTDIR/logs/noise-$pin.log"
      done ;;
    fidelity)
      t=$(left)
      if [ "$t" -lt 60 ]; then echo "== fidelity: SKIPPED (budget spent)" | tee -a "$OUTDIR/logs/skipped.txt"; continue; fi
      timeout --kill-after=10 "$t" $PY benchmarks/fidelity.py ${PERFWATCH_FIDELITY_CASES:-llm:train:eager:small llm:train:reduce-overhead:small ops:matmul:eager:large} \
        --runs "${PERFWATCH_FIDELITY_RUNS:-5}" --processes "${PERFWATCH_FIDELITY_PROCESSES:-5}" --json "$OUTDIR/fidelity.json" 2>&1 | tee "$OUTDIR/logs/fidelity.log" ;;
    interleave)
      t=$(left)
      if [ "$t" -lt 60 ]; then echo "== interleave: SKIPPED (budget spent)" | tee -a "$OUTDIR/logs/skipped.txt"; continue; fi
      timeout --kill-after=10 "$t" $PY benchmarks/fidelity.py ${PERFWATCH_INTERLEAVE_CASES:-llm:train:eager:small llm:inference:eager:small} \
        --interleave --runs "${PERFWATCH_FIDELITY_RUNS:-5}" --processes "${PERFWATCH_FIDELITY_PROCESSES:-5}" \
        --json "$OUTDIR/fidelity-interleave.json" 2>&1 | tee "$OUTDIR/logs/fidelity-interleave.log" ;;
    repeats)
      t=$(left)
      if [ "$t" -lt 60 ]; then echo "== repeats: SKIPPED (budget spent)" | tee -a "$OUTDIR/logs/skipped.txt"; continue; fi
      timeout --signal=INT --kill-after=20 "$t" $PY benchmarks/noise.py runs "$OUTDIR/repeats" --backend cuda --size "$SIZE" \
        --runs "${PERFWATCH_REPEAT_RUNS:-5}" --modes "$MODES" --min-time "$MIN_TIME" --timeout $CASE_TIMEOUT \
        --cases "${PERFWATCH_REPEAT_CASES:-llm:train,vision:train,ops:matmul,dynamic:varlen_dynamic,uvm:caching}" 2>&1 | tee "$OUTDIR/logs/repeats.log" ;;
    *) echo "unknown section $s" >&2 ;;
  esac
done
echo "== done in $(( $(date +%s) - START )) s; results in $OUTDIR"
