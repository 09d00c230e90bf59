"""The trial runner: theta_0 from the seed, the warm start, then training one resource unit at a
time, with a report after each unit and a checkpoint to resume from.

It knows nothing of schedulers: a caller passes a ``report`` callable (a syne-tune ``Reporter``,
a list's ``append``, a simulated clock) and may stop the trial by returning ``False`` from it.
Runnable in-process (``run_trial``) or as a process (``ohgw trial SPEC.json``,
:mod:`ohgw.trial.cli`).

Paired seeds: theta_0 comes from ``seed`` alone, the training data order from ``seed`` alone, and
the warm start draws its own batches and leaves torch's RNG as it found it, so trial ``seed``
trains on the same data in the same order with or without a warm start.
"""

from __future__ import annotations

import math
import resource
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.trial.checkpoint import CheckpointWarning
from ohgw.trial.checkpoint import DamagedCheckpoint
from ohgw.trial.checkpoint import load_checkpoint
from ohgw.trial.checkpoint import save_checkpoint
from ohgw.trial.settings import TrialSpec
from ohgw.warmstart import warm_start

Report = Callable[[dict[str, Any]], Any]


def run_trial(
    spec: TrialSpec, report: Report | None = None, benchmark: Benchmark | None = None
) -> list[dict[str, Any]]:
    """Run (or resume) a trial up to ``spec.max_resource`` units; return its reports so far.

    A trial resumed from its checkpoint passes only the new units to ``report``; the returned
    list holds all of them (up to ``max_resource``). A checkpoint that cannot be read safely is
    replayed: the trial trains again from its start, silently up to the units the checkpoint
    held (the same rows), with a :class:`CheckpointWarning` naming the file (:func:`open_state`).

    Args:
        spec: the trial.
        report: called with each report; returning ``False`` stops the trial there.
        benchmark: a built benchmark to reuse (its data stay loaded); default: built from spec.
    """
    benchmark = benchmark or make_benchmark(
        spec.benchmark, device=spec.device, **spec.benchmark_options
    )
    benchmark.space.validate(spec.config)
    state, seen = open_state(spec, benchmark)
    model, optimizer, stream = state["model"], state["optimizer"], state["stream"]
    reports: list[dict[str, Any]] = state["reports"]  # a resumed trial reports only new units
    level = len(reports)
    diverged = bool(reports) and reports[-1]["status"] == "diverged"
    while level < spec.max_resource and not diverged:
        level += 1
        start = time.perf_counter()
        mean_loss = _train_unit(benchmark, model, optimizer, stream, state)
        val, test, diverged = evaluate_unit(spec, benchmark, model, state, mean_loss)
        state["compute_seconds"] += time.perf_counter() - start
        state["train_steps"] += benchmark.batches_per_unit()
        row = unit_report(spec, benchmark, state, level, val, test, mean_loss, diverged)
        reports.append(row)
        save_checkpoint(spec, state)
        if report is not None and level > seen and report(dict(row)) is False:
            break
    return reports[: spec.max_resource]


def open_state(spec: TrialSpec, benchmark: Benchmark) -> tuple[dict[str, Any], int]:
    """The trial's state, resumed from its checkpoint or started afresh, and how many of its
    units the caller has seen already (to replay without reporting them again).

    A checkpoint that cannot be read safely (damaged, cut short, or holding more than tensors
    and plain data) is set aside with a :class:`CheckpointWarning`: the trial starts again
    from its seed, and its units up to those the checkpoint held count as seen. Without that
    count (no ``checkpoint.json`` beside it) it is a :class:`CheckpointError` naming the file.
    """
    try:
        state = load_checkpoint(spec, benchmark)
    except DamagedCheckpoint as damage:
        if damage.units is None:
            raise damage.error() from None
        warnings.warn(
            f"The trial checkpoint {damage.path} cannot be read safely ({damage.reason}); the "
            f"trial is replayed from its start to unit {damage.units}, where it paused (the "
            "same rows: a trial is a function of its spec), and the file is replaced.",
            CheckpointWarning,
            stacklevel=3,
        )
        return start_state(spec, benchmark), damage.units
    return (start_state(spec, benchmark) if state is None else state), 0


def evaluate_unit(
    spec: TrialSpec,
    benchmark: Benchmark,
    model: torch.nn.Module,
    state: dict[str, Any],
    mean_loss: float,
    scores: tuple[float, float] | None = None,
) -> tuple[float, float, bool]:
    """The (val, test, diverged) of a trained unit; a non-finite loss or metric is a divergence
    that reports the benchmark's worst metric. The evaluation's FLOPs are counted once per
    benchmark and charged to ``state``. ``scores``: the model's (val, test), computed elsewhere
    (a pack scores all its slots at once); the FLOPs are still those of ``model``'s own."""
    if not math.isfinite(mean_loss):
        return benchmark.worst_metric, benchmark.worst_metric, True
    key = f"eval(test={spec.report_test})"
    counting = key not in benchmark.flop_counts
    if scores is None or counting:
        with FlopCounterMode(display=False) if counting else nullcontext() as counter:
            val = benchmark.evaluate(model, "val")
            test = benchmark.evaluate(model, "test") if spec.report_test else math.nan
        if counting:
            benchmark.flop_counts[key] = int(counter.get_total_flops())
    if scores is not None:
        val, test = scores
    state["eval_flops_per_unit"] = benchmark.flop_counts[key]
    state["eval_units"] += 1
    diverged = not math.isfinite(val)
    return (benchmark.worst_metric if diverged else val), test, diverged


def start_state(spec: TrialSpec, benchmark: Benchmark) -> dict[str, Any]:
    """A fresh trial's state: theta_0 from the seed, the warm start applied, no unit trained."""
    torch.manual_seed(spec.seed)
    model = benchmark.build_model()
    settings = spec.warm_start
    batches = benchmark.warm_stream(spec.seed)  # loads the data: not the warm start's time
    start = time.perf_counter()
    config, record = warm_start(
        spec.config,
        benchmark.space,
        model,
        batches,
        benchmark.train_loss,
        benchmark.optimizer,
        eta_h=settings.eta_h,
        steps=settings.steps,
        mode=settings.mode,
        objective=settings.objective_for(benchmark),
        seed=spec.seed,
        grad_batches=settings.grad_batches,
    )
    return {
        "model": model,
        "optimizer": benchmark.optimizer.build(model.parameters(), config),
        "stream": benchmark.train_stream(spec.seed),
        "config": config,
        "warm_record": record.to_dict(),
        "compute_seconds": time.perf_counter() - start,
        "train_steps": 0,
        "flops_per_step": None,
        "eval_units": 0,
        "eval_flops_per_unit": None,
        "reports": [],
    }


def _train_unit(benchmark, model, optimizer, stream, state) -> float:
    """Train one resource unit; the mean training loss (NaN/inf when it diverged)."""
    model.train()
    hp = state["config"]
    amp = getattr(benchmark, "amp", False)
    total = torch.zeros((), device=benchmark.device)
    for step in range(benchmark.batches_per_unit()):
        counting = step == 0 and "train_step" not in benchmark.flop_counts
        with FlopCounterMode(display=False) if counting else nullcontext() as counter:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(benchmark.device.type, dtype=torch.bfloat16, enabled=amp):
                loss = benchmark.train_loss(model, next(stream), hp)
            loss.backward()
            optimizer.step()
        if counting:
            benchmark.flop_counts["train_step"] = int(counter.get_total_flops())
        total += loss.detach().float()
    state["flops_per_step"] = benchmark.flop_counts["train_step"]
    return (total / benchmark.batches_per_unit()).item()


def unit_report(
    spec: TrialSpec,
    benchmark: Benchmark,
    state: dict[str, Any],
    level: int,
    val: float,
    test: float,
    mean_loss: float,
    diverged: bool,
) -> dict[str, Any]:
    """What a trial reports after unit ``level``: its metrics, status, cost counters (FLOPs,
    seconds, peak memory) and the warm start's psi before and after; a study's store row is
    this plus where and when it ran (:func:`ohgw.study.pair.store_row`)."""
    record = state["warm_record"]
    on_cuda = benchmark.device.type == "cuda"
    peak = (
        torch.cuda.max_memory_allocated(benchmark.device)
        if on_cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    done = diverged or level >= spec.max_resource
    row = {
        "resource": level,
        "val_metric": val,
        "test_metric": test,
        "metric": benchmark.metric,
        "train_loss": mean_loss,
        "status": "diverged" if diverged else ("completed" if done else "running"),
        "compute_seconds": state["compute_seconds"],
        "train_flops": state["train_steps"] * (state["flops_per_step"] or 0),
        "eval_flops": state["eval_units"] * (state["eval_flops_per_unit"] or 0),
        "warm_flops": record["flops"],
        "warm_seconds": record["wall_seconds"],
        "warm_non_finite": record["non_finite"],
        "peak_memory_bytes": int(peak),
        "memory_measure": "cuda_max_allocated" if on_cuda else "cpu_peak_rss",
    }
    for name in benchmark.space.continuous_names:
        row[f"psi0.{name}"] = record["psi_before"][name]
        row[f"psi.{name}"] = record["psi_after"][name]
        row[f"hp.{name}"] = state["config"][name]
    return row
