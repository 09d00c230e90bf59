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
  # --no-compile: pip would byte-compile every module of every dependency (torch, ray, scipy:
  # about 40 s of CPU), most of which nothing imports. Instead every ohgw module is imported
  # once here with bytecode writing on, which compiles what they import; later processes read
  # that bytecode even where PYTHONDONTWRITEBYTECODE is set (else each would compile torch).
  # scripts/test.sh and scripts/main.sh let Python cache what else they import (Ray's workers).
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check --no-compile)
  "${pip[@]}" --upgrade pip
  "${pip[@]}" -c requirements/cpu.txt -e '.[dev]'
  env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -c '
import importlib, pkgutil
import matplotlib.backends.backend_pdf, pytest, torch, ohgw
torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # torch._dynamo: imported on first use
for module in pkgutil.walk_packages(ohgw.__path__, "ohgw."):
    importlib.import_module(module.name)
'
  echo "$want" > "$stamp"
fi
