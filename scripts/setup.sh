#!/usr/bin/env bash
# Make .venv and install perfwatch with its test and Postgres extras. Idempotent.
# PERFWATCH_TORCH picks the torch requirement (default: the 2.13.0 CPU build CI uses).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare `torch` requirement could pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "${PERFWATCH_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e ".[dev]"
