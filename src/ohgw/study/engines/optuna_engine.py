"""The Optuna engine: Optuna's pruners on real worker processes that share one Optuna storage.

``ohgw study engine=optuna scheduler=asha|hyperband [optuna_storage=URL]``. Each (variant, seed)
is one Optuna study in a shared storage: ``optuna_storage`` (a database URL, e.g.
``sqlite:///x.db`` or ``postgresql://user@host/db``) or, by default, a journal file in the study
directory (``optuna.journal``, Optuna's ``JournalStorage`` with ``JournalFileBackend``). The
journal is the default because it is the storage Optuna documents for several processes on one
file system: every write is an append under a file lock, readers replay the log, and there is no
SQLite writer lock to time out (``database is locked``) when several workers report at once. A
server database (PostgreSQL, MySQL) is the choice across machines. Its password is never stored or
shown (the settings hold ``user:***@host``), comes from the URL or
``$OHGW_OPTUNA_STORAGE_PASSWORD``, and reaches child workers through their environment
(:mod:`ohgw.storage_url`).

Pruners: ``asha`` is ``SuccessiveHalvingPruner(min_resource=grace_period, reduction_factor)``
(asynchronous successive halving), ``hyperband`` is ``HyperbandPruner(min_resource,
max_resource, reduction_factor)``. Trial ``k`` of seed ``s`` gets the configuration
``space.sample(trial_seed(s, k))`` in every variant (a sampler that reads it from the trial
number, which the storage hands out atomically, so two processes never give one number two
configurations), the theta_0 and data order of ``trial_seed(s, k)``, and, under Hyperband, the
same bracket (the bracket is hashed from the seed and the number, not the study name).

Budget: ``budget`` wall-clock seconds per (variant, seed), as with ``engine=real``, counted from
the start of the pair's first trial (its ``datetime_start`` in the storage, so every process
agrees on it). No new trial starts after it, a running trial stops at its first unit that ends
past it, and that unit's row is dropped. The number of trials is what fits, or at most
``max_trials``: once that many have started, no worker asks for another and the pair ends when
they stop, before its budget (which stays the report's time axis). Two workers that ask at the
same moment may both be numbered: one past ``max_trials`` is closed at once, untrained and without
rows (``optuna_pair.OVER_LIMIT``).

Workers: every process that runs the same command joins the same studies (two terminals, or
Slurm jobs, pointed at the same ``directory`` and ``optuna_storage``); ``workers`` is how many
worker processes one command runs (this one and ``workers - 1`` children). Each worker runs the
pairs in order, one trial at a time: ``ask`` -> run_trial with the warm start inside ->
``trial.report(val_metric, epoch)`` per unit -> ``should_prune``. Workers wait at the end of a
pair's budget for the trials still running, so the pairs run one after another. One command's
workers start together: each child imports the study and trains its throwaway unit (below),
says it is ready and waits; once all are, the command's first process says go and every worker
takes its first trial at once (a child that took its first pair late found the budget spent:
``workers=2`` ran one worker; a child that went first ran tiny pairs alone).

Rows: each unit's row is kept in its Optuna trial (a user attribute) as it is produced; when a
pair is finished, any worker converts them into the store's rows (realclock's columns, ``time``
in seconds since the pair's start, ``worker`` numbered by each process's first trial) and adds
them in one transaction, then marks the pair done. Two workers doing it at once add identical
rows and the same summary: the store makes that a no-op.

Crashes: a worker writes a heartbeat into its running trial. A running trial whose heartbeat is
older than ``GRACE_SECONDS`` (or whose process is gone, on the same host) is failed by the next
worker that looks, and the attempt is given up: a pair that lost a worker is not comparable to
its paired variant, so, as with ``engine=real``, it starts over (a new Optuna study
``...|attempt=k+1``; the store has none of its rows yet). A heartbeat that cannot be written
is retried; after ``MAX_ATTEMPTS`` broken attempts of a pair in a row the worker stops with an
error. Rerunning the command resumes: done pairs are skipped, a live pair is joined, an
abandoned one starts over.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna

from ohgw.benchmarks.base import Benchmark
from ohgw.storage_url import check_url
from ohgw.storage_url import redact
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.config import child_env
from ohgw.study.engines.base import Engine
from ohgw.study.engines.base import Progress
from ohgw.study.engines.optuna_pair import OptunaPair
from ohgw.study.engines.optuna_paired import check_driver
from ohgw.study.engines.optuna_paired import open_storage
from ohgw.study.pair import Pair
from ohgw.study.plan import Study
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial
from ohgw.variants import Variant

READY_POLL_SECONDS = 0.05
READY_TIMEOUT_SECONDS = 1800.0  # a child's import, data and throwaway unit, on a busy machine
WORKER_MODULE = "ohgw.study.optuna_worker"
"""``python -m`` this module: workers of a study (it runs the pair loop, which sits above the
engines)."""


class OptunaEngine(Engine):
    """Each pair: one Optuna study in a shared storage, joined by ``workers`` processes.

    ``children``: start ``workers - 1`` worker processes around the pairs (this process is the
    first worker); a child itself starts none. A child creates ``ready`` once it can take
    trials, then waits for ``go`` (created by its command once every child is ready).
    """

    name = "optuna"
    schedulers = ("asha", "hyperband")

    def __init__(
        self, children: bool = True, ready: Path | None = None, go: Path | None = None
    ) -> None:
        self.children = children
        self.ready = ready
        self.go = go
        self._warmed: dict[int, Benchmark] = {}
        self._storage: optuna.storages.BaseStorage | None = None
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def check(self, study: Study) -> None:
        check_settings(study.config)

    @contextlib.contextmanager
    def session(self, study: Study) -> Iterator[None]:
        count = study.config.workers - 1 if self.children else 0
        tag = uuid.uuid4().hex[:8]
        flags = [study.directory / f".optuna-ready-{tag}-{i}" for i in range(count)]
        # Opened once, before the children start and before this worker says it is ready: a
        # new database set up by several processes at once makes all but one fail (Optuna issue
        # 1092; open_storage retries that too), and a worker that connected only after the go
        # took its first trial late (tiny pairs ran on the other worker alone).
        self._storage = open_storage(study.config)
        go = study.directory / f".optuna-go-{tag}"
        children = [_spawn(study.config, flag, go) for flag in flags]
        started = False
        try:
            for variant in study.variants:
                self._warm_up(study, variant)
            if self.ready is not None:
                self.ready.touch()
                _wait_for_go(self.go)
            _wait_until_ready(children, flags)
            if children:
                go.touch()
            started = True
            yield
        finally:
            if not started:  # they wait for a go that will not come
                for child in children:
                    child.terminate()
            codes = [child.wait() for child in children]
            for flag in [*flags, go]:
                flag.unlink(missing_ok=True)
            self._storage = None  # this study's: a later session opens its own
        if any(codes):
            raise RuntimeError(f"Optuna worker processes exited with codes {codes}.")

    def run_pair(
        self, study: Study, pair: Pair, store: Store, progress: Progress
    ) -> dict[str, Any]:
        done = store.done().get(pair.key)
        if done is not None:  # finished by the other workers meanwhile
            return done
        progress(f"{pair.label}, seed {pair.seed}: optuna")
        benchmark = self._warm_up(study, pair.variant)
        storage = self._storage if self._storage is not None else open_storage(study.config)
        runner = OptunaPair(study, pair, storage, benchmark)
        rows, summary = runner.finalise(runner.run())
        store.add_rows(rows)  # identical rows from another worker: a no-op
        return summary

    def _warm_up(self, study: Study, variant: Variant) -> Benchmark:
        """The variant's benchmark after one throwaway unit: its data are loaded and the FLOPs
        of a step and an evaluation counted (once per benchmark, slowly), before any pair's
        clock runs, so that no trial of a pair is charged for them."""
        benchmark = study.benchmark_for(variant)
        if id(benchmark) not in self._warmed:
            template = study.template(variant, study.config.first_seed)
            cold = type(template)(**{**vars(template), "warm_start": WarmStartSettings()})
            run_trial(cold.spec(0, benchmark.space.sample(0), 1), benchmark=benchmark)
            self._warmed[id(benchmark)] = benchmark
        return benchmark


def check_settings(config: StudyConfig) -> None:
    """The settings only the Optuna engine has; a ``ValueError`` names the bad one."""
    if config.scheduler not in OptunaEngine.schedulers:
        raise ValueError(
            f"The value of `scheduler` is {config.scheduler!r}, but with engine=optuna it must "
            f"be one of {list(OptunaEngine.schedulers)}."
        )
    if config.optuna_storage is not None and "://" not in str(config.optuna_storage):
        raise ValueError(
            f"The value of `optuna_storage` is {redact(config.optuna_storage)!r}, but must be "
            "a database URL (sqlite:///path.db, postgresql://user@host/db, ...) or null (a "
            "journal file in the study directory)."
        )
    if config.optuna_storage is not None:
        check_url(config.optuna_storage)  # no password in the query string
        check_driver(str(config.optuna_storage))  # installed: else an ImportError naming it
    if not 1 <= config.grace_period <= config.max_resource:
        raise ValueError(
            f"The value of `grace_period` is {config.grace_period}, but must be in "
            f"[1, max_resource={config.max_resource}]."
        )
    if config.reduction_factor < 2:
        raise ValueError(
            f"The value of `reduction_factor` is {config.reduction_factor}, but must be >= 2."
        )


def _spawn(config: StudyConfig, ready: Path, go: Path) -> subprocess.Popen:
    """A child worker process running the same study (``python -m`` the worker module
    ``--one``); it creates ``ready`` when it can take trials and starts them once ``go``
    exists. The settings (and a storage password) go through its environment, never its
    command line (:func:`child_env`)."""
    argv = [sys.executable, "-m", WORKER_MODULE, "--one", "--ready", str(ready), "--go", str(go)]
    return subprocess.Popen(argv, env={**os.environ, **child_env(config)})


def _wait_for_go(go: Path | None) -> None:
    """A child: wait until its command says go (``go`` exists); an error if the command has
    ended meanwhile (this process was handed to another parent) or after
    ``READY_TIMEOUT_SECONDS``."""
    if go is None:
        return
    parent, deadline = os.getppid(), time.monotonic() + READY_TIMEOUT_SECONDS
    while not go.exists():
        ended = os.getppid() != parent
        if ended or time.monotonic() > deadline:
            raise RuntimeError(
                f"This Optuna worker was ready, but the command that started it did not say go "
                f"(no {go}) and {'has ended' if ended else 'timed out'}; it took no trial."
            )
        time.sleep(READY_POLL_SECONDS)


def _wait_until_ready(children: list[subprocess.Popen], flags: list[Path]) -> None:
    """Wait until every child has created its flag or ended (with nothing to run: it found
    the pairs done); a child that failed first is an error, and so is one not ready after
    ``READY_TIMEOUT_SECONDS`` (it is stopped: a hung child must not hold the study forever)."""
    waiting = list(zip(children, flags, strict=True))
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while waiting:
        for child, flag in list(waiting):
            if flag.exists() or child.poll() == 0:
                waiting.remove((child, flag))
            elif child.poll() is not None:
                raise RuntimeError(
                    f"An Optuna worker process exited with code {child.returncode} before it "
                    "could take trials (its output is above)."
                )
        if waiting and time.monotonic() > deadline:
            for child, _ in waiting:
                child.terminate()
            raise RuntimeError(
                f"{len(waiting)} Optuna worker process(es) (pid {[c.pid for c, _ in waiting]}) "
                f"did not become ready in {READY_TIMEOUT_SECONDS:g} s (no "
                f"{[str(f) for _, f in waiting]}) and were stopped. A worker is ready once it "
                "has loaded the data and trained one throwaway unit: see its output above, or "
                "run with workers=1."
            )
        time.sleep(READY_POLL_SECONDS if waiting else 0)
