#!/usr/bin/env bash
# The main job: the default paired study (ASHA vs ASHA+OHGW, mini CIFAR-10, CPU).
# Extra arguments are study overrides, e.g. seeds=8 budget=60.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ohgw study "$@"
