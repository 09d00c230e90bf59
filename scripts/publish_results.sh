#!/usr/bin/env bash
# Copy finished studies' reports into docs/results/<study>/: report.md (without the PDF links),
# the PNG figures and the rows (results.csv.gz, gzip without a timestamp, so reruns compare).
#   bash scripts/publish_results.sh runs/cifar10-asha runs/cifar10-dyhpo ...
set -euo pipefail
cd "$(dirname "$0")/.."
for study in "$@"; do
  name=$(basename "$study")
  out=docs/results/$name
  rm -rf "$out" && mkdir -p "$out/figures"
  sed -E 's/ \(PDF: [^)]*\)//' "$study/report.md" > "$out/report.md"
  cp "$study"/figures/*.png "$out/figures/"
  gzip -n -c "$study/results.csv" > "$out/results.csv.gz"
  echo "$out: $(ls "$out/figures" | wc -l) figures, $(zcat "$out/results.csv.gz" | wc -l) csv lines"
done
