#!/usr/bin/env bash
# What runs on a lent GPU machine in one call: (optionally) a smoke study and the full ResNet-20
# epoch timing, then the GPU studies' shards in parallel until a deadline. The machine has its
# own torch; ohgw's other needs travel as wheels in .whl/, the data subset in gpu_data/, and the
# stores of studies begun earlier in gpu_carry/stores.tgz (finished pairs are skipped).
#   bash scripts/lent_gpu_run.sh TOTAL_SECONDS   (writes under $OUT)
# CHECKS=0 skips the smoke study and the timing; JOBS="CONFIG.yaml:N[:NICE] ..." picks the studies.
# DEVICE=cpu EXTRA="--override seeds=1 ..." runs the same steps here, as a dry run.
set -u
total=${1:-570}
device=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src OHGW_DATA_DIR=$PWD/gpu_data OHGW_CACHE_DIR=$PWD/.cache
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
[ -f gpu_carry/stores.tgz ] && tar xzf gpu_carry/stores.tgz
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import ohgw, torch, numpy, syne_tune, hydra; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
if [ "${CHECKS:-1}" = 1 ]; then
  echo "== smoke"
  timeout 150 python3 -m ohgw.cli study directory=runs/smoke "variants=[baseline,ohgw]" seeds=1 \
    budget=6 device="$device" threads=1 --no-progress 2>&1 | tail -n 12
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "smoke study failed"; exit 2; }
  echo "== full ResNet-20 epoch timing"
  timeout 100 python3 -W ignore perf/gpu_epoch.py --device "$device" --train-size 10000 \
    --units 4 2>&1 | tail -n 5
fi
deadline=$((total - SECONDS - 40))
echo "== studies, deadline ${deadline} s"
# shellcheck disable=SC2086
timeout $((deadline + 25)) python3 scripts/run_shards.py --deadline "$deadline" --logs runs/shard-logs \
  --override device="$device" ${EXTRA:-} ${JOBS:-studies/cifar10-asha.yaml:8 \
  studies/cifar10-asha-sweep.yaml:7 studies/cifar10-asha-noise.yaml:2 \
  studies/cifar10-asha-modes.yaml:7 studies/wikitext-pasha.yaml:3 studies/cifar10-full-asha.yaml:4}
echo "== packing"
python3 - runs/cifar10-* runs/wikitext-* <<'PY'
import sys
from ohgw.store import Store
for directory in sys.argv[1:]:
    with Store(directory) as store:
        print(directory, "done runs", len(store.done()), "rows", len(store.rows()))
PY
tar czf "$OUT/studies.tgz" --exclude=checkpoints runs/cifar10-* runs/wikitext-*
tar czf "$OUT/logs.tgz" runs/shard-logs $([ -f runs/smoke/report.md ] && echo runs/smoke/report.md)
ls -la "$OUT"
