#!/usr/bin/env bash
# Run a measuring command and keep its output as docs/measurements/NAME.txt, headed by the date,
# the machine (CPU, cores, load average at the start), the versions and commit, and the command
# (ohgw.measure.header, the one writer of that header):
#   bash perf/measure.sh trial_throughput .venv/bin/python perf/trial_throughput.py --units 3
# Every timing quoted in README.md, RESULTS.md or docs/ points at such a file.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
out=${MEASURE_DIR:-docs/measurements}/$name.txt  # MEASURE_DIR: elsewhere (a device's $OUT)
python=${PYTHON:-.venv/bin/python}
"$python" -m ohgw.measure.header "$@" > "$out.partial"
"$@" >> "$out.partial" 2>&1
mv "$out.partial" "$out"
echo "$out"
