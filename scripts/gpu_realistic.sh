#!/usr/bin/env bash
# The GPU runbook (issues 14 and 24): the realistic headline study on a lent GPU, one script that
# a person with an H200 for 15 minutes runs end to end. docs/realistic-study.md is the plan.
# Prepare here:  bash scripts/gpu_wheels.sh && python scripts/gpu_bundle.py pack  (4 parts <= 40 MiB)
# Then device calls on one warm machine (the first start takes minutes):
#   one call per part but the last, carry [gpu_data/manifest.json, gpu_data/part-K.xz]:
#       bash scripts/gpu_realistic.sh receive
#   then, at once, carry [.whl, gpu_data/part-LAST.xz, gpu_carry (when continuing)], timeout_s 600:
#       bash scripts/gpu_realistic.sh run 540
# receive: moves what was carried in gpu_data/ to $STASH (default /root/gd), outside the working
#   tree: a git-ignored folder inside it did not survive between two transfers; /root did.
# run SECONDS: receive, unpack and check the data, then each step under its own time limit:
#   1. smoke: every path that touches the GPU, on small data (scripts/gpu_smoke.py: unpacked
#      trial, packed trial, warm start lean and graph, the pilot's first units); a failure stops
#   2. the throughput table (perf/packed_throughput.py; its packed_tflops= line sizes the plan)
#   3. the warm start's cost over a plain step, ResNet-20 and the GPT (perf/warmstart_cost.py)
#   4. the pilot (seeds 0-2) unless its store came back in gpu_carry/ finished; resumable
#   5. the plan (scripts/realistic_plan.py, the rule committed before any run), once the pilot
#      has finished, unless the study files exist; 6. the studies until the deadline
# $OUT gets at most 8 files of at most 16 MiB: run.log, packed_throughput.txt,
# warmstart_cost_<device>.txt (both models), stores.tgz (the stores without checkpoints: the next
# session puts it in gpu_carry/ and runs `run` again), the two study files, smi.csv. The studies
# write no report here (seconds of the GPU's time each): `ohgw report runs/<study>` where they land.
# TOY=1 DEVICE=cpu: the same steps at toy sizes on a CPU, the plumbing's test in CI
# (tests/test_gpu_runbook.py):
#   python scripts/gpu_bundle.py pack --out /tmp/toy --images 200 --test-images 50 --parts 2
#   CARRY=/tmp/toy STASH=/tmp/toy-stash RUNS=/tmp/toy-runs OUT=/tmp/out DEVICE=cpu TOY=1 \
#     PYTHON=.venv/bin/python bash scripts/gpu_realistic.sh run 300
set -u
phase=${1:?usage: gpu_realistic.sh receive|run [SECONDS]}
total=${2:-540}
device=${DEVICE:-cuda}
OUT=${OUT:-/tmp/out} STASH=${STASH:-/root/gd} CARRY=${CARRY:-gpu_data} RUNS=${RUNS:-runs}
python=${PYTHON:-python3}
mkdir -p "$OUT" "$STASH" "$RUNS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
export OHGW_CACHE_DIR=${OHGW_CACHE_DIR:-$STASH/.cache}
# The unpacked bundle holds all of CIFAR-10 (checked by its arrays' digests); a toy bundle holds
# only some, which the loader refuses: a TOY dry run reads the project's ../shared/data instead.
[ "${TOY:-0}" = 1 ] || export OHGW_DATA_DIR=$STASH

receive() {  # the carried manifest and parts into the stash (a part replaces its namesake)
  for f in "$CARRY"/manifest.json "$CARRY"/part-*.xz; do
    [ -f "$f" ] && cp "$f" "$STASH/" && echo "received $(basename "$f") ($(du -k "$f" | cut -f1) KiB)"
  done
  ls -la "$STASH"
}
if [ "$phase" = receive ]; then
  receive
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  exit 0
fi
[ "$phase" = run ] || { echo "gpu_realistic: unknown phase $phase"; exit 2; }
exec > >(tee -a "$OUT/run.log") 2>&1
step() { echo "== $1 (at $SECONDS s of $total)"; }
receive
if [ "${WHEELS:-1}" = 1 ] && [ -d .whl ]; then  # WHEELS=0: use the environment as it is
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 \
    > "$OUT/smi.csv" 2>/dev/null &
  smi=$!
  trap 'kill $smi 2>/dev/null' EXIT
fi
[ -f "$STASH/cifar10/cifar10.npz" ] || "$python" scripts/gpu_bundle.py unpack --dir "$STASH" || exit 1
for f in gpu_carry/*.tgz; do [ -f "$f" ] && tar xzf "$f" -C "$RUNS/.." && echo "continued from $f"; done

pilot_dir=$RUNS/cifar10-realistic-pilot studies=studies
smoke=(--options '{"train_size": 1024, "val_size": 500, "test_size": 500}')
throughput=(--widths 16 64 --train-size 5000) cost=(--repeats 5) cost_limit=150 pilot=() study=() plan=() limit=90
if [ "${TOY:-0}" = 1 ]; then  # a dry run: tiny data and budgets, no realism required
  tiny='{"train_size": 64, "val_size": 50, "test_size": 50, "width": 4, "blocks_per_stage": 1, "batch_size": 32}'
  toy=("benchmark_options={train_size:64,val_size:50,test_size:50,width:4,blocks_per_stage:1,batch_size:32}"
    flops_per_second=1e9 max_resource=3 pack=4)
  smoke=(--options "$tiny") throughput=(--quick) cost=(--repeats 1 --rss-repeats 0 --no-alloc --quick)
  pilot=("${toy[@]}" budget=0.6) study=("${toy[@]}" seeds=1 budget=0.6) plan=(--min-best 0 --min-tau 0)
  studies=$RUNS/toy-studies cost_limit=60 limit=60
fi
mkdir -p "$studies"

step "smoke: every path that touches the $device"
timeout "$limit" "$python" scripts/gpu_smoke.py --device "$device" "${smoke[@]}" ||
  { echo "gpu_realistic: the smoke check failed (above); nothing else runs"; exit 3; }

step "throughput"
timeout 150 "$python" perf/packed_throughput.py --device "$device" "${throughput[@]}" \
  | tee "$OUT/packed_throughput.txt"
tflops=$(grep -o 'packed_tflops=[0-9.e+-]*' "$OUT/packed_throughput.txt" | tail -n 1 | cut -d= -f2)

step "warm-start cost, ResNet-20 and the GPT (issue 15: CUDA allocation over a plain step)"
PYTHON=$python MEASURE_DIR=$OUT timeout "$cost_limit" bash perf/measure.sh \
  "warmstart_cost_$device" "$python" perf/warmstart_cost.py --device "$device" \
  --model resnet20 gpt "${cost[@]}" || echo "the warm-start cost failed"

step "pilot (baseline, seeds 0-2)"
timeout $((total - SECONDS > 90 ? total - SECONDS - 60 : 30)) "$python" -m ohgw.cli study \
  --config studies/cifar10-realistic-pilot.yaml directory="$pilot_dir" device="$device" \
  "${pilot[@]}" --no-progress --no-report
pilot_status=$?
if [ ! -f "$studies/cifar10-realistic-asha.yaml" ]; then
  if [ "$pilot_status" = 0 ]; then
    step "plan (the committed rule of docs/realistic-study.md)"
    "$python" scripts/realistic_plan.py "$pilot_dir/results.csv" \
      --tflops "${tflops:?no packed_tflops= line in the throughput output}" --write "$studies" \
      "${plan[@]}" || exit 1
    sha256sum "$studies"/cifar10-realistic-*.yaml
  else
    echo "the pilot stopped before its end (status $pilot_status): no plan; run again to continue"
  fi
fi
for name in asha normalized; do
  file=$studies/cifar10-realistic-$name.yaml
  left=$((total - SECONDS - 30))
  [ -f "$file" ] && [ "$left" -gt 20 ] || continue
  cp "$file" "$OUT/"
  step "study $name, ${left} s left"
  timeout "$left" "$python" -m ohgw.cli study --config "$file" device="$device" \
    directory="$RUNS/cifar10-realistic-$name" "${study[@]}" --no-progress --no-report ||
    echo "cifar10-realistic-$name stopped (resumable)"
done

step "results"
stores=$(cd "$RUNS/.." && ls -d "$(basename "$RUNS")"/cifar10-realistic-* 2>/dev/null)
# shellcheck disable=SC2086  # the store folders, one word each
[ -n "$stores" ] && tar czf "$OUT/stores.tgz" -C "$RUNS/.." --exclude=checkpoints $stores
[ -n "${smi:-}" ] && kill "$smi" 2>/dev/null
ls -la "$OUT"
files=$(find "$OUT" -type f | wc -l)
big=$(find "$OUT" -type f -size +16M)
echo "gpu_realistic: $files files in $OUT${big:+; over 16 MiB: $big}"
[ "$files" -le 8 ] && [ -z "$big" ]
