#!/usr/bin/env bash
# Set up, then run the main job on the embedded default store (a SQLite file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/perfwatch run --suite llm --backend cpu "$@"
.venv/bin/perfwatch runs --limit 5
