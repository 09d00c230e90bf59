#!/usr/bin/env bash
# Wheels that a lent GPU machine lacks (its image has torch, numpy, scipy, pandas, matplotlib,
# tokenizers, tqdm, pyyaml; not syne-tune, hydra, omegaconf, antlr4, dill), at this machine's pins
# (requirements/cpu.txt, else the version this machine's .venv has), for its Python 3.12, into
# .whl/ (ignored; carried with `carry: [.whl]`).
#   bash scripts/gpu_wheels.sh      # about 1 MB; antlr4 has no wheel on the index, so it is built
set -euo pipefail
cd "$(dirname "$0")/.."
pin() {
  grep -i "^$1==" requirements/cpu.txt | head -n 1 | grep . ||
    .venv/bin/python -m pip freeze 2>/dev/null | grep -i "^$1==" | head -n 1 | grep . ||
    { echo "gpu_wheels: no version of $1 in requirements/cpu.txt or .venv" >&2; exit 1; }
}
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  -d .whl "$(pin syne-tune)" "$(pin hydra-core)" "$(pin omegaconf)" "$(pin dill)" \
  "$(pin sortedcontainers)"
python3 -m pip wheel -q --no-deps -w .whl "$(pin antlr4-python3-runtime)"
ls -la .whl
