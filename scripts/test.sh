#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (Postgres tests use 127.0.0.1:5432).
# On every core (pytest-xdist, -n auto): a module's tests stay on one worker, so its fixtures are
# built once, and modules go out in tests/conftest.py's order, the longest first. Arguments go to
# pytest: `bash scripts/test.sh -m "not slow"` is the quick loop, `-n 0` runs in one process.
# docs/ci.md ("The test loop") has the measured times.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/perfwatch ] || bash scripts/setup.sh
if .venv/bin/python -c "import xdist.scheduler.loadscope" 2>/dev/null; then
    exec .venv/bin/python -m pytest -q -n auto --dist loadscope --no-loadscope-reorder "$@"
fi
echo "test.sh: pytest-xdist is missing (bash scripts/setup.sh installs it): running in one process" >&2
exec .venv/bin/python -m pytest -q "$@"
