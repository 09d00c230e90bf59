#!/usr/bin/env bash
# The main job: the default paired study (ASHA vs ASHA+OHGW, mini CIFAR-10, CPU).
# Extra arguments are study overrides, e.g. seeds=8 budget=60.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Python may cache the bytecode of what it imports (in .venv and the ignored __pycache__
# folders): every process of a run would otherwise compile ohgw's modules anew.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/ohgw study "$@"
