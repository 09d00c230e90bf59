"""What a warm start costs, as a multiple of one plain training step of the same model and batch.

ResNet-20 (width 16) at batch 128 on real CIFAR-10 images, float32 (``--model gpt``: the GPT of
the wikitext ``--gpt-preset``, on random token ids: memory and FLOPs do not depend on the ids).
Measurements are interleaved (plain step, lean K=1, graph K=1, ...) so that machine noise hits
all alike; the table shows medians. FLOPs come from FlopCounterMode, memory as ``ohgw.cost``
describes it: on the CPU the bytes that autograd saves for backward in the largest graph, on CUDA
``torch.cuda.max_memory_allocated`` above the allocation at entry. On the CPU each case also runs
once in a fresh subprocess, per round, for the process's peak RSS: its rise above the resident
size at the case's start (``VmHWM`` after a reset through /proc/self/clear_refs).

    python perf/warmstart_cost.py [--repeats 5] [--threads 2] [--device cpu|cuda] [--model gpt]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ohgw import SGD
from ohgw import Forward
from ohgw import HyperGradientWarning
from ohgw import Lookahead
from ohgw import warm_start
from ohgw.cost import measure
from ohgw.optim import OptimizerKind
from ohgw.space import SearchSpace

CASES: dict[str, Lookahead | Forward | None] = {
    "plain step": None,
    "warm start, K=1 lean (default)": Lookahead(inner_steps=1),
    "warm start, K=1 graph": Lookahead(inner_steps=1, method="graph"),
    "warm start, K=2 graph": Lookahead(inner_steps=2),
    "warm start, K=1 first-order": Lookahead(inner_steps=1, first_order=True),
    "warm start, forward": Forward(),
}


@dataclass
class Setup:
    model: torch.nn.Module
    batches: list[Any]
    loss: Callable[..., torch.Tensor]
    space: SearchSpace
    config: dict[str, Any]
    optimizer: OptimizerKind
    label: str


def build(model_name: str, device: str, gpt_preset: str) -> Setup:
    if model_name == "resnet20":
        from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
        from ohgw.benchmarks.cifar10 import SPACE
        from ohgw.benchmarks.cifar10 import train_loss
        from ohgw.data import load_cifar10
        from ohgw.models import resnet20

        images, labels = load_cifar10("train", limit=256)
        images, labels = images.to(device), labels.to(device)
        batches = [(images[:128], labels[:128]), (images[128:], labels[128:])]
        model = resnet20().to(device)
        label = "ResNet-20 (width 16), batch 128"
        return Setup(model, batches, train_loss, SPACE, DEFAULT_CONFIG, SGD(), label)
    from ohgw.benchmarks.wikitext import DEFAULT_CONFIG
    from ohgw.benchmarks.wikitext import PRESETS
    from ohgw.benchmarks.wikitext import SPACE
    from ohgw.benchmarks.wikitext import WikiTextBenchmark
    from ohgw.benchmarks.wikitext import train_loss
    from ohgw.models import GPT
    from ohgw.models import GPTConfig

    preset = PRESETS[gpt_preset]
    vocab = -(-preset.vocab_size // 64) * 64
    config = GPTConfig(vocab, preset.context, preset.n_layer, preset.n_head, preset.n_embd)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    ids = torch.randint(0, preset.vocab_size, (2, preset.batch_size, preset.context + 1))
    batches = [(row[:, :-1].to(device), row[:, 1:].to(device)) for row in ids]
    label = f"GPT ({gpt_preset} preset), batch {preset.batch_size} x {preset.context} tokens"
    config_values = {**DEFAULT_CONFIG, "label_smoothing": 0.1}  # give smoothing its path
    return Setup(
        model, batches, train_loss, SPACE, config_values, WikiTextBenchmark.optimizer, label
    )


def case_runner(setup: Setup, name: str, device: str) -> Callable[[], tuple[int, float, int]]:
    """A zero-argument function running the case once: (FLOPs, seconds, peak bytes)."""
    objective = CASES[name]
    if objective is None:
        trainer = setup.optimizer.build(setup.model.parameters(), setup.config)

        def plain_step() -> tuple[int, float, int]:
            with measure(device) as cost:
                trainer.zero_grad(set_to_none=True)
                setup.loss(setup.model, setup.batches[0], setup.config).backward()
                trainer.step()
            return cost.flops, cost.wall_seconds, cost.peak_memory_bytes

        return plain_step

    def warm() -> tuple[int, float, int]:
        _, record = warm_start(
            setup.config,
            setup.space,
            setup.model,
            setup.batches,
            setup.loss,
            setup.optimizer,
            objective=objective,
        )
        return record.flops, record.wall_seconds, record.peak_memory_bytes

    return warm


def _status(key: str) -> int:
    """A /proc/self/status memory field, in bytes."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE).group(1)) * 1024


def rss_child(args: argparse.Namespace) -> None:
    """In a fresh process: the rise of peak RSS while the case runs once."""
    setup = build(args.model, "cpu", args.gpt_preset)
    run = case_runner(setup, args.rss_case, "cpu")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current resident size
    start = _status("VmRSS")
    run()
    print(json.dumps({"start": start, "peak": _status("VmHWM")}))


def rss_rounds(args: argparse.Namespace) -> dict[str, list[tuple[int, int]]]:
    """Each case's (start, peak) RSS in a fresh subprocess, rounds interleaved over cases."""
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in CASES}
    for _ in range(args.rss_repeats):
        for name in CASES:
            command = [
                sys.executable, __file__, "--rss-case", name, "--threads", str(args.threads),
                "--model", args.model, "--gpt-preset", args.gpt_preset,
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            values = json.loads(result.stdout.strip().splitlines()[-1])
            out[name].append((values["start"], values["peak"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rss-repeats", type=int, default=2, help="fresh-process rounds (cpu)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--model", choices=["resnet20", "gpt"], default="resnet20")
    parser.add_argument("--gpt-preset", choices=["mini", "full"], default="full")
    parser.add_argument("--rss-case", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", HyperGradientWarning)
    if args.rss_case:
        rss_child(args)
        return

    setup = build(args.model, args.device, args.gpt_preset)
    runs = {name: case_runner(setup, name, args.device) for name in CASES}
    for run in runs.values():  # warm-up, not measured
        run()
    samples: dict[str, list[tuple[int, float, int]]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, run in runs.items():
            samples[name].append(run())
    rss = rss_rounds(args) if args.device == "cpu" else None

    base = samples["plain step"]
    base_time = statistics.median(s[1] for s in base)
    print(
        f"{setup.label}, float32, {args.device}, {args.threads} threads, {args.repeats} "
        f"interleaved repeats (median); torch {torch.__version__}"
    )
    memory = "saved MiB" if args.device == "cpu" else "alloc MiB"
    header = (
        f"| {'case':<30} | {'GFLOP':>8} | {'x FLOPs':>7} | {'seconds':>7} | {'x time':>6} "
        f"| {memory:>9} | {'x mem':>5} |"
    )
    if rss is not None:
        header += f" {'RSS rise MiB':>12} | {'x RSS':>5} | {'peak RSS MiB':>12} |"
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    base_rss = statistics.median(peak - start for start, peak in rss["plain step"]) if rss else 0
    for name, values in samples.items():
        flops, seconds, peak = values[0][0], statistics.median(v[1] for v in values), values[0][2]
        row = (
            f"| {name:<30} | {flops / 1e9:>8.2f} | {flops / base[0][0]:>7.2f} | {seconds:>7.3f} "
            f"| {seconds / base_time:>6.2f} | {peak / 2**20:>9.1f} | {peak / base[0][2]:>5.2f} |"
        )
        if rss is not None:
            rise = statistics.median(p - s for s, p in rss[name])
            top = statistics.median(p for _, p in rss[name])
            row += f" {rise / 2**20:>12.1f} | {rise / base_rss:>5.2f} | {top / 2**20:>12.1f} |"
        print(row)
    if args.device == "cpu":
        print(
            "x mem: bytes saved for backward in the largest autograd graph "
            "(cpu_saved_for_backward), over the plain step's.\n"
            f"x RSS: the rise of the process's peak RSS while the case runs once in a fresh "
            f"process (median of {args.rss_repeats} interleaved rounds), over the plain step's; "
            "peak RSS: the whole process."
        )
    else:
        print("x mem: torch.cuda.max_memory_allocated above entry, over the plain step's.")


if __name__ == "__main__":
    main()
