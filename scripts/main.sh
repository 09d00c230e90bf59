#!/usr/bin/env bash
# The main job: the OHGW warm start on real CIFAR-10 (CPU). Extra arguments go to `ohgw demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ohgw demo "$@"
