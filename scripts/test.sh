#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (Postgres tests use 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/perfwatch ] || bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
