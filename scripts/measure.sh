#!/usr/bin/env bash
# Run a measuring command and keep its output as docs/measurements/NAME.txt, headed by the date,
# the machine (CPU, cores, load average at the start), the versions and the command:
#   bash scripts/measure.sh trial_throughput .venv/bin/python perf/trial_throughput.py --units 3
# Every timing quoted in README.md, RESULTS.md or docs/ points at such a file.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
out=${MEASURE_DIR:-docs/measurements}/$name.txt  # MEASURE_DIR: elsewhere (a device's $OUT)
python=${PYTHON:-.venv/bin/python}
commit=$(git rev-parse --short HEAD 2>/dev/null || true)
# torch's version from its metadata: importing torch would cost seconds of every measurement
versions='import importlib.metadata as m, platform
try:
    torch = m.version("torch")
except m.PackageNotFoundError:
    import torch as t; torch = t.__version__
print("python", platform.python_version(), "torch", torch)'
{
  echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(nproc --all) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# versions: $("$python" -c "$versions"), ohgw at ${commit:-a tree without git}$([ -n "$commit" ] && ! git diff --quiet HEAD -- src && echo ' (+ uncommitted changes in src)')"
  echo "# command: $*"
} > "$out.partial"
"$@" >> "$out.partial" 2>&1
mv "$out.partial" "$out"
echo "$out"
