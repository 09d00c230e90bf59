#!/usr/bin/env bash
# Create .venv (once) and install ohgw with this machine's pins (requirements/cpu.txt).
# Re-installs only when pyproject.toml or the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.ohgw-installed
want=$(cat pyproject.toml requirements/cpu.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing ohgw and its dependencies into .venv (about a minute, once)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    -c requirements/cpu.txt -e '.[dev]'
  echo "$want" > "$stamp"
fi
