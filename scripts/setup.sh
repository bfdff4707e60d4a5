#!/usr/bin/env bash
# Make .venv and install perfwatch with its test and Postgres extras. Idempotent.
# PERFWATCH_TORCH picks the torch requirement (default: the 2.13.0 CPU build CI uses).
# Each step says what it installs and how long it took: a quiet two minutes reads as a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
step() {  # MESSAGE, then the command
    local msg=$1 t0=$SECONDS; shift
    echo "setup: $msg…"
    "$@"
    echo "setup:   done in $((SECONDS - t0)) s"
}
if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $("$PY" --version 2>&1)" "$PY" -m venv .venv
fi
step "upgrading pip" .venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare `torch` requirement could pull a multi-GB CUDA build.
step "installing ${PERFWATCH_TORCH:-torch==2.13.0} (the CPU build; set PERFWATCH_TORCH for another)" \
    .venv/bin/python -m pip install -q "${PERFWATCH_TORCH:-torch==2.13.0}"
step "installing perfwatch (editable) with its extras: postgres, dashboard (streamlit, altair), asv, profiler, tests" \
    .venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: ready: .venv/bin/perfwatch"
