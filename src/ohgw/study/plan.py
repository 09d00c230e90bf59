"""A validated study: every setting checked, nothing written.

:func:`validate` turns a ``StudyConfig`` into a :class:`Study` or raises a ``ValueError`` that
names the bad setting; it changes nothing (``tau`` left unset is resolved into ``Study.tau``,
not into the config). Engines read the study through this object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import benchmark_names
from ohgw.benchmarks.base import make_benchmark
from ohgw.datasets import check_data
from ohgw.schedulers.base import Scheduler
from ohgw.settings import check_settings
from ohgw.study.config import StudyConfig
from ohgw.study.pair import TrialTemplate
from ohgw.trial import WarmStartSettings
from ohgw.variants import Variant
from ohgw.variants import parse_variant


@dataclass
class Study:
    """A study whose settings all passed :func:`validate`."""

    config: StudyConfig
    variants: list[Variant]
    benchmark: Benchmark  # built with the study's options (no variant's noise)
    tau: float | None  # the T@tau target: the config's, or the preset's
    _built: dict[float, Benchmark] = field(default_factory=dict, repr=False)

    @property
    def directory(self) -> Path:
        return Path(self.config.directory)

    def identity(self) -> dict[str, Any]:
        """What the study's directory is bound to (:meth:`StudyConfig.identity`)."""
        return self.config.identity(self.tau)

    def options_for(self, variant: Variant) -> dict[str, Any]:
        """The benchmark options of a variant: the study's, with the variant's noise."""
        return variant.benchmark_options(
            self.config.benchmark_options, self.benchmark.noise_option
        )

    def benchmark_for(self, variant: Variant) -> Benchmark:
        """The benchmark a variant trains on; one per noise level, built once."""
        if variant.noise == 0.0:
            return self.benchmark
        if variant.noise not in self._built:
            self._built[variant.noise] = make_benchmark(
                self.config.benchmark, device=self.config.device, **self.options_for(variant)
            )
        return self._built[variant.noise]

    def template(self, variant: Variant, seed: int) -> TrialTemplate:
        """What every trial of the pair (variant, seed) shares."""
        return TrialTemplate(
            benchmark=self.config.benchmark,
            seed=seed,
            warm_start=variant.warm_start,
            benchmark_options=self.options_for(variant),
            device=str(self.config.device),
        )

    def scheduler(self, seed: int) -> Scheduler:
        """The study's syne-tune scheduler for one seed (the simulated and real engines)."""
        return build_scheduler(self.config, self.benchmark, seed)


def build_scheduler(config: StudyConfig, benchmark: Benchmark, seed: int) -> Scheduler:
    """The study's syne-tune scheduler for one seed, over the benchmark's space, on
    ``val_metric``."""
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


def validate(config: StudyConfig) -> Study:
    """Check every setting but the engine's before anything runs; a ``ValueError`` names the
    bad one. The engine's are checked by :func:`ohgw.study.runner.prepare`, which sits above
    the engines (they read a :class:`Study`)."""
    if config.benchmark not in benchmark_names():
        raise ValueError(
            f"The value of `benchmark` is {config.benchmark!r}, but must be one of "
            f"{benchmark_names()}."
        )
    check_settings(config.to_dict())  # each setting's own check (ohgw.settings)
    if not config.variants:
        raise ValueError("The value of `variants` is empty; name at least one variant.")
    variants = [_with_hypergrad(parse_variant(text), config.hypergrad) for text in config.variants]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"The value of `variants` repeats a variant: {labels}.")
    benchmark = make_benchmark(config.benchmark, device=config.device, **config.benchmark_options)
    tau = benchmark.default_tau if config.tau is None else config.tau
    _check_tau(tau, benchmark)
    check_data(benchmark)  # a missing or damaged file is named here, before any file is written
    return Study(config, variants, benchmark, tau)


def _with_hypergrad(variant: Variant, path: str) -> Variant:
    """The variant with the study's hyper-gradient path (once the warm start has the field)."""
    if "hypergrad" not in {f.name for f in fields(WarmStartSettings)}:
        return variant
    return replace(variant, warm_start=replace(variant.warm_start, hypergrad=path))


def _check_tau(tau: float | None, benchmark: Benchmark) -> None:
    if tau is None:
        return
    reachable = 0 < tau <= 1 if benchmark.metric == "accuracy" else 1 <= tau < math.inf
    if not reachable:
        bound = "in (0, 1]" if benchmark.metric == "accuracy" else ">= 1"
        raise ValueError(
            f"The value of `tau` is {tau}, but {benchmark.metric} can only reach values {bound}."
        )
