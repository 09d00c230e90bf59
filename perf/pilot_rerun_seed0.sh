#!/usr/bin/env bash
# Rerun seed 0 of the committed CIFAR-10 ASHA pilot and compare its rows with the committed ones,
# then the same study with the src of each COMMIT given (RESULTS.md: the pilot's rows are bound
# to the machine that trained them, not to the code):
#   bash perf/measure.sh pilot_rerun_seed0 bash perf/pilot_rerun_seed0.sh [COMMIT...]
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
study=(--config studies/cifar10-asha-pilot.yaml shard=0/3 --no-progress)
.venv/bin/ohgw study "${study[@]}" directory="$out/here" 2>&1 | grep -v "^Report:"
zcat docs/results/cifar10-asha-pilot/results.csv.gz | awk -F, 'NR == 1 || $2 == 0' > "$out/committed_seed0.csv"
echo "cmp committed seed-0 rows with this tree's rerun:"
cmp "$out/committed_seed0.csv" "$out/here/results.csv" || true
for commit in "$@"; do
  git worktree add -q --detach "$out/src-$commit" "$commit"
  # the worktree has no ../shared beside it: its code reads this tree's data
  OHGW_DATA_DIR=${OHGW_DATA_DIR:-$(cd .. && pwd)/shared/data} PYTHONPATH="$out/src-$commit/src" \
    .venv/bin/python -m ohgw.cli study "${study[@]}" directory="$out/at-$commit" > /dev/null 2>&1
  echo "cmp the rerun with $commit's src against this tree's rerun:"
  cmp "$out/at-$commit/results.csv" "$out/here/results.csv" && echo "identical"
  git worktree remove --force "$out/src-$commit"
done
.venv/bin/python - "$out" <<'PY'
import csv
import sys

for name in ("committed_seed0.csv", "here/results.csv"):
    rows = sorted(csv.DictReader(open(f"{sys.argv[1]}/{name}")), key=lambda r: float(r["time"]))
    reached = next((float(r["time"]) for r in rows if float(r["val_metric"]) >= 0.25), None)
    print(f"{name}: {len(rows)} rows; first row train_loss {rows[0]['train_loss']}; "
          f"first reaches 0.25 at {reached}")
PY
