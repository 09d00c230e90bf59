#!/usr/bin/env bash
# The tests: lint, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests perf examples scripts
.venv/bin/ruff format --check src tests perf examples scripts
exec .venv/bin/python -m pytest "$@"
