#!/usr/bin/env bash
# Publish finished studies into docs/results/<study>/: the rows (results.csv.gz, gzip without a
# timestamp, so reruns compare) and study.json (settings, finished pairs, the measured quantities
# the rows leave out, Slurm GPU-seconds), both from one reading of the study's store
# (ohgw.analysis.published; never the study's results.csv, which a stopped run may have left
# behind), then the figures (PDF and PNG) and report.md rebuilt from those two files alone, as
# anyone can from the repository:
#   bash scripts/publish_results.sh runs/cifar10-asha runs/cifar10-dyhpo ...
#   python -m ohgw.analysis.report docs/results/cifar10-asha    # the same, from what is committed
# Other files in docs/results/<study>/ (e.g. ood_perplexity.txt) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
for study in "$@"; do
  name=$(basename "$study")
  out=docs/results/$name
  mkdir -p "$out"
  rm -rf "$out/figures" "$out/report.md" "$out/results.csv.gz" "$out/study.json"
  "$python" -m ohgw.analysis.published "$study" "$out" > /dev/null  # results.csv, study.json
  gzip -n -f "$out/results.csv"
  "$python" -m ohgw.analysis.report "$out" > /dev/null
  rm -f "$out/report.html"  # self-contained (base64 figures): large, and rebuilt on demand
  echo "$out: $(ls "$out"/figures/*.pdf | wc -l) PDF and $(ls "$out"/figures/*.png | wc -l) PNG" \
    "figures, $(zcat "$out/results.csv.gz" | wc -l) csv lines"
done
