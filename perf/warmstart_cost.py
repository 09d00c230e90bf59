"""What a warm start costs, as a multiple of one plain training step of the same model and batch.

ResNet-20 (width 16) at batch 128 on real CIFAR-10 images, float32. Measurements are interleaved
(plain step, K=1, K=2, forward, plain step, ...) so that machine noise hits all alike; the table
shows medians. FLOPs come from FlopCounterMode, memory as ``ohgw.cost`` describes it.

    python perf/warmstart_cost.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch

from ohgw import SGD
from ohgw import Forward
from ohgw import HyperGradientWarning
from ohgw import Lookahead
from ohgw import warm_start
from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG as CONFIG
from ohgw.benchmarks.cifar10 import SPACE
from ohgw.benchmarks.cifar10 import train_loss as loss
from ohgw.cost import measure
from ohgw.data import load_cifar10
from ohgw.models import resnet20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", HyperGradientWarning)

    images, labels = load_cifar10("train", limit=256)
    batches = [(images[:128], labels[:128]), (images[128:], labels[128:])]
    model = resnet20()
    optimizer = SGD().build(model.parameters(), CONFIG)

    def plain_step():
        with measure() as cost:
            optimizer.zero_grad()
            loss(model, batches[0], CONFIG).backward()
            optimizer.step()
        return cost.flops, cost.wall_seconds, cost.peak_memory_bytes

    def warm(objective):
        def run():
            _, record = warm_start(CONFIG, SPACE, model, batches, loss, SGD(), objective=objective)
            return record.flops, record.wall_seconds, record.peak_memory_bytes

        return run

    cases = {
        "plain SGD step": plain_step,
        "warm start, lookahead K=1": warm(Lookahead(inner_steps=1)),
        "warm start, lookahead K=2": warm(Lookahead(inner_steps=2)),
        "warm start, K=1 first-order": warm(Lookahead(inner_steps=1, first_order=True)),
        "warm start, forward": warm(Forward()),
    }
    for run in cases.values():  # warm-up, not measured
        run()
    samples: dict[str, list[tuple[int, float, int]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, run in cases.items():
            samples[name].append(run())

    base_flops = samples["plain SGD step"][0][0]
    base_time = statistics.median(s[1] for s in samples["plain SGD step"])
    base_memory = samples["plain SGD step"][0][2]
    print(
        f"ResNet-20, batch 128, float32, {args.threads} threads, {args.repeats} interleaved "
        f"repeats (median); torch {torch.__version__}"
    )
    header = f"{'case':<29} {'GFLOP':>8} {'x FLOPs':>8} {'seconds':>8} {'x time':>7} {'x mem':>6}"
    print(header)
    print("-" * len(header))
    for name, values in samples.items():
        flops = values[0][0]
        seconds = statistics.median(v[1] for v in values)
        memory = values[0][2]
        print(
            f"{name:<29} {flops / 1e9:>8.2f} {flops / base_flops:>8.2f} {seconds:>8.3f} "
            f"{seconds / base_time:>7.2f} {memory / base_memory:>6.2f}"
        )
    print("x mem: bytes saved for backward (cpu_saved_for_backward), over the plain step's.")


if __name__ == "__main__":
    main()
