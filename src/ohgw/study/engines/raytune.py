"""The Ray engine: Ray Tune runs each (variant, seed) on a Ray cluster, local or remote.

Like the real clock (:mod:`ohgw.study.engines.realclock`), time is wall-clock time, but the
trials run as Ray Tune function trainables on whatever nodes the cluster has: ``ray_address=``
connects to a running cluster (``ray start --head`` ...), none starts a local instance with
``workers`` CPUs. A trial is :func:`ohgw.trial.run_trial` with the warm start inside,
unchanged, reporting each unit to Tune. Schedulers: Ray's ``AsyncHyperBandScheduler``
(``asha``) and ``HyperBandScheduler`` (``hyperband``), and syne-tune's PASHA through
:class:`ohgw.schedulers.ray_pasha.RayPASHA` (``pasha``), on ``val_metric`` with the rungs of
``max_resource``, ``grace_period`` and ``reduction_factor`` (Ray's Hyperband has no grace
period: it derives its brackets from ``max_t`` and ``reduction_factor``).

Pairing: trial k of seed s samples its configuration from the benchmark's space with the seed
:func:`ohgw.study.pair.trial_seed` (s, k), the seed of its theta_0 and data order, so trial
k is the same in every variant (:class:`PairedSearcher`). At most ``workers`` trials run at once
(``max_concurrent_trials``; with PASHA, the scheduler counts them, see ``ray_pasha``), for at
most ``budget`` wall-clock seconds per (variant, seed) (``time_budget_s``), and at most
``max_trials`` trials (``num_samples``; unlimited when unset; Tune still resumes the paused ones
among them). Hyperband and PASHA pause trials: each unit reports the trial runner's checkpoint
to Tune, which keeps it under ``<directory>/ray`` and hands it back when the trial resumes (on
a multi-machine cluster that folder must be on a filesystem every node shares).

The rows are stored after the tuner finishes, in the real clock's format, in one transaction:
``time`` is seconds since the tuner started (the trials' clocks, so the nodes' clocks must be
in sync), ``start_time`` when the unit started (a trial's first unit: when its function
started, data loading included), ``worker`` a slot number as the real clock numbers them. A
rerun skips finished pairs; a pair cut off before its rows were stored starts over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import ray
import torch
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler
from ray.tune.schedulers import HyperBandScheduler
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.schedulers.ray_pasha import TRIAL_KEY
from ohgw.schedulers.ray_pasha import RayPASHA
from ohgw.schedulers.synetune import RESOURCE_ATTR
from ohgw.space import SearchSpace
from ohgw.store.files import remove_tree
from ohgw.study.config import StudyConfig
from ohgw.study.engines.wallclock import STALE_CHECKPOINTS
from ohgw.study.engines.wallclock import WallClockEngine
from ohgw.study.engines.wallclock import assign_workers
from ohgw.study.pair import Pair
from ohgw.study.pair import TrialTemplate
from ohgw.study.pair import safe_name
from ohgw.study.pair import store_row
from ohgw.study.pair import trial_seed
from ohgw.study.plan import Study
from ohgw.trial import run_trial

METRIC = "val_metric"
REPORT_KEY = "ohgw"
"""Result key of what a trial reports besides the metric: its row, when the unit ran, where."""
FOLDER = "ray"  # in the study directory: Tune's experiment folders and the trials' checkpoints
_FORWARDED_ENV = ("OHGW_DATA_DIR", "OHGW_CACHE_DIR")  # a remote cluster has its own env


class RayEngine(WallClockEngine):
    """Each pair: one Ray Tune run on the cluster at ``ray_address`` (or a local one)."""

    name = "ray"
    schedulers = ("asha", "hyperband", "pasha")

    def check(self, study: Study) -> None:
        address = study.config.ray_address
        if address is not None and not (isinstance(address, str) and address):
            raise ValueError(
                f"The value of `ray_address` is {address!r}, but must be a Ray address "
                "(e.g. 'auto', '10.0.0.1:6379', 'ray://host:10001') or None (a local instance)."
            )
        if study.config.scheduler == "pasha":
            _scheduler(study.config, study.benchmark, seed=0)  # PASHA refuses too few rungs

    def session(self, study: Study) -> contextlib.AbstractContextManager[None]:
        return _connected(study.config)

    def tune(self, study: Study, pair: Pair) -> list[dict[str, Any]]:
        return _tune(study, pair, study.directory / FOLDER)


@contextlib.contextmanager
def _connected(config: StudyConfig) -> Iterator[None]:
    """Connect to ``config.ray_address`` (or start a local instance with ``workers`` CPUs); a
    Ray connection made before is used as it is and left open."""
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    niceness = {}
    if config.ray_address is None:
        options.update(num_cpus=config.workers, include_dashboard=False)
        # the local instance's workers run the trials, the study's work: at the study's own
        # priority, not Ray's default nice 15 (which starves them beside any other load)
        # (Ray reads its settings as RAY_<name>, in the setting's own lower case)
        name = "RAY_worker_niceness"
        niceness = {name: os.environ.get(name, "0")}
    with mock.patch.dict(os.environ, niceness):
        ray.init(address=config.ray_address, **options)
    try:
        yield
    finally:
        ray.shutdown()


class PairedSearcher(Searcher):
    """Trial k of seed s: the configuration ``space.sample(trial_seed(s, k))``, and k itself
    under :data:`~ohgw.schedulers.ray_pasha.TRIAL_KEY`.

    ``gate`` (e.g. :meth:`RayPASHA.reserve_new_trial`) decides when a new trial may start and
    which k it gets; without one, trials are numbered 0, 1, 2, ... as Tune asks for them.
    """

    def __init__(
        self, space: SearchSpace, seed: int, gate: Callable[[], int | None] | None = None
    ) -> None:
        super().__init__()
        self.space, self.seed, self.gate = space, seed, gate
        self._next = 0

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        self._metric, self._mode = metric, mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.gate is None:
            index, self._next = self._next, self._next + 1
        else:
            index = self.gate()
            if index is None:
                return None
        return {**self.space.sample(trial_seed(self.seed, index)), TRIAL_KEY: index}

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Random search learns nothing from results."""

    def get_state(self) -> dict[str, Any]:
        return {"next": self._next}

    def set_state(self, state: dict[str, Any]) -> None:
        self._next = state["next"]

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))


class _Recorder(tune.Callback):
    """Every result Tune acts on: the trial's config and what its unit reported."""

    def __init__(self) -> None:
        self.results: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        self.results.append((dict(trial.config), dict(result[REPORT_KEY])))


def _scheduler(config: StudyConfig, benchmark: Benchmark, seed: int) -> TrialScheduler:
    if config.scheduler == "asha":
        return AsyncHyperBandScheduler(
            time_attr=RESOURCE_ATTR,
            max_t=config.max_resource,
            grace_period=config.grace_period,
            reduction_factor=config.reduction_factor,
        )
    if config.scheduler == "hyperband":
        return HyperBandScheduler(
            time_attr=RESOURCE_ATTR,
            max_t=config.max_resource,
            reduction_factor=config.reduction_factor,
        )
    return RayPASHA(
        benchmark.space.to_syne_tune(),
        metric=METRIC,
        mode=benchmark.mode,
        max_t=config.max_resource,
        grace_period=config.grace_period,
        reduction_factor=config.reduction_factor,
        seed=seed,
        workers=config.workers,
        max_trials=config.max_trials,
    )


def _trial_resources(config: StudyConfig) -> dict[str, float]:
    """One CPU per trial; on CUDA an equal share of the cluster's GPUs (at most one)."""
    if not str(config.device).startswith("cuda"):
        return {"cpu": 1}
    gpus = ray.cluster_resources().get("GPU", 0.0)
    if gpus <= 0:
        raise ValueError(
            f"The value of `device` is {config.device!r}, but the Ray cluster has no GPU."
        )
    return {"cpu": 1, "gpu": min(1.0, math.floor(gpus / config.workers * 1e4) / 1e4)}


def _dirname(trial: Trial) -> str:
    return f"trial_{trial.config[TRIAL_KEY]}"


def _tune(study: Study, pair: Pair, root: Path) -> list[dict[str, Any]]:
    """One (variant, seed): a Ray Tune run of ``budget`` wall-clock seconds; its rows."""
    config, benchmark, seed = study.config, study.benchmark, pair.seed
    scheduler = _scheduler(config, benchmark, seed)
    pauses = config.scheduler != "asha"  # Hyperband and PASHA pause and resume trials
    if isinstance(scheduler, RayPASHA):
        gate = scheduler.reserve_new_trial
        searcher: Searcher = PairedSearcher(benchmark.space, seed, gate=gate)
        concurrent = None  # RayPASHA counts the trials at work (paused ones are not)
    else:
        searcher, concurrent = PairedSearcher(benchmark.space, seed), config.workers
    resources = _trial_resources(config)
    fixed = {
        "template": study.template(pair.variant, seed).to_dict(),
        "max_resource": config.max_resource,
        "keys": list(benchmark.space.to_syne_tune()),
        "checkpoints": pauses,
        "threads": config.threads or int(resources["cpu"]),
        "env": {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ},
    }
    name = f"{safe_name(pair.label)}-seed{seed}"
    root = root.resolve()
    remove_tree(root / name, STALE_CHECKPOINTS)
    recorder = _Recorder()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_trial_function, study=fixed), resources),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=benchmark.mode,
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=-1 if config.max_trials is None else config.max_trials,
            max_concurrent_trials=concurrent,
            time_budget_s=config.budget,
            reuse_actors=True,
            trial_dirname_creator=_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(root),
            verbose=0,
            callbacks=[recorder],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1 if pauses else None),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=True),
        ),
    )
    # No console tables; no warning that each checkpoint (num_to_keep=1) snapshots the state.
    quiet = {
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    }
    with mock.patch.dict(os.environ, quiet):
        t0 = time.time()
        results = tuner.fit()
    if results.errors:  # divergence is a result; a failed trial is a bug to surface
        raise RuntimeError(f"A Ray trial of {pair.label}, seed {seed} failed: {results.errors[0]}")
    for checkpoint in sorted((root / name).glob("*/checkpoint_*")):
        shutil.rmtree(checkpoint, ignore_errors=True)
    return _rows(recorder, t0, pair.label, seed, fixed["keys"], config.budget)


def _rows(
    recorder: _Recorder, t0: float, label: str, seed: int, keys: list[str], budget: float
) -> list[dict[str, Any]]:
    """Tune's results as real-clock rows; times are seconds since the tuner started."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    process: dict[tuple[int, int], tuple[int, float]] = {}  # row -> (trial, its function start)
    for trial_config, report in recorder.results:
        row, trial_id = json.loads(report["row"]), int(trial_config[TRIAL_KEY])
        key = (trial_id, row["resource"])
        end = report["end"] - t0
        if end > budget or key in rows:
            continue
        rows[key] = store_row(
            row,
            label=label,
            seed=seed,
            trial_id=trial_id,
            worker=-1,  # assign_workers numbers them
            start_time=max(0.0, report["start"] - t0),
            time=end,
            config={k: trial_config[k] for k in keys},
        )
        process[key] = (trial_id, report["process_start"] - t0)
    assign_workers(rows, process)
    return sorted(rows.values(), key=lambda r: r["time"])


_BENCHMARKS: dict[str, Benchmark] = {}  # per worker process: a reused actor keeps its data


def _trial_function(config: dict[str, Any], study: dict[str, Any]) -> None:
    """A Ray Tune trial: run (or resume) the trial runner, report each unit to Tune."""
    started = time.time()
    os.environ.update(study["env"])
    torch.set_num_threads(study["threads"])
    template = TrialTemplate.from_dict(study["template"])
    cache_key = json.dumps(
        [template.benchmark, template.device, dict(template.benchmark_options)], sort_keys=True
    )
    if cache_key not in _BENCHMARKS:
        _BENCHMARKS[cache_key] = make_benchmark(
            template.benchmark, device=template.device, **template.benchmark_options
        )
    trial_id = int(config[TRIAL_KEY])
    checkpoint_dir = None
    if study["checkpoints"]:  # in the trial's working folder on this node (Ray's, not synced)
        working = tune.get_context().get_storage().trial_working_directory
        checkpoint_dir = Path(working) / "ohgw-checkpoint"
        remove_tree(checkpoint_dir, STALE_CHECKPOINTS)
        checkpoint_dir.mkdir(parents=True)
        restored = tune.get_checkpoint()  # a resumed trial continues from its checkpoint
        if restored is not None:
            with restored.as_directory() as folder:
                shutil.copytree(folder, checkpoint_dir, dirs_exist_ok=True)
    spec = template.spec(
        trial_id, {k: config[k] for k in study["keys"]}, study["max_resource"], checkpoint_dir
    )
    unit_start = started
    node = ray.get_runtime_context().get_node_id()

    def report(row: dict[str, Any]) -> None:
        nonlocal unit_start
        unit = {"row": json.dumps(row), "start": unit_start, "end": time.time(), "node": node}
        checkpoint = (
            None if checkpoint_dir is None else tune.Checkpoint.from_directory(checkpoint_dir)
        )
        tune.report(
            {
                METRIC: row["val_metric"],
                RESOURCE_ATTR: row["resource"],
                REPORT_KEY: {**unit, "process_start": started},
            },
            checkpoint=checkpoint,  # Tune copies it to the run's storage before it returns
        )
        unit_start = time.time()  # Tune holds the trial in report until it may go on

    try:
        run_trial(spec, report, benchmark=_BENCHMARKS[cache_key])
    finally:
        if checkpoint_dir is not None:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
