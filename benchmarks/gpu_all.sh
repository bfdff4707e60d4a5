#!/usr/bin/env bash
# Every suite on the GPU, in one command; results as SQLite + `perfwatch export` JSONL.
#
#   bash benchmarks/gpu_all.sh OUTDIR [SECTION ...]
#
# Sections (default: all, in this order): env llm uvm ops dynamic vision autotune fidelity
#   env       nvidia-smi, versions, `perfwatch env`
#   llm       --suite llm, eager/default/reduce-overhead, with --profile (traces in OUTDIR/traces)
#   uvm       --suite uvm (caching / managed / managed_prefetch), eager and default: managed
#             allocators cannot serve CUDA graphs, which reduce-overhead and max-autotune capture
#   ops dynamic vision   eager/default/reduce-overhead
#   autotune  max-autotune for a subset (ops matmul, layer_norm, pointwise_chain; llm inference):
#             it autotunes every GEMM and takes minutes per model
#   fidelity  benchmarks/fidelity.py: perfwatch vs do_bench vs torch Timer, 5 fresh processes
# Size: PERFWATCH_GPU_SIZE (default small). Time: PERFWATCH_GPU_BUDGET_S (default 3000 s) for
# the whole script; a section that would start after it is skipped and says so (cases already
# finished are in the database). Needs perfwatch importable (run from the repo root) with
# SQLAlchemy and Alembic; cupti-python for the uvm counters (else uvm_status says why).
set -u
OUTDIR=${1:?usage: gpu_all.sh OUTDIR [SECTION ...]}
shift
SECTIONS=${*:-env llm uvm ops dynamic vision autotune fidelity}
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
    llm) pw_run llm --suite llm --modes eager,default,reduce-overhead --timeout 300 --profile --profile-dir "$OUTDIR/traces" ;;
    uvm) pw_run uvm --suite uvm --modes eager,default --timeout 300 ;;
    ops) pw_run ops --suite ops --modes eager,default,reduce-overhead --timeout 300 ;;
    dynamic) pw_run dynamic --suite dynamic --modes eager,default,reduce-overhead --timeout 300 ;;
    vision) pw_run vision --suite vision --modes eager,default,reduce-overhead --timeout 300 ;;
    autotune)
      pw_run autotune-ops --suite ops --benchmarks matmul,layer_norm,pointwise_chain --modes eager,max-autotune --timeout 420
      pw_run autotune-llm --suite llm --benchmarks inference --modes eager,max-autotune --timeout 420 ;;
    fidelity)
      t=$(left)
      if [ "$t" -lt 60 ]; then echo "== fidelity: SKIPPED (budget spent)" | tee -a "$OUTDIR/logs/skipped.txt"; continue; fi
      timeout --kill-after=10 "$t" $PY benchmarks/fidelity.py ${PERFWATCH_FIDELITY_CASES:-llm:train:eager:small llm:train:reduce-overhead:small ops:matmul:eager:large} \
        --processes "${PERFWATCH_FIDELITY_PROCESSES:-5}" --min-time 1 --json "$OUTDIR/fidelity.json" 2>&1 | tee "$OUTDIR/logs/fidelity.log" ;;
    *) echo "unknown section $s" >&2 ;;
  esac
done
echo "== done in $(( $(date +%s) - START )) s; results in $OUTDIR"
