"""A study: variants compared on one scheduler and benchmark over paired seeds.

For seed s every variant gets the same scheduler seed, and trial k of seed s starts from the same
theta_0, the same data order and (for searchers that do not adapt, like the random search behind
ASHA, PASHA and Hyperband) the same sampled configuration. Everything is validated before any
file is written; a rerun of the same command continues an interrupted study.
"""

from __future__ import annotations

import math
import shutil
import statistics
import warnings
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ohgw.analysis.metrics import time_to_target
from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import benchmark_names
from ohgw.benchmarks.base import make_benchmark
from ohgw.schedulers.base import Scheduler
from ohgw.study.simulate import MEASURED
from ohgw.study.simulate import Clock
from ohgw.study.simulate import simulate
from ohgw.study.store import Store
from ohgw.study.variants import Variant
from ohgw.study.variants import parse_variant
from ohgw.warmstart import HyperGradientWarning

SCHEDULER_ALIASES = {"asha": "asha-stopping"}
RESULTS_CSV = "results.csv"


@dataclass
class StudyConfig:
    """A study's settings; the defaults are the README's main job."""

    directory: str = "runs/default"
    benchmark: str = "cifar10-mini"
    scheduler: str = "asha"  # asha (= asha-stopping), asha-promotion, pasha, dyhpo, hyperband
    variants: list[str] = field(default_factory=lambda: ["baseline", "ohgw"])
    seeds: int = 3  # paired seeds first_seed, first_seed + 1, ...
    first_seed: int = 0
    workers: int = 4
    budget: float = 15.0  # simulated seconds per (variant, seed)
    max_resource: int = 9  # units (epochs) a trial may train
    grace_period: int = 1
    reduction_factor: int = 3
    clock: str = "simulated"  # "simulated" or "real"
    cost: str = "flops"  # simulated clock: "flops" (deterministic) or "measured"
    flops_per_second: float = 6e10  # a simulated second is about a real second here (mini)
    tau: float | None = None  # T@tau's target; None: the benchmark preset's (fixed in advance)
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    # CPU threads for torch (0: torch's default). Float sums depend on the thread count, so a
    # study is bit-reproducible only with the same count (syne-tune's backend import sets
    # OMP_NUM_THREADS=1 for child processes when it is unset).
    threads: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown study setting(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)

    @property
    def scheduler_name(self) -> str:
        return SCHEDULER_ALIASES.get(self.scheduler, self.scheduler)

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def clock_settings(self) -> Clock:
        return Clock(self.workers, self.budget, self.cost, self.flops_per_second)


def validate(config: StudyConfig) -> tuple[list[Variant], Benchmark]:
    """Check every setting before anything runs; a ``ValueError`` names the bad one."""
    from ohgw.schedulers.synetune import SCHEDULERS

    if config.benchmark not in benchmark_names():
        raise ValueError(
            f"The value of `benchmark` is {config.benchmark!r}, but must be one of "
            f"{benchmark_names()}."
        )
    if config.scheduler_name not in SCHEDULERS:
        known = sorted([*SCHEDULERS, *SCHEDULER_ALIASES])
        raise ValueError(
            f"The value of `scheduler` is {config.scheduler!r}, but must be one of {known}."
        )
    if (
        isinstance(config.threads, bool)
        or not isinstance(config.threads, int)
        or config.threads < 0
    ):
        raise ValueError(f"The value of `threads` is {config.threads!r}, but must be an int >= 0.")
    for name in ("seeds", "workers"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"The value of `{name}` is {value!r}, but must be an int >= 1.")
    if config.first_seed < 0:
        raise ValueError(f"The value of `first_seed` is {config.first_seed}, but must be >= 0.")
    if not (isinstance(config.budget, (int, float)) and config.budget > 0):
        raise ValueError(f"The value of `budget` is {config.budget!r}, but must be > 0.")
    if config.clock not in ("simulated", "real"):
        raise ValueError(
            f"The value of `clock` is {config.clock!r}, but must be 'simulated' or 'real'."
        )
    if config.cost not in ("flops", "measured"):
        raise ValueError(
            f"The value of `cost` is {config.cost!r}, but must be 'flops' or 'measured'."
        )
    if not config.flops_per_second > 0:
        raise ValueError(
            f"The value of `flops_per_second` is {config.flops_per_second}, but must be > 0."
        )
    if not config.variants:
        raise ValueError("The value of `variants` is empty; name at least one variant.")
    variants = [parse_variant(text) for text in config.variants]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"The value of `variants` repeats a variant: {labels}.")
    benchmark = make_benchmark(config.benchmark, device=config.device, **config.benchmark_options)
    if config.tau is None:
        config.tau = benchmark.default_tau
    _check_tau(config.tau, benchmark)
    build_scheduler(config, benchmark, seed=0)  # raises on an impossible budget (PASHA rungs)
    return variants, benchmark


def build_scheduler(config: StudyConfig, benchmark: Benchmark, seed: int) -> Scheduler:
    """The study's scheduler for one seed, over the benchmark's space, on ``val_metric``."""
    from ohgw.schedulers.synetune import make_scheduler

    return make_scheduler(
        config.scheduler_name,
        benchmark.space.to_syne_tune(),
        metric="val_metric",
        mode=benchmark.mode,
        max_resource=config.max_resource,
        grace_period=config.grace_period,
        reduction_factor=config.reduction_factor,
        seed=seed,
    )


def _check_tau(tau: float | None, benchmark: Benchmark) -> None:
    if tau is None:
        return
    reachable = 0 < tau <= 1 if benchmark.metric == "accuracy" else 1 <= tau < math.inf
    if not reachable:
        bound = "in (0, 1]" if benchmark.metric == "accuracy" else ">= 1"
        raise ValueError(
            f"The value of `tau` is {tau}, but {benchmark.metric} can only reach values {bound}."
        )


def run_study(
    config: StudyConfig,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
    write_report_at_end: bool = False,
) -> dict[str, Any]:
    """Run (or continue) a study; return the summary per variant.

    The warm start's warnings about uninformative hyper-gradients (momentum after one SGD step)
    are silenced here: they would repeat for every trial, and the docs state them once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HyperGradientWarning)
        return _run_study(config, progress, echo, write_report_at_end)


def _run_study(
    config: StudyConfig, progress: bool, echo: Callable[[str], Any], write_report_at_end: bool
) -> dict[str, Any]:
    variants, benchmark = validate(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.clock == "real":
        from ohgw.study.realclock import run_real

        return run_real(config, variants, echo=echo)
    directory = Path(config.directory)
    with Store(directory) as store:
        claim_directory(store, config)
        done = store.done()
        pairs = [(v, s) for v in variants for s in config.seed_list]
        bar = tqdm(total=len(pairs), desc="study", unit="run", disable=not progress)
        bar.update(sum((v.label, s) in done for v, s in pairs))
        benchmarks: dict[float, Benchmark] = {0.0: benchmark}
        for variant, seed in pairs:
            if (variant.label, seed) in done:
                continue
            options = dict(config.benchmark_options)
            if variant.noise:
                options[benchmark.noise_option] = variant.noise
            if variant.noise not in benchmarks:
                benchmarks[variant.noise] = make_benchmark(
                    config.benchmark, device=config.device, **options
                )
            scheduler = build_scheduler(config, benchmark, seed)
            bar.set_postfix_str(f"{variant.label}, seed {seed}")
            summary = simulate(
                benchmark=benchmarks[variant.noise],
                benchmark_name=config.benchmark,
                scheduler=scheduler,
                variant=variant,
                seed=seed,
                clock=config.clock_settings,
                store=store,
                checkpoint_root=directory / "checkpoints" / safe_name(variant.label) / str(seed),
                benchmark_options=options,
                on_event=lambda t, label=variant.label, seed=seed: bar.set_postfix_str(
                    f"{label}, seed {seed}, t={t:.1f}s"
                ),
            )
            store.mark_done(variant.label, seed, summary)
            bar.update(1)
        bar.close()
        shutil.rmtree(directory / "checkpoints", ignore_errors=True)  # only finished runs left
        store.export_csv(directory / RESULTS_CSV, exclude=MEASURED)
        table = summarise(store, config, variants, benchmark)
    echo(format_summary(table, config, benchmark))
    if write_report_at_end:
        from ohgw.analysis.report import write_report

        md, html = write_report(directory, tau=config.tau)
        echo(f"Report: {md} and {html}")
    return table


def claim_directory(store: Store, config: StudyConfig) -> None:
    """Bind the directory to this study; refuse to mix a different one into it."""
    stored = store.get_meta("config")
    if stored is None:
        store.put_meta("config", config.to_dict())
    elif stored != config.to_dict():
        changed = sorted(k for k in stored if stored.get(k) != config.to_dict().get(k))
        raise ValueError(
            f"{config.directory} holds a study with other settings ({changed}); use a new "
            "directory, or the same settings to continue it."
        )


def safe_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)


def summarise(
    store: Store, config: StudyConfig, variants: list[Variant], benchmark: Benchmark
) -> dict[str, Any]:
    """Per variant: seeds done, trials, units, median best validation metric, median T@tau."""
    better = max if benchmark.mode == "max" else min
    table = {}
    for variant in variants:
        bests, hits, trials, units = [], [], 0, 0
        for seed in config.seed_list:
            rows = store.rows(variant.label, seed)
            if not rows:
                continue
            trials += len({r["trial_id"] for r in rows})
            units += len(rows)
            bests.append(better(r["val_metric"] for r in rows))
            if config.tau is not None:
                hits.append(time_to_target(rows, config.tau, benchmark.mode))
        reached = [h for h in hits if h is not None]
        table[variant.label] = {
            "seeds": len(bests),
            "trials": trials,
            "units": units,
            "median_best": statistics.median(bests) if bests else math.nan,
            "median_t_tau": statistics.median(reached) if reached else math.nan,
            "reached_tau": f"{len(reached)}/{len(hits)}" if config.tau is not None else "",
        }
    return table


def format_summary(table: dict[str, Any], config: StudyConfig, benchmark: Benchmark) -> str:
    lines = [
        f"\nStudy {config.directory}: {config.benchmark}, {config.scheduler_name}, "
        f"{config.workers} {config.clock} workers, budget {config.budget:g} s per seed, "
        f"seeds {config.seed_list}",
        f"{'variant':<28}{'seeds':>6}{'trials':>8}{'units':>7}"
        f"{'median best ' + benchmark.metric:>26}"
        + (
            f"{'median T@' + format(config.tau, 'g') + ' (s)':>20}{'reached':>9}"
            if config.tau is not None
            else ""
        ),
    ]
    for label, row in table.items():
        line = (
            f"{label:<28}{row['seeds']:>6}{row['trials']:>8}{row['units']:>7}"
            f"{row['median_best']:>26.4f}"
        )
        if config.tau is not None:
            line += f"{row['median_t_tau']:>20.1f}{row['reached_tau']:>9}"
        lines.append(line)
    lines.append(f"Rows: {Path(config.directory) / RESULTS_CSV} (and results.sqlite).")
    return "\n".join(lines)
