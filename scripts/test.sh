#!/usr/bin/env bash
# The tests: lint, then pytest. Extra arguments go to pytest.
#   bash scripts/test.sh          the default tier (CI): every engine end to end, on tiny inputs
#   bash scripts/test.sh --slow   the slow tier only: kill -9 runs, the soak, the wall-clock
#                                 engines' shards, ... (minutes; run before resolving an issue
#                                 that touches the code they cover)
set -euo pipefail
cd "$(dirname "$0")/.."
tier=()
if [ "${1:-}" = "--slow" ]; then
  shift
  tier=(-m slow)
fi
bash scripts/setup.sh
# Python may cache the bytecode of what it imports (in .venv and the ignored __pycache__
# folders): every process of a run would otherwise compile ohgw's modules anew.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check src tests perf examples scripts
.venv/bin/ruff format --check src tests perf examples scripts
exec .venv/bin/python -m pytest "${tier[@]}" "$@"
