"""A simulated clock: a discrete-event simulation of n workers driven by each unit's cost.

One (variant, seed) run: the scheduler hands configurations to free workers; each trial trains
one resource unit at a time (really, in this process, through the trial runner) and the unit
ends at ``start + cost``, where the default cost is deterministic: the unit's FLOPs (training,
evaluation, and the warm start in the first unit) over a nominal ``flops_per_second``. Results
reach the scheduler in simulated-time order, so the timeline does not depend on how busy the
machine is, and the same inputs give a bit-identical timeline.

Crash safety: every unit's row goes to the store as it is produced, and each trial keeps a
checkpoint. A rerun replays the same deterministic timeline, taking rows already in the store
instead of recomputing them, and continues where the crash left it.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ohgw.benchmarks.base import Benchmark
from ohgw.schedulers.base import Decision
from ohgw.schedulers.base import Scheduler
from ohgw.store import Store
from ohgw.study.variants import Variant
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial

# Fields a trial measures rather than computes: they vary run to run and stay out of exports.
MEASURED = ("compute_seconds", "warm_seconds", "peak_memory_bytes")


@dataclass(frozen=True)
class Clock:
    """How the simulation turns a unit into time."""

    workers: int = 4
    budget: float = 3600.0  # simulated seconds per (variant, seed)
    cost: str = "flops"  # "flops" (deterministic) or "measured" (compute seconds)
    flops_per_second: float = 5e10  # about this project's 2-core CPU on the mini presets


def trial_seed(seed: int, trial_id: int) -> int:
    """theta_0 and data order of trial ``trial_id`` of study seed ``seed``, in every variant."""
    return seed * 100_003 + trial_id


def unit_row(
    report: dict[str, Any],
    *,
    label: str,
    seed: int,
    trial_id: int,
    worker: int,
    start_time: float,
    time: float,
    config: dict[str, Any],
    cost: float | None = None,
) -> dict[str, Any]:
    """The store's row of one unit: the trial runner's report, where and when it ran, the
    config it trained. ``cost`` defaults to the unit's span (the wall-clock engines)."""
    return {
        **report,
        "status": "diverged" if report["status"] == "diverged" else "ok",
        "variant": label,
        "seed": seed,
        "trial_id": trial_id,
        "worker": worker,
        "start_time": start_time,
        "time": time,
        "cost": time - start_time if cost is None else cost,
        **{f"config.{k}": v for k, v in config.items()},
    }


def unit_cost(row: dict[str, Any], previous: dict[str, Any] | None, clock: Clock) -> float:
    """Simulated seconds of the unit that produced ``row``."""
    if clock.cost == "measured":
        before = previous["compute_seconds"] if previous else 0.0
        return row["compute_seconds"] - before
    flops = row["train_flops"] + row["eval_flops"]
    if previous is None:
        flops += row["warm_flops"]
    else:
        flops -= previous["train_flops"] + previous["eval_flops"]
    return flops / clock.flops_per_second


def simulate(
    *,
    benchmark: Benchmark,
    benchmark_name: str,
    scheduler: Scheduler,
    variant: Variant,
    seed: int,
    clock: Clock,
    store: Store,
    checkpoint_root: Path,
    benchmark_options: dict[str, Any],
    on_event: Callable[[float], Any] | None = None,
) -> dict[str, Any]:
    """Run one (variant, seed) to its budget; rows go to ``store``; returns a summary."""
    stored = {(r["trial_id"], r["resource"]): r for r in store.rows(variant.label, seed)}
    configs: dict[int, dict[str, Any]] = {}
    levels: dict[int, int] = {}
    last_row: dict[int, dict[str, Any]] = {}
    # (end time, order, worker, trial_id, start time or None when the row is already known)
    events: list[tuple[float, int, int, int, float | None]] = []
    # Deterministic costs are the same for every trial's first unit and for its later ones: a
    # unit can be scheduled before it is computed, and is never computed if it ends past budget.
    known_cost: dict[bool, float] = {}
    order = 0
    free = list(range(clock.workers))
    now = 0.0
    units = 0

    def compute(
        trial_id: int, level: int, start: float, worker: int, charged: float | None = None
    ) -> dict[str, Any]:
        spec = TrialSpec(
            benchmark=benchmark_name,
            config=configs[trial_id],
            seed=trial_seed(seed, trial_id),
            max_resource=level,
            warm_start=variant.warm_start,
            benchmark_options=benchmark_options,
            checkpoint_dir=str(checkpoint_root / str(trial_id)),
            device=str(benchmark.device),
        )
        report = run_trial(spec, benchmark=benchmark)[-1]
        cost = charged if charged is not None else unit_cost(report, last_row.get(trial_id), clock)
        if clock.cost == "flops":
            known_cost.setdefault(level == 1, cost)
        return unit_row(
            report,
            label=variant.label,
            seed=seed,
            trial_id=trial_id,
            worker=worker,
            start_time=start,
            time=start + cost,
            config=configs[trial_id],
            cost=cost,
        )

    def schedule(trial_id: int, start: float, worker: int) -> None:
        nonlocal order
        level = levels[trial_id] = levels[trial_id] + 1
        row = stored.get((trial_id, level))
        if row is not None and clock.cost == "flops":
            known_cost.setdefault(level == 1, row["cost"])  # as when it was first computed
        if row is None and (level == 1) in known_cost:
            end, pending = start + known_cost[level == 1], start
        else:
            if row is None:
                row = compute(trial_id, level, start, worker)
                if row["time"] <= clock.budget:
                    store.add_rows([row])
            last_row[trial_id] = row
            end, pending = row["time"], None
        heapq.heappush(events, (end, order, worker, trial_id, pending))
        order += 1

    def fill_workers() -> None:
        while free:
            suggestion = scheduler.suggest()
            if suggestion is None:
                return
            worker = free.pop(0)
            if not suggestion.resume:
                configs[suggestion.trial_id] = dict(suggestion.config)
                levels[suggestion.trial_id] = 0
            schedule(suggestion.trial_id, now, worker)

    fill_workers()
    while events:
        end, _, worker, trial_id, pending = heapq.heappop(events)
        if end > clock.budget:
            break
        now = end
        if pending is not None:
            # Charged the cost it was scheduled with. Shapes are fixed, so that is its FLOPs,
            # except for a diverged unit, which skips its evaluation and is charged it anyway.
            level = levels[trial_id]
            row = compute(trial_id, level, pending, worker, charged=known_cost[level == 1])
            store.add_rows([row])
            last_row[trial_id] = row
        row = last_row[trial_id]
        units += 1
        if on_event is not None:
            on_event(now)
        if row["status"] == "diverged":
            scheduler.on_error(trial_id)
            decision = Decision.STOP
        else:
            decision = scheduler.on_result(trial_id, row["resource"], row["val_metric"])
            if row["resource"] >= scheduler.max_resource:
                scheduler.on_complete(trial_id)
                decision = Decision.STOP
        if decision == Decision.CONTINUE:
            schedule(trial_id, now, worker)
            continue
        if decision == Decision.STOP:
            shutil.rmtree(checkpoint_root / str(trial_id), ignore_errors=True)
        free.append(worker)
        free.sort()
        fill_workers()
    shutil.rmtree(checkpoint_root, ignore_errors=True)
    return {"trials": len(configs), "units": units, "end_time": now}
