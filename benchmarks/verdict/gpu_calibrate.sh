#!/usr/bin/env bash
# Verdict calibration on the GPU machine (docs/verdict.md): a Hugging Face GPT-2 forward with
# planted GPU work (torch.cuda._sleep) through the history gate, then perfwatch ab.
# Usage (on the device, repo root): bash benchmarks/verdict/gpu_calibrate.sh gate|suite-aa|ab
# Needs the carried wheels in .whl/ (SQLAlchemy, Alembic, Mako, greenlet: absent there).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
pip install -q --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/env.txt"
python -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/env.txt"
DB=sqlite:////tmp/cal.db
case "${1:-gate}" in
gate)
    python benchmarks/verdict/calibrate.py collect --backend cuda --benchmark gpt2 --modes eager --db $DB \
        --clean 8 --reps 2 --plants 0.01,0.02,0.05 2>&1 | tee "$OUT/gate-collect.log"
    for h in 3 5 7; do
        python benchmarks/verdict/calibrate.py gate --db $DB --history $h --draws 60 > "$OUT/gate-h$h.json"
    done
    python -m perfwatch export --run all --format csv --db $DB > "$OUT/gate-runs.csv"
    ;;
suite-aa)
    # a whole suite A/A: every case and mode, N clean runs, then the gate over leave-one-out
    # baselines, with and without pooling the noise across series (pooled_variance.py)
    python benchmarks/verdict/calibrate.py collect --backend cuda --suite "${SUITE:-llm}" --benchmark "${BENCH:-}" \
        --modes "${MODES:-eager,default}" --db $DB --clean "${RUNS:-8}" --reps 0 --min-time 0.5 2>&1 | tee "$OUT/suite-collect.log"
    for h in 3 5; do
        for pool in "" --no-pool; do
            python benchmarks/verdict/calibrate.py gate --db $DB --history $h --draws 40 $pool \
                --metrics step_time,graph_time,host_time,first_call_time,compile_time > "$OUT/suite-h$h${pool:+-nopool}.json"
        done
    done
    python -m perfwatch export --run all --format csv --db $DB > "$OUT/suite-runs.csv"
    ;;
ab)
    python benchmarks/verdict/calibrate.py ab --backend cuda --benchmark gpt2 --modes eager --db $DB \
        --plants "${PLANTS:-0,0.02,0.05}" --ab-budget 240 2>&1 | tee "$OUT/ab.jsonl"
    ;;
esac
