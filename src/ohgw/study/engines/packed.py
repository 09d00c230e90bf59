"""The packed engine: the simulated clock, with many pairs' trial units trained as packs.

Every pair of the shard runs as a ``simulation`` generator (``ohgw.study.engines.simulated``):
the same discrete-event timeline as the simulated engine, but instead of training a unit itself
the simulation yields the unit's ``TrialSpec`` and waits for its report. Each round this engine
collects the pending unit of every live pair, trains those on one benchmark ``pack`` at a time
with ``ohgw.packed.PackedTrainer``, and sends each report back. A unit's numbers depend on its
own trial alone (the packed trainer's guarantee), so the rows are those of the simulated engine
up to float rounding, whatever the pack width or which pairs run together; the same study run
twice, or killed and rerun, gives byte-identical rows. On a CPU packing is slower than the
simulated engine (docs/studies.md); it is for GPUs.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Sequence
from typing import Any

from ohgw.packed import PackedTrainer
from ohgw.store import Store
from ohgw.study.engines.base import OnDone
from ohgw.study.engines.base import Progress
from ohgw.study.engines.simulated import SimulatedEngine
from ohgw.study.engines.simulated import checkpoint_dir
from ohgw.study.engines.simulated import clock_of
from ohgw.study.engines.simulated import simulation
from ohgw.study.pair import Pair
from ohgw.study.plan import Study
from ohgw.trial import TrialSpec


class PackedEngine(SimulatedEngine):
    """The simulated clock for all of a shard's pairs at once, their units trained in packs."""

    name = "packed"

    def run_pair(self, study: Study, pair: Pair, store: Store, progress: Progress):
        summaries: list[dict[str, Any]] = []
        self.run_pairs(study, [pair], store, progress, lambda _p, s: summaries.append(s))
        return summaries[0]

    def run_pairs(
        self,
        study: Study,
        pairs: Sequence[Pair],
        store: Store,
        progress: Progress,
        on_done: OnDone,
    ) -> None:
        config = study.config
        clock = clock_of(config)
        trainers: dict[int, PackedTrainer] = {}
        live: dict[Pair, tuple[Generator[TrialSpec, dict, dict], TrialSpec]] = {}
        for pair in pairs:
            run = simulation(
                template=study.template(pair.variant, pair.seed),
                scheduler=study.scheduler(pair.seed),
                label=pair.label,
                clock=clock,
                store=store,
                checkpoint_root=checkpoint_dir(study.directory, pair),
            )
            _advance(pair, run, None, live, on_done)
        done_units = 0
        while live:
            groups: dict[int, list[Pair]] = {}
            for pair in live:  # in the pair loop's order
                groups.setdefault(id(study.benchmark_for(pair.variant)), []).append(pair)
            for members in groups.values():
                benchmark = study.benchmark_for(members[0].variant)
                trainer = trainers.setdefault(id(benchmark), PackedTrainer(benchmark, config.pack))
                for first in range(0, len(members), config.pack):
                    chunk = members[first : first + config.pack]
                    reports = trainer.run([live[pair][1] for pair in chunk])
                    for pair, rows in zip(chunk, reports, strict=True):
                        _advance(pair, live[pair][0], rows[-1], live, on_done)
                    done_units += len(chunk)
                    progress(f"packed: {done_units} units, {len(live)} pairs running")


def _advance(pair, run, report, live, on_done) -> None:
    """Send ``report`` (None: start) to a pair's simulation; keep its next request or finish."""
    try:
        spec = next(run) if report is None else run.send(report)
    except StopIteration as stop:
        live.pop(pair, None)
        on_done(pair, stop.value)
        return
    live[pair] = (run, spec)
