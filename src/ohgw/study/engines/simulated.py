"""The simulated engine: a discrete-event simulation of n workers driven by each unit's cost.

One (variant, seed) pair: the scheduler hands configurations to free workers; each trial trains
one resource unit at a time (really, in this process, through the trial runner) and the unit
ends at ``start + cost``, where the default cost is deterministic: the unit's FLOPs (training,
evaluation, and the warm start in the first unit) over a nominal ``flops_per_second``. Results
reach the scheduler in simulated-time order, so the timeline does not depend on how busy the
machine is, and the same inputs give a bit-identical timeline. With ``max_trials`` set, the
scheduler is asked for nothing more once that many trials have started: the pair ends when they
stop, or at the budget.

Crash safety: every unit's row goes to the store as it is produced, and each trial keeps a
checkpoint. A rerun replays the same deterministic timeline, taking rows already in the store
instead of recomputing them, and continues where the crash left it.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ohgw.benchmarks.base import Benchmark
from ohgw.schedulers.base import Decision
from ohgw.schedulers.base import Scheduler
from ohgw.schedulers.synetune import SCHEDULERS
from ohgw.settings import DEFAULTS
from ohgw.store import Store
from ohgw.study.config import SCHEDULER_ALIASES
from ohgw.study.config import StudyConfig
from ohgw.study.engines.base import Engine
from ohgw.study.engines.base import Progress
from ohgw.study.pair import Pair
from ohgw.study.pair import TrialTemplate
from ohgw.study.pair import safe_name
from ohgw.study.pair import store_row
from ohgw.study.plan import Study
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial


@dataclass(frozen=True)
class Clock:
    """How the simulation turns a unit into time; each field is the study setting of its name
    (:data:`ohgw.settings.SETTINGS`), with its default."""

    workers: int = DEFAULTS["workers"]
    budget: float = DEFAULTS["budget"]  # simulated seconds per (variant, seed)
    cost: str = DEFAULTS["cost"]  # "flops" (deterministic) or "measured" (compute seconds)
    flops_per_second: float = DEFAULTS["flops_per_second"]
    warm_charge: float = DEFAULTS["warm_charge"]  # "flops": the warm start's FLOPs times this
    max_trials: int | None = DEFAULTS["max_trials"]  # once this many started, none is asked


def unit_cost(row: dict[str, Any], previous: dict[str, Any] | None, clock: Clock) -> float:
    """Simulated seconds of the unit that produced ``row``."""
    if clock.cost == "measured":
        before = previous["compute_seconds"] if previous else 0.0
        return row["compute_seconds"] - before
    flops = row["train_flops"] + row["eval_flops"]
    if previous is None:
        flops += row["warm_flops"] * clock.warm_charge
    else:
        flops -= previous["train_flops"] + previous["eval_flops"]
    return flops / clock.flops_per_second


class SimulatedEngine(Engine):
    """Every pair in this process, one trial unit at a time, on the simulated clock."""

    name = "simulated"
    schedulers = (*SCHEDULERS, *SCHEDULER_ALIASES)

    def check(self, study: Study) -> None:
        study.scheduler(seed=0)  # raises on an impossible budget (PASHA)

    def run_pair(
        self, study: Study, pair: Pair, store: Store, progress: Progress
    ) -> dict[str, Any]:
        config = study.config
        return simulate(
            benchmark=study.benchmark_for(pair.variant),
            template=study.template(pair.variant, pair.seed),
            scheduler=study.scheduler(pair.seed),
            label=pair.label,
            clock=clock_of(config),
            store=store,
            checkpoint_root=checkpoint_dir(study.directory, pair),
            on_event=lambda t: progress(f"{pair.label}, seed {pair.seed}, t={t:.1f}s"),
        )


def clock_of(config: StudyConfig) -> Clock:
    """The simulated clock a study's settings describe."""
    return Clock(**{name: getattr(config, name) for name in Clock.__dataclass_fields__})


def checkpoint_dir(directory: Path, pair: Pair) -> Path:
    """Where the simulated engine keeps a pair's trial checkpoints (removed when it ends)."""
    return directory / "checkpoints" / safe_name(pair.label) / str(pair.seed)


def simulate(
    *,
    benchmark: Benchmark,
    template: TrialTemplate,
    scheduler: Scheduler,
    label: str,
    clock: Clock,
    store: Store,
    checkpoint_root: Path,
    on_event: Callable[[float], Any] | None = None,
) -> dict[str, Any]:
    """Run one (variant, seed) to its budget; rows go to ``store``; returns a summary."""
    run = simulation(
        template=template,
        scheduler=scheduler,
        label=label,
        clock=clock,
        store=store,
        checkpoint_root=checkpoint_root,
        on_event=on_event,
    )
    try:
        spec = next(run)
        while True:  # each unit the simulation asks for, trained here by the trial runner
            spec = run.send(run_trial(spec, benchmark=benchmark)[-1])
    except StopIteration as stop:
        return stop.value


def simulation(
    *,
    template: TrialTemplate,
    scheduler: Scheduler,
    label: str,
    clock: Clock,
    store: Store,
    checkpoint_root: Path,
    on_event: Callable[[float], Any] | None = None,
) -> Generator[TrialSpec, dict[str, Any], dict[str, Any]]:
    """``simulate`` as a generator: it yields the ``TrialSpec`` of each unit it needs trained
    (``max_resource`` = the unit) and takes that unit's report (``run_trial(spec)[-1]``) back;
    it returns the summary. The packed engine drives many of these at once."""
    seed = template.seed
    stored = {(r["trial_id"], r["resource"]): r for r in store.rows(label, seed)}
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
    ) -> Generator[TrialSpec, dict[str, Any], dict[str, Any]]:
        report = yield template.spec(
            trial_id, configs[trial_id], level, checkpoint_root / str(trial_id)
        )
        cost = charged if charged is not None else unit_cost(report, last_row.get(trial_id), clock)
        if clock.cost == "flops":
            known_cost.setdefault(level == 1, cost)
        return store_row(
            report,
            label=label,
            seed=seed,
            trial_id=trial_id,
            worker=worker,
            start_time=start,
            time=start + cost,
            config=configs[trial_id],
            cost=cost,
        )

    def schedule(
        trial_id: int, start: float, worker: int
    ) -> Generator[TrialSpec, dict[str, Any], None]:
        nonlocal order
        level = levels[trial_id] = levels[trial_id] + 1
        row = stored.get((trial_id, level))
        if row is not None and clock.cost == "flops":
            known_cost.setdefault(level == 1, row["cost"])  # as when it was first computed
        if row is None and (level == 1) in known_cost:
            end, pending = start + known_cost[level == 1], start
        else:
            if row is None:
                row = yield from compute(trial_id, level, start, worker)
                if row["time"] <= clock.budget:
                    store.add_rows([row])
            last_row[trial_id] = row
            end, pending = row["time"], None
        heapq.heappush(events, (end, order, worker, trial_id, pending))
        order += 1

    def fill_workers() -> Generator[TrialSpec, dict[str, Any], None]:
        while free and (clock.max_trials is None or len(configs) < clock.max_trials):
            suggestion = scheduler.suggest()
            if suggestion is None:
                return
            worker = free.pop(0)
            if not suggestion.resume:
                configs[suggestion.trial_id] = dict(suggestion.config)
                levels[suggestion.trial_id] = 0
            yield from schedule(suggestion.trial_id, now, worker)

    yield from fill_workers()
    while events:
        end, _, worker, trial_id, pending = heapq.heappop(events)
        if end > clock.budget:
            break
        now = end
        if pending is not None:
            # Charged the cost it was scheduled with. Shapes are fixed, so that is its FLOPs,
            # except for a diverged unit, which skips its evaluation and is charged it anyway.
            level = levels[trial_id]
            row = yield from compute(
                trial_id, level, pending, worker, charged=known_cost[level == 1]
            )
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
            yield from schedule(trial_id, now, worker)
            continue
        if decision == Decision.STOP:
            shutil.rmtree(checkpoint_root / str(trial_id), ignore_errors=True)
        free.append(worker)
        free.sort()
        yield from fill_workers()
    shutil.rmtree(checkpoint_root, ignore_errors=True)
    summary = {"trials": len(configs), "units": units, "end_time": now}
    if not units and True in known_cost:  # what the budget must at least hold
        summary["first_unit_cost"] = known_cost[True]
    return summary
