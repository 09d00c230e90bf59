"""A study: variants compared on one scheduler and benchmark over paired seeds.

For seed s every variant gets the same scheduler seed, and trial k of seed s starts from the same
theta_0, the same data order and (for searchers that do not adapt, like the random search behind
ASHA, PASHA and Hyperband) the same sampled configuration. Everything is validated before any
file is written; a rerun of the same command continues an interrupted study.
"""

from __future__ import annotations

import contextlib
import math
import os
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
from ohgw.store import Store
from ohgw.study.simulate import MEASURED
from ohgw.study.simulate import Clock
from ohgw.study.simulate import simulate
from ohgw.study.variants import Variant
from ohgw.study.variants import parse_variant
from ohgw.warmstart import HyperGradientWarning

SCHEDULER_ALIASES = {"asha": "asha-stopping"}
CLOCKS = ("simulated", "real", "ray", "optuna")
ENGINE_SCHEDULERS = {"ray": ("asha", "hyperband", "pasha"), "optuna": ("asha", "hyperband")}
"""The schedulers of the engines that bring their own (Ray Tune's and Optuna's pruners)."""
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
    # "simulated" (FLOP-charged discrete-event clock), "real" (syne-tune local workers),
    # "ray" (Ray Tune on a Ray cluster) or "optuna" (Optuna pruners, shared storage)
    clock: str = "simulated"
    # "ray": the cluster's address (None: start a local one); "optuna": the storage URL (None:
    # a journal file in the study directory)
    address: str | None = None
    cost: str = "flops"  # simulated clock: "flops" (deterministic) or "measured"
    flops_per_second: float = 6e10  # a simulated second is about a real second here (mini)
    tau: float | None = None  # T@tau's target; None: the benchmark preset's (fixed in advance)
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    # CPU threads for torch (0: torch's default). Float sums depend on the thread count, so a
    # study is bit-reproducible only with the same count (syne-tune's backend import sets
    # OMP_NUM_THREADS=1 for child processes when it is unset).
    threads: int = 0
    # "i/n": run only the (variant, seed) pairs whose index is i modulo n, so that n processes
    # (or Slurm array jobs) share one study directory; not part of the study's identity.
    shard: str = "0/1"

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
    def shard_index(self) -> tuple[int, int]:
        """``(i, n)`` of ``shard``; a ``ValueError`` names a bad one."""
        index, sep, count = str(self.shard).partition("/")
        try:
            i, n = int(index), int(count)
        except ValueError:
            i, n = -1, 0
        if not sep or n < 1 or not 0 <= i < n:
            raise ValueError(
                f"The value of `shard` is {self.shard!r}, but must be 'i/n' with 0 <= i < n."
            )
        return i, n

    def identity(self) -> dict[str, Any]:
        """The settings a study directory is bound to (all but ``shard``)."""
        out = self.to_dict()
        out.pop("shard")
        return out

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
    if config.clock in ENGINE_SCHEDULERS:
        if config.scheduler not in ENGINE_SCHEDULERS[config.clock]:
            raise ValueError(
                f"The value of `scheduler` is {config.scheduler!r}, but with clock="
                f"{config.clock} it must be one of {list(ENGINE_SCHEDULERS[config.clock])}."
            )
    elif config.scheduler_name not in SCHEDULERS:
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
    config.shard_index  # noqa: B018 - raises on a bad shard
    if config.first_seed < 0:
        raise ValueError(f"The value of `first_seed` is {config.first_seed}, but must be >= 0.")
    if not (isinstance(config.budget, (int, float)) and config.budget > 0):
        raise ValueError(f"The value of `budget` is {config.budget!r}, but must be > 0.")
    if config.clock not in CLOCKS:
        raise ValueError(
            f"The value of `clock` is {config.clock!r}, but must be one of {list(CLOCKS)}."
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
    if config.clock not in ENGINE_SCHEDULERS:
        build_scheduler(config, benchmark, seed=0)  # raises on an impossible budget (PASHA)
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
    if str(config.device).startswith("cuda"):
        _deterministic_cuda()
    variants, benchmark = validate(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.clock == "simulated":
        table = _run_simulated(config, variants, benchmark, progress, echo)
    else:
        table = _engine(config.clock)(config, variants, echo=echo)
    if write_report_at_end:
        from ohgw.analysis.report import write_report

        md, html = write_report(Path(config.directory), tau=config.tau)
        echo(f"Report: {md} and {html}")
    return table


def _deterministic_cuda() -> None:
    """Ask CUDA for repeatable kernels. Not bit-exact: grid_sample's backward (the augmentation
    magnitude's hyper-gradient) accumulates with atomics and has no deterministic variant."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")


def _engine(clock: str) -> Callable[..., dict[str, Any]]:
    """The runner of a clock whose trials an engine runs: ``run(config, variants, echo)``."""
    if clock == "real":
        from ohgw.study.realclock import run_real

        return run_real
    if clock == "ray":
        from ohgw.study.ray_backend import run_ray

        return run_ray
    from ohgw.study.optuna_backend import run_optuna

    return run_optuna


def _run_simulated(
    config: StudyConfig,
    variants: list[Variant],
    benchmark: Benchmark,
    progress: bool,
    echo: Callable[[str], Any],
) -> dict[str, Any]:
    directory = Path(config.directory)
    with Store(directory) as store:
        claim_directory(store, config)
        done = store.done()
        shard, shards = config.shard_index
        # seed-major order: a study cut short holds whole paired seeds
        pairs = [(v, s) for s in config.seed_list for v in variants]
        pairs = pairs[shard::shards]
        bar = tqdm(total=len(pairs), desc="study", unit="run", disable=not progress)
        bar.update(sum((v.label, s) in done for v, s in pairs))
        benchmarks: dict[float, Benchmark] = {0.0: benchmark}
        for variant, seed in pairs:
            if (variant.label, seed) in done:
                continue
            options = variant.benchmark_options(config.benchmark_options, benchmark.noise_option)
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
                checkpoint_root=checkpoint_dir(directory, variant, seed),
                benchmark_options=options,
                on_event=lambda t, label=variant.label, seed=seed: bar.set_postfix_str(
                    f"{label}, seed {seed}, t={t:.1f}s"
                ),
            )
            store.mark_done(variant.label, seed, summary)
            bar.update(1)
        bar.close()
        for variant, seed in pairs:  # this shard's; other shards may still be running
            shutil.rmtree(checkpoint_dir(directory, variant, seed), ignore_errors=True)
        store.export_csv(directory / RESULTS_CSV, exclude=MEASURED)
        table = summarise(store, config, variants, benchmark)
    echo(format_summary(table, config, benchmark))
    return table


def run_engine_pairs(
    config: StudyConfig,
    variants: list[Variant],
    benchmark: Benchmark,
    tune: Callable[[Variant, int], list[dict[str, Any]]],
    name: str,
    echo: Callable[[str], Any] = print,
    connect: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, Any]:
    """Run the unfinished (variant, seed) pairs of a wall-clock engine and store their rows.

    ``tune(variant, seed)`` runs one pair on the engine and returns its rows; they are stored
    in one transaction, then the pair is marked done. A pair whose rows were stored but not
    marked (cut off in between) is not run again. ``connect()`` is entered around the runs
    only when a pair has to run (e.g. a Ray connection).
    """
    directory = Path(config.directory)
    with Store(directory) as store:
        claim_directory(store, config)
        done = store.done()
        pairs = [(v, s) for v in variants for s in config.seed_list if (v.label, s) not in done]
        to_run = [(v, s) for v, s in pairs if not store.rows(v.label, s)]
        with connect() if to_run else contextlib.nullcontext():
            for variant, seed in pairs:
                rows = store.rows(variant.label, seed)
                if not rows:
                    rows = tune(variant, seed)
                    store.add_rows(rows)
                summary = {
                    "trials": len({r["trial_id"] for r in rows}),
                    "units": len(rows),
                    "end_time": max((r["time"] for r in rows), default=0.0),
                }
                store.mark_done(variant.label, seed, summary)
                echo(f"{name}: {variant.label}, seed {seed}: {summary}")
        store.export_csv(directory / RESULTS_CSV, exclude=MEASURED)
        table = summarise(store, config, variants, benchmark)
    echo(format_summary(table, config, benchmark))
    return table


def checkpoint_dir(directory: Path, variant: Variant, seed: int) -> Path:
    return directory / "checkpoints" / safe_name(variant.label) / str(seed)


def claim_directory(store: Store, config: StudyConfig) -> None:
    """Bind the directory to this study; refuse to mix a different one into it."""
    stored = store.get_meta("config")
    identity = config.identity()
    if stored is None:
        store.put_meta("config", identity)
    elif stored != identity:
        keys = set(stored) | set(identity)
        changed = sorted(k for k in keys if stored.get(k) != identity.get(k))
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
