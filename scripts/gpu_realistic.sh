#!/usr/bin/env bash
# The realistic headline study (issue 14) on a lent GPU: docs/realistic-study.md is the plan.
# Prepare here:  bash scripts/gpu_wheels.sh && python scripts/gpu_bundle.py pack
# Then two device calls on one warm machine (the first machine start is minutes; the ignored
# gpu_data/ left by call 1 stays while the machine is warm, about 30 s after a call):
#   call 1, carry [.whl, gpu_data/manifest.json, gpu_data/part-0.xz]:  bash scripts/gpu_realistic.sh receive
#   call 2, carry [.whl, gpu_data/part-1.xz, gpu_carry]:               bash scripts/gpu_realistic.sh run 560
# `run SECONDS`: unpack and check the data, measure packed throughput (perf/packed_throughput.py)
# and the warm start's cost over a plain step (perf/warmstart_cost.py, ResNet-20 and the GPT),
# run the pilot (seeds 0-2) unless its store came back in gpu_carry/, fix budget and tau by
# scripts/realistic_plan.py (the rule committed before any run) unless the study files exist,
# then the studies until the deadline; everything goes to $OUT (stores, logs, the study files).
# A later session continues: put $OUT's stores.tgz into gpu_carry/ and run `run` again.
# Dry run here (a toy bundle and sizes; writes only under runs/ and $OUT):
#   python scripts/gpu_bundle.py pack --images 2000 && DEVICE=cpu TOY=1 PYTHON=.venv/bin/python \
#     OUT=/tmp/out bash scripts/gpu_realistic.sh run 400
set -u
phase=${1:?usage: gpu_realistic.sh receive|run [SECONDS]}
total=${2:-560}
device=${DEVICE:-cuda}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
fi
export OHGW_CACHE_DIR=$PWD/.cache
# The unpacked bundle holds CIFAR-10's arrays (checked by their digests). A toy bundle (--images)
# holds only some, which the loader refuses: a dry run reads ../shared/data instead.
[ "${TOY:-0}" = 1 ] || export OHGW_DATA_DIR=$PWD/gpu_data
python=${PYTHON:-python3}
if [ "$phase" = receive ]; then
  ls -la gpu_data
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  exit 0
fi
log=$OUT/run.log
exec > >(tee -a "$log") 2>&1
"$python" -c "import ohgw, torch, syne_tune; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
if [ "${TOY:-0}" = 1 ]; then  # a dry run: tiny data, short budgets, no realism requirement
  toy=(benchmark=cifar10-mini "benchmark_options={train_size: 256, val_size: 128, test_size: 128}")
  pilot_extra=("${toy[@]}" budget=4 directory=runs/toy-pilot)
  pilot_dir=runs/toy-pilot
  study_extra=("${toy[@]}" seeds=1)
  throughput_extra=(--quick)
  plan_extra=(--min-best 0 --min-tau 0)
  studies=runs/toy-studies
else
  pilot_extra=() study_extra=() throughput_extra=() plan_extra=()
  studies=studies
  pilot_dir=runs/cifar10-realistic-pilot
fi
mkdir -p "$studies"
[ -f gpu_data/cifar10/cifar10.npz ] || "$python" scripts/gpu_bundle.py unpack --dir gpu_data || exit 1
[ -d gpu_carry ] && for f in gpu_carry/*.tgz; do [ -f "$f" ] && tar xzf "$f"; done
echo "== throughput"
timeout 120 "$python" perf/packed_throughput.py --device "$device" "${throughput_extra[@]}" \
  | tee "$OUT/packed_throughput.txt"
tflops=$(grep -o 'packed_tflops=[0-9.e+-]*' "$OUT/packed_throughput.txt" | tail -n 1 | cut -d= -f2)
echo "== warm-start cost, ResNet-20 and the GPT (issue 15: CUDA allocation over a plain step)"
cost_extra=(--repeats 5) cost_limit=150  # seconds per model: on an H200 it takes a few
[ "${TOY:-0}" = 1 ] && cost_extra=(--repeats 1 --rss-repeats 0 --gpt-preset mini) cost_limit=600
for model in resnet20 gpt; do
  PYTHON=$python MEASURE_DIR=$OUT timeout "$cost_limit" bash scripts/measure.sh \
    "warmstart_cost_${device}_$model" "$python" perf/warmstart_cost.py --device "$device" \
    --model "$model" "${cost_extra[@]}" || echo "warm-start cost ($model) failed"
done
echo "== pilot (baseline, seeds 0-2)"
timeout $((total / 3)) "$python" -m ohgw.cli study --config studies/cifar10-realistic-pilot.yaml \
  device="$device" "${pilot_extra[@]}" --no-progress || echo "pilot stopped (continue it later)"
if [ ! -f "$studies/cifar10-realistic-asha.yaml" ]; then
  echo "== plan (the committed rule of docs/realistic-study.md)"
  "$python" scripts/realistic_plan.py "$pilot_dir/results.csv" \
    --tflops "${tflops:?no packed_tflops= line in the throughput output}" --write "$studies" \
    "${plan_extra[@]}" || exit 1
  sha256sum "$studies"/cifar10-realistic-*.yaml
  cp "$studies"/cifar10-realistic-asha.yaml "$studies"/cifar10-realistic-normalized.yaml "$OUT/"
fi
left=$((total - SECONDS - 40))
echo "== studies, ${left} s left"
for study in asha normalized; do
  left=$((total - SECONDS - 40))
  [ "$left" -gt 30 ] || break
  timeout "$left" "$python" -m ohgw.cli study --config "$studies/cifar10-realistic-$study.yaml" \
    device="$device" "${study_extra[@]}" --no-progress ||
    echo "cifar10-realistic-$study stopped (resumable)"
done
tar czf "$OUT/stores.tgz" --exclude=checkpoints runs/cifar10-realistic-*
ls -la "$OUT"
