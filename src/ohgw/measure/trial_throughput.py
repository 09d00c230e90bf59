"""The trial runner's training throughput over a plain PyTorch loop of the same model and data.

Both train the mini preset's model on the same in-memory tensors with the same loss, optimizer
and batch size for ``--units`` units and evaluate the validation split after each; the plain loop
is written out here with nothing of the runner (no reports, checkpoints or FLOP counting). Runs
alternate (runner, plain, runner, plain, ...) and the medians are compared. Goal: >= 0.95x.

    python perf/trial_throughput.py [--units 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial


def plain_loop(benchmark: Benchmark, units: int, seed: int) -> None:
    """Train and validate with plain PyTorch on the benchmark's tensors."""
    config = dict(benchmark.default_config)
    torch.manual_seed(seed)
    model = benchmark.build_model()
    optimizer = benchmark.optimizer.build(model.parameters(), config)
    if benchmark.name == "cifar10":
        inputs, targets = benchmark.data["train"]
        val_inputs, val_targets = benchmark.data["val"]
        batch_size = benchmark.preset.batch_size
    else:
        context = benchmark.preset.context
        windows = (len(benchmark.data["train_targets"]) - 1) // context
        starts = torch.arange(windows)[:, None] * context + torch.arange(context)
        inputs = benchmark.data["train_inputs"][starts]
        targets = benchmark.data["train_targets"][starts + 1]
        batch_size = benchmark.preset.batch_size
    generator = torch.Generator().manual_seed(seed)
    order, position = torch.randperm(len(targets), generator=generator), 0
    for _ in range(units):
        model.train()
        for _ in range(benchmark.batches_per_unit()):
            if position + batch_size > len(order):
                order, position = torch.randperm(len(targets), generator=generator), 0
            index = order[position : position + batch_size]
            position += batch_size
            optimizer.zero_grad(set_to_none=True)
            benchmark.train_loss(model, (inputs[index], targets[index]), config).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            if benchmark.name == "cifar10":
                correct = sum(
                    (model(val_inputs[i : i + 250]).argmax(1) == val_targets[i : i + 250]).sum()
                    for i in range(0, len(val_targets), 250)
                )
                _ = correct.item() / len(val_targets)
            else:
                _ = benchmark.evaluate(model, "val")


def runner(benchmark: Benchmark, name: str, units: int, seed: int) -> None:
    """Train ``units`` units of the default config through the trial runner."""
    spec = TrialSpec(
        name, benchmark.default_config, seed=seed, max_resource=units, report_test=False
    )
    run_trial(spec, benchmark=benchmark)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.units} units, "
        f"{args.repeats} alternating repeats (median)"
    )
    print(f"{'preset':<15} {'runner s':>9} {'plain s':>9} {'runner/plain throughput':>24}")
    for name in ("cifar10-mini", "wikitext-mini"):
        benchmark = make_benchmark(name)
        _ = benchmark.data  # load once, outside the timings
        times: dict[str, list[float]] = {"runner": [], "plain": []}
        for repeat in range(args.repeats):
            for kind in ("runner", "plain"):
                start = time.perf_counter()
                if kind == "runner":
                    runner(benchmark, name, args.units, seed=repeat)
                else:
                    plain_loop(benchmark, args.units, seed=repeat)
                times[kind].append(time.perf_counter() - start)
        run, plain = statistics.median(times["runner"]), statistics.median(times["plain"])
        print(f"{name:<15} {run:>9.2f} {plain:>9.2f} {plain / run:>23.3f}x")


if __name__ == "__main__":
    main()
