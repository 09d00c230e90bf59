"""What a warm start costs, as a multiple of one plain training step of the same model and batch.

ResNet-20 (width 16) at batch 128 on real CIFAR-10 images, float32 (``--model gpt``: the GPT of
the wikitext ``--gpt-preset``, on random token ids: memory and FLOPs do not depend on the ids).
Measurements are interleaved (plain step, lean K=1, graph K=1, ...) so that machine noise hits
all alike; the table shows medians. FLOPs come from FlopCounterMode, memory as ``ohgw.cost``
describes it: on the CPU the bytes that autograd saves for backward in the largest graph, on CUDA
``torch.cuda.max_memory_allocated`` above the allocation at entry; on the CPU the table adds
that very measure, the peak allocation above entry from the profiler's memory events
(``ohgw.cost.cpu_allocation_peak``), and every table ends with each case's allocation over the
plain step's in parameter-sized vectors. On the CPU each case also runs
once in a fresh subprocess, per round, for the process's peak RSS (``VmHWM`` after a reset
through /proc/self/clear_refs) and its rise above the resident size at the case's start (the
setup's freed heap trimmed first in every case, so that all start alike). The rounds run twice:
under glibc's default allocator settings, and with its mmap threshold fixed
(``MALLOC_MMAP_THRESHOLD_``), which keeps large freed blocks off the heap.

    python perf/warmstart_cost.py [--repeats 5] [--threads 2] [--device cpu|cuda] [--model gpt]
    python perf/warmstart_cost.py --device cuda --model resnet20 gpt   # both, one table each
    python perf/warmstart_cost.py --model gpt --gpt-layers 2 --gpt-batch 4 --cases lean
        # the full preset's GPT at a CPU's size, the plain step and the lean warm start only

``--quick`` shrinks both models (ResNet-20 at width 4, batch 16; a one-layer GPT of width 16,
batch 4 x 16 tokens): a dry run of the plumbing (the GPU runbook's TOY mode), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ohgw import SGD
from ohgw import Forward
from ohgw import HyperGradientWarning
from ohgw import Lookahead
from ohgw import warm_start
from ohgw.cost import cpu_allocation_peak
from ohgw.cost import measure
from ohgw.lookahead import trim_heap
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


def build(
    model_name: str, device: str, gpt_preset: str, quick: bool = False, **gpt_shape: int
) -> Setup:
    """The model, two batches and the optimizer of ``model_name``; ``gpt_shape`` overrides the
    GPT preset's fields (``n_layer=2, batch_size=1``: the full preset's layers at a CPU's size)."""
    if model_name == "resnet20":
        from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
        from ohgw.benchmarks.cifar10 import SPACE
        from ohgw.benchmarks.cifar10 import train_loss
        from ohgw.data import load_cifar10
        from ohgw.models import resnet20

        batch, width = (16, 4) if quick else (128, 16)
        images, labels = load_cifar10("train", limit=2 * batch)
        images, labels = images.to(device), labels.to(device)
        batches = [(images[:batch], labels[:batch]), (images[batch:], labels[batch:])]
        model = resnet20(width=width).to(device)
        label = f"ResNet-20 (width {width}), batch {batch}"
        return Setup(model, batches, train_loss, SPACE, DEFAULT_CONFIG, SGD(), label)
    from ohgw.benchmarks.wikitext import DEFAULT_CONFIG
    from ohgw.benchmarks.wikitext import PRESETS
    from ohgw.benchmarks.wikitext import SPACE
    from ohgw.benchmarks.wikitext import WikiTextBenchmark
    from ohgw.benchmarks.wikitext import train_loss
    from ohgw.models import GPT
    from ohgw.models import GPTConfig

    preset = PRESETS[gpt_preset]
    if quick:
        gpt_preset = "quick"
        preset = replace(preset, n_layer=1, n_head=2, n_embd=16, context=16, batch_size=4)
    preset = replace(preset, **gpt_shape)
    vocab = -(-preset.vocab_size // 64) * 64
    config = GPTConfig(vocab, preset.context, preset.n_layer, preset.n_head, preset.n_embd)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    ids = torch.randint(0, preset.vocab_size, (2, preset.batch_size, preset.context + 1))
    batches = [(row[:, :-1].to(device), row[:, 1:].to(device)) for row in ids]
    shape = "".join(f", {k} {v}" for k, v in gpt_shape.items())
    label = (
        f"GPT ({gpt_preset} preset{shape}), batch {preset.batch_size} x {preset.context} tokens"
    )
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


FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "131072"}
"""glibc's default threshold (128 KiB), fixed: no longer raised when a large block is freed."""


def rss_child(args: argparse.Namespace) -> None:
    """In a fresh process: the rise of peak RSS while the case runs once."""
    setup = build(args.model[0], "cpu", args.gpt_preset, args.quick, **gpt_shape(args))
    plain = case_runner(setup, "plain step", "cpu")  # built in every case: the same start
    run = plain if CASES[args.rss_case] is None else case_runner(setup, args.rss_case, "cpu")
    trim_heap()  # every case starts on a clean heap
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current resident size
    start = _status("VmRSS")
    run()
    print(json.dumps({"start": start, "peak": _status("VmHWM")}))


def rss_rounds(
    args: argparse.Namespace, env: dict[str, str], model: str
) -> dict[str, list[tuple[int, int]]]:
    """Each case's (start, peak) RSS in a fresh subprocess, rounds interleaved over cases."""
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in selected_cases(args)}
    child_env = {k: v for k, v in os.environ.items() if k not in FIXED_MMAP} | env
    shape_flags = [text for k, v in gpt_shape(args).items() for text in (GPT_SHAPE[k][0], str(v))]
    for _ in range(args.rss_repeats):
        for name in out:
            command = [
                sys.executable, "-m", "ohgw.measure.warmstart_cost", "--rss-case", name,
                "--threads", str(args.threads), "--model", model, "--gpt-preset", args.gpt_preset,
                *(["--quick"] if args.quick else []), *shape_flags,
            ]  # fmt: skip
            result = subprocess.run(
                command, capture_output=True, text=True, check=True, env=child_env
            )
            values = json.loads(result.stdout.strip().splitlines()[-1])
            out[name].append((values["start"], values["peak"]))
    return out


def selected_cases(args: argparse.Namespace) -> list[str]:
    """The plain step and the cases that ``--cases`` names (all without it)."""
    words = args.cases or []
    return [n for n in CASES if n == "plain step" or not words or any(w in n for w in words)]


GPT_SHAPE = {
    "n_layer": ("--gpt-layers", "the preset's layers, fewer (a CPU's size)"),
    "batch_size": ("--gpt-batch", "the preset's batch, smaller"),
}
"""The GPT preset's fields that a flag overrides: field -> (flag, help); the flag stores into
the field's name, and the RSS rounds hand it on to their subprocesses."""


def gpt_shape(args: argparse.Namespace) -> dict[str, int]:
    """The GPT preset's fields that the command line overrides, and their values."""
    return {field: getattr(args, field) for field in GPT_SHAPE if getattr(args, field) is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rss-repeats", type=int, default=2, help="fresh-process rounds (cpu; 0: none)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--model", choices=["resnet20", "gpt"], nargs="+", default=["resnet20"], help="one or both"
    )
    parser.add_argument("--gpt-preset", choices=["mini", "full"], default="full")
    for field, (flag, says) in GPT_SHAPE.items():
        parser.add_argument(flag, dest=field, type=int, metavar="N", help=says)
    parser.add_argument("--quick", action="store_true", help="tiny models: a dry run")
    parser.add_argument(
        "--no-alloc",
        action="store_true",
        help="on the CPU, no allocation column (the profiler runs every case twice more)",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        help="only the cases whose names hold one of these words (and the "
        "plain step), e.g. --cases lean",
    )
    parser.add_argument("--rss-case", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", HyperGradientWarning)
    if args.rss_case:
        rss_child(args)
        return

    for model in args.model:
        measure_model(args, model)


def measure_model(args: argparse.Namespace, model: str) -> None:
    """Print the cost table of ``model`` (and on the CPU its RSS table)."""
    setup = build(model, args.device, args.gpt_preset, args.quick, **gpt_shape(args))
    runs = {name: case_runner(setup, name, args.device) for name in selected_cases(args)}
    for run in runs.values():  # warm-up, not measured
        run()
    samples: dict[str, list[tuple[int, float, int]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            samples[name].append(run())
    allocated = None
    if args.device == "cpu" and not args.no_alloc:  # CUDA's measure, by the profiler: exact
        allocated = {name: cpu_allocation_peak(run) for name, run in runs.items()}
    rss = None
    if args.device == "cpu" and args.rss_repeats > 0:
        rss = {
            "glibc default": rss_rounds(args, {}, model),
            "fixed mmap threshold": rss_rounds(args, FIXED_MMAP, model),
        }

    print(
        f"{setup.label}, float32, {args.device}, {args.threads} threads, {args.repeats} "
        f"interleaved repeats (median); torch {torch.__version__}"
    )
    print_cost_table(samples, args.device, allocated)
    count = sum(p.numel() for p in setup.model.parameters())
    vector = sum(p.numel() * p.element_size() for p in setup.model.parameters())
    print(f"parameters: {count:,}, {vector / 2**20:.1f} MiB a parameter-sized vector")
    peaks = allocated or ({n: v[0][2] for n, v in samples.items()} if args.device != "cpu" else {})
    if peaks:  # the allocation measure (CUDA's, or the profiler's on the CPU)
        over = [f"{n} {(b - peaks['plain step']) / vector:+.2f}" for n, b in peaks.items()][1:]
        print(f"allocation over the plain step's, in parameter-sized vectors: {', '.join(over)}")
    if rss is not None:
        print()
        print_rss_table(rss, args.rss_repeats)
    print()


def print_cost_table(
    samples: dict[str, list[tuple[int, float, int]]],
    device: str,
    allocated: dict[str, int] | None = None,
) -> None:
    """FLOPs, seconds and the cost module's memory of each case, over the plain step's (on the
    CPU also ``allocated``: the peak allocation above entry, CUDA's measure)."""
    base = samples["plain step"]
    base_time = statistics.median(s[1] for s in base)
    memory = "saved MiB" if device == "cpu" else "alloc MiB"
    header = (
        f"| {'case':<30} | {'GFLOP':>8} | {'x FLOPs':>7} | {'seconds':>7} | {'x time':>6} "
        f"| {memory:>9} | {'x mem':>5} |" + (" alloc MiB | x alloc |" if allocated else "")
    )
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, values in samples.items():
        flops, seconds, peak = values[0][0], statistics.median(v[1] for v in values), values[0][2]
        row = (
            f"| {name:<30} | {flops / 1e9:>8.2f} | {flops / base[0][0]:>7.2f} | {seconds:>7.3f} "
            f"| {seconds / base_time:>6.2f} | {peak / 2**20:>9.1f} | {peak / base[0][2]:>5.2f} |"
        )
        if allocated:
            ratio = allocated[name] / allocated["plain step"]
            row += f" {allocated[name] / 2**20:>9.1f} | {ratio:>7.2f} |"
        print(row)
    if device == "cpu":
        print(
            "x mem: bytes saved for backward in the largest autograd graph "
            "(cpu_saved_for_backward), over the plain step's."
        )
        if allocated:
            print(
                "x alloc: the peak of bytes allocated above entry, from the profiler's memory "
                "events (ohgw.cost.cpu_allocation_peak; on CUDA the x mem column), over the "
                "plain step's."
            )
    else:
        print("x mem: torch.cuda.max_memory_allocated above entry, over the plain step's.")


def print_rss_table(rss: dict[str, dict[str, list[tuple[int, int]]]], rounds: int) -> None:
    """Each case's peak RSS and its rise, under each allocator setting, over the plain step's."""
    cells = f" {'rise MiB':>8} | {'x rise':>6} | {'peak MiB':>8} | {'x peak':>6} |"
    header = f"| {'case':<30} |" + cells * len(rss)
    print(f"Peak RSS, median of {rounds} fresh processes per case: " + "; then ".join(rss))
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    bases = [
        (
            statistics.median(p - s for s, p in by_case["plain step"]),
            statistics.median(p for _, p in by_case["plain step"]),
        )
        for by_case in rss.values()
    ]
    for name in next(iter(rss.values())):
        row = f"| {name:<30} |"
        for by_case, (base_rise, base_peak) in zip(rss.values(), bases, strict=True):
            rise = statistics.median(p - s for s, p in by_case[name])
            peak = statistics.median(p for _, p in by_case[name])
            row += (
                f" {rise / 2**20:>8.1f} | {rise / base_rise:>6.2f} "
                f"| {peak / 2**20:>8.1f} | {peak / base_peak:>6.2f} |"
            )
        print(row)
    print(
        "rise: the process's peak RSS while the case runs once, above its resident size at the "
        "case's start; peak: the whole process's peak RSS; x: over the plain step's.\n"
        f"fixed mmap threshold: {' '.join(f'{k}={v}' for k, v in FIXED_MMAP.items())} "
        "(glibc's default value, no longer raised when a large block is freed)."
    )


if __name__ == "__main__":
    main()
