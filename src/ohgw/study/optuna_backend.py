"""The Optuna clock: Optuna's pruners on real worker processes that share one Optuna storage.

``ohgw study clock=optuna scheduler=asha|hyperband [address=URL]``. Each (variant, seed) is one
Optuna study in a shared storage: ``address`` (a database URL, e.g. ``sqlite:///x.db`` or
``postgresql://user@host/db``) or, by default, a journal file in the study directory
(``optuna.journal``, Optuna's ``JournalStorage`` with ``JournalFileBackend``). The journal is the
default because it is the storage Optuna documents for several processes on one file system:
every write is an append under a file lock, readers replay the log, and there is no SQLite
writer lock to time out (``database is locked``) when several workers report at once. A server
database (PostgreSQL, MySQL) is the choice across machines.

Pruners: ``asha`` is ``SuccessiveHalvingPruner(min_resource=grace_period, reduction_factor)``
(asynchronous successive halving), ``hyperband`` is ``HyperbandPruner(min_resource,
max_resource, reduction_factor)``. Trial ``k`` of seed ``s`` gets the configuration
``space.sample(trial_seed(s, k))`` in every variant (a sampler that reads it from the trial
number, which the storage hands out atomically, so two processes never give one number two
configurations), the theta_0 and data order of ``trial_seed(s, k)``, and, under Hyperband, the
same bracket (the bracket is hashed from the seed and the number, not the study name).

Budget: ``budget`` wall-clock seconds per (variant, seed), as with ``clock=real``, counted from
the start of the pair's first trial (its ``datetime_start`` in the storage, so every process
agrees on it). No new trial starts after it, a running trial stops at its first unit that ends
past it, and that unit's row is dropped. The number of trials is what fits; it is not set.
``report`` reads ``budget`` as the time axis, which a trial count would break.

Workers: every process that runs the same command joins the same studies (two terminals, or
Slurm jobs, pointed at the same ``directory`` and ``address``); ``workers`` is how many worker
processes one command runs (this one and ``workers - 1`` children). Each worker runs the pairs
in order, one trial at a time: ``ask`` -> run_trial with the warm start inside ->
``trial.report(val_metric, epoch)`` per unit -> ``should_prune``. Workers wait at the end of a
pair's budget for the trials still running, so the pairs run one after another.

Rows: each unit's row is kept in its Optuna trial (a user attribute) as it is produced; when a
pair is finished, any worker converts them into the store's rows (realclock's columns, ``time``
in seconds since the pair's start, ``worker`` numbered by each process's first trial) and adds
them in one transaction, then marks the pair done. Two workers doing it at once add identical
rows and the same summary: the store makes that a no-op.

Crashes: a worker writes a heartbeat into its running trial. A running trial whose heartbeat is
older than ``GRACE_SECONDS`` (or whose process is gone, on the same host) is failed by the next
worker that looks, and the attempt is given up: a pair that lost a worker is not comparable to
its paired variant, so, as with ``clock=real``, it starts over (a new Optuna study
``...|attempt=k+1``; the store has none of its rows yet). Rerunning the command resumes: done
pairs are skipped, a live pair is joined, an abandoned one starts over.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.pruners import BasePruner
from optuna.pruners import HyperbandPruner
from optuna.pruners import SuccessiveHalvingPruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.storages import JournalStorage
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.space import Categorical
from ohgw.space import Continuous
from ohgw.space import SearchSpace
from ohgw.store import Store
from ohgw.study.simulate import MEASURED
from ohgw.study.simulate import trial_seed
from ohgw.study.simulate import unit_row
from ohgw.study.study import RESULTS_CSV
from ohgw.study.study import StudyConfig
from ohgw.study.study import claim_directory
from ohgw.study.study import format_summary
from ohgw.study.study import summarise
from ohgw.study.variants import Variant
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial

JOURNAL_FILE = "optuna.journal"
"""The default storage, in the study directory."""
HEARTBEAT_SECONDS = 5.0
GRACE_SECONDS = 60.0  # a running trial without a heartbeat this long belongs to a dead worker
POLL_SECONDS = 1.0  # waiting for the other workers' last trials of a pair
# User attributes of an Optuna trial.
ROW = "ohgw.row."  # + resource: the unit's row, with absolute start and end times
WORKER = "ohgw.worker"  # "host:pid" of the process that runs it
HEARTBEAT = "ohgw.heartbeat"
END = "ohgw.end"  # why it ended: completed, pruned, budget, diverged, abandoned, stale, error
_STATES = {
    "completed": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "budget": TrialState.PRUNED,  # stopped early by the end of the budget
    "diverged": TrialState.FAIL,  # as the simulated clock's scheduler.on_error
    "abandoned": TrialState.FAIL,
}

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_optuna(
    config: StudyConfig, variants: list[Variant], echo: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Run (or join, or continue) an Optuna study; return the summary per variant.

    This process is one worker; ``config.workers - 1`` more run as child processes. Returns
    when every (variant, seed) is done, whoever ran it.
    """
    check_settings(config)
    children = [_spawn(config) for _ in range(config.workers - 1)]
    try:
        table = _work(config, variants, echo)
    finally:
        codes = [child.wait() for child in children]
    if any(codes):
        raise RuntimeError(f"Optuna worker processes exited with codes {codes}.")
    return table


def check_settings(config: StudyConfig) -> None:
    """The settings only the Optuna clock has; a ``ValueError`` names the bad one."""
    if config.clock != "optuna":
        raise ValueError(f"The value of `clock` is {config.clock!r}, but must be 'optuna'.")
    if config.scheduler not in ("asha", "hyperband"):
        raise ValueError(
            f"The value of `scheduler` is {config.scheduler!r}, but with clock=optuna it must "
            "be 'asha' or 'hyperband'."
        )
    if config.address is not None and "://" not in str(config.address):
        raise ValueError(
            f"The value of `address` is {config.address!r}, but must be a database URL "
            "(sqlite:///path.db, postgresql://user@host/db, ...) or null (a journal file in "
            "the study directory)."
        )
    if not 1 <= config.grace_period <= config.max_resource:
        raise ValueError(
            f"The value of `grace_period` is {config.grace_period}, but must be in "
            f"[1, max_resource={config.max_resource}]."
        )
    if config.reduction_factor < 2:
        raise ValueError(
            f"The value of `reduction_factor` is {config.reduction_factor}, but must be >= 2."
        )


def open_storage(config: StudyConfig) -> BaseStorage:
    """The shared Optuna storage: ``address`` or the study directory's journal file."""
    if config.address is None:
        path = Path(config.directory) / JOURNAL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    kwargs: dict[str, Any] = {}
    if str(config.address).startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # wait for the writer lock
    return RDBStorage(str(config.address), **kwargs)


def study_name(label: str, seed: int, attempt: int) -> str:
    """The Optuna study of one attempt at (variant, seed)."""
    return f"ohgw|{label}|seed={seed}|attempt={attempt}"


class PairedSampler(BaseSampler):
    """Trial ``k`` gets ``space.sample(trial_seed(seed, k))``, in every variant and process.

    The storage numbers trials atomically, so each number, and with it each configuration, is
    taken exactly once per study, however many processes ask.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def config(self, number: int) -> dict[str, Any]:
        return self.space.sample(trial_seed(self.seed, number))

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: Any, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self.config(trial.number)[param_name]


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """The trial's configuration, recorded as Optuna parameters with the space's bounds."""
    config = {}
    for hp in space.hyperparameters:
        if isinstance(hp, Continuous):
            value = trial.suggest_float(hp.name, hp.low, hp.high, log=hp.transform == "log")
        elif isinstance(hp, Categorical):
            value = trial.suggest_categorical(hp.name, hp.choices)
        else:
            value = trial.suggest_int(hp.name, hp.low, hp.high)
        config[hp.name] = value
    return config


class PairedHyperbandPruner(HyperbandPruner):
    """``HyperbandPruner`` whose bracket of trial ``k`` depends on the seed, not on the study.

    Optuna hashes the study name and trial number into a bracket; the study names differ per
    variant, so trial ``k`` would get other brackets (other rungs) in each variant. Only the
    hash's input is changed; the brackets and their sizes are Optuna's.
    """

    def __init__(self, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._paired = types.SimpleNamespace(study_name=f"ohgw-seed={seed}")

    def _get_bracket_id(self, study: Any, trial: FrozenTrial) -> int:
        return super()._get_bracket_id(self._paired, trial)


def make_pruner(config: StudyConfig, seed: int) -> BasePruner:
    """The study's pruner: successive halving (``asha``) or Hyperband."""
    if config.scheduler == "asha":
        return SuccessiveHalvingPruner(
            min_resource=config.grace_period, reduction_factor=config.reduction_factor
        )
    return PairedHyperbandPruner(
        seed,
        min_resource=config.grace_period,
        max_resource=config.max_resource,
        reduction_factor=config.reduction_factor,
    )


def _token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _spawn(config: StudyConfig) -> subprocess.Popen:
    """A child worker process running the same study (``python -m`` this module)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ohgw.study.optuna_backend", "--one", json.dumps(config.to_dict())]
    )


def _work(
    config: StudyConfig, variants: list[Variant], echo: Callable[[str], Any]
) -> dict[str, Any]:
    """One worker: every (variant, seed) not done yet, in order; then the summary."""
    directory = Path(config.directory)
    benchmark = make_benchmark(config.benchmark, device=config.device, **config.benchmark_options)
    storage = open_storage(config)
    with Store(directory) as store:
        claim_directory(store, config)
        built: dict[float, Benchmark] = {}  # per noise, shared by the variants
        for variant, seed in _pairs(config, variants):
            if (variant.label, seed) in store.done():
                continue
            options = variant.benchmark_options(config.benchmark_options, benchmark.noise_option)
            if variant.noise not in built:
                built[variant.noise] = _warmed_up(config, options)
            pair = _Pair(config, variant, seed, storage, built[variant.noise], options)
            summary = pair.finalise(store, pair.run())
            echo(f"optuna: {variant.label}, seed {seed}: {summary}")
        # A file of this process's own, then an atomic rename: workers export at the same time.
        mine = directory / f".{RESULTS_CSV}.{os.getpid()}"
        store.export_csv(mine, exclude=MEASURED)
        os.replace(mine, directory / RESULTS_CSV)
        table = summarise(store, config, variants, benchmark)
    echo(format_summary(table, config, benchmark))
    return table


def _pairs(config: StudyConfig, variants: list[Variant]) -> list[tuple[Variant, int]]:
    """This command's (variant, seed) pairs, seed-major (a study cut short holds whole paired
    seeds), and of them only its shard's where ``shard`` is ``i/n``."""
    pairs = [(v, s) for s in config.seed_list for v in variants]
    shard, shards = getattr(config, "shard_index", (0, 1))
    return pairs[shard::shards]


def _warmed_up(config: StudyConfig, options: dict[str, Any]) -> Benchmark:
    """A benchmark that ran one throwaway unit: its data are loaded and the FLOPs of a step
    and an evaluation counted (once per benchmark, slowly), before any pair's clock runs, so
    that no trial of a pair is charged for them."""
    benchmark = make_benchmark(config.benchmark, device=config.device, **options)
    spec = TrialSpec(
        benchmark=config.benchmark,
        config=benchmark.space.sample(0),
        seed=0,
        max_resource=1,
        benchmark_options=options,
        device=config.device,
    )
    run_trial(spec, benchmark=benchmark)
    return benchmark


class _Pair:
    """One (variant, seed): its current Optuna study, and a worker's part in it."""

    def __init__(
        self,
        config: StudyConfig,
        variant: Variant,
        seed: int,
        storage: BaseStorage,
        benchmark: Benchmark,
        options: dict[str, Any],
    ) -> None:
        self.config, self.variant, self.seed = config, variant, seed
        self.storage, self.benchmark, self.options = storage, benchmark, options
        self.sampler = PairedSampler(benchmark.space, seed)
        self.direction = "maximize" if benchmark.mode == "max" else "minimize"
        self.token = _token()

    def _study(self, attempt: int) -> optuna.Study:
        return optuna.create_study(
            storage=self.storage,
            study_name=study_name(self.variant.label, self.seed, attempt),
            direction=self.direction,
            sampler=self.sampler,
            pruner=make_pruner(self.config, self.seed),
            load_if_exists=True,  # safe when several workers create it at once
        )

    def _attempt(self) -> int:
        prefix = study_name(self.variant.label, self.seed, 0).rsplit("=", 1)[0] + "="
        names = optuna.get_all_study_names(self.storage)
        return max((int(n[len(prefix) :]) for n in names if n.startswith(prefix)), default=0)

    def run(self) -> optuna.Study:
        """Take trials until the budget is spent and the pair's last trial ended."""
        attempt = self._attempt()
        study = self._study(attempt)
        while True:
            trials = study.get_trials(deepcopy=False)
            _fail_stale(study, trials)
            if _broken(study.get_trials(deepcopy=False)):
                attempt += 1
                study = self._study(attempt)
                continue
            t0 = _start(trials)
            if t0 is not None and time.time() - t0 >= self.config.budget:
                if any(t.state == TrialState.RUNNING for t in trials):
                    time.sleep(POLL_SECONDS)
                    continue
                return study
            self._trial(study)

    def _trial(self, study: optuna.Study) -> None:
        trial = study.ask()
        with _heartbeat(study, trial, self.token):
            config = suggest(trial, self.benchmark.space)
            if config != self.sampler.config(trial.number):
                raise RuntimeError(f"Optuna changed the configuration of trial {trial.number}.")
            t0 = _start(study.get_trials(deepcopy=False))
            assert t0 is not None  # this trial is one of them
            spec = TrialSpec(
                benchmark=self.config.benchmark,
                config=config,
                seed=trial_seed(self.seed, trial.number),
                max_resource=self.config.max_resource,
                warm_start=self.variant.warm_start,
                benchmark_options=self.options,
                device=self.config.device,
            )
            state: dict[str, Any] = {"end": "completed", "last": time.time()}

            def report(row: dict[str, Any]) -> bool:
                now = time.time()
                if now - t0 > self.config.budget:
                    state["end"] = "budget"
                    return False
                row = {**row, "t_start": state["last"], "t_end": now}
                trial.set_user_attr(f"{ROW}{row['resource']}", row)
                state["last"] = now
                if row["status"] == "diverged":
                    state["end"] = "diverged"
                    return False
                trial.report(row["val_metric"], row["resource"])
                state["value"] = row["val_metric"]
                if row["resource"] >= self.config.max_resource:
                    return False
                if trial.should_prune():
                    state["end"] = "pruned"
                    return False
                if _broken(study.get_trials(deepcopy=False)):
                    state["end"] = "abandoned"
                    return False
                return True

            try:
                run_trial(spec, report, benchmark=self.benchmark)
            except UpdateFinishedTrialError:
                return  # another worker took this trial for a dead one: the attempt is over
            except BaseException:
                with contextlib.suppress(Exception):
                    trial.set_user_attr(END, "error")
                    study.tell(trial, state=TrialState.FAIL)
                raise
        try:
            trial.set_user_attr(END, state["end"])
            if state["end"] == "completed":
                study.tell(trial, state["value"])
            else:
                study.tell(trial, state=_STATES[state["end"]])
        except UpdateFinishedTrialError:
            return

    def finalise(self, store: Store, study: optuna.Study) -> dict[str, Any]:
        """Store the pair's rows in one transaction and mark it done (a no-op the 2nd time)."""
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        t0 = _start(trials)
        keys = list(self.benchmark.space.names)
        workers: dict[str, int] = {}
        rows = []
        for trial in trials:
            units = sorted(
                (v for k, v in trial.user_attrs.items() if k.startswith(ROW)),
                key=lambda r: r["resource"],
            )
            if not units:
                continue
            worker = workers.setdefault(trial.user_attrs[WORKER], len(workers))
            for unit in units:
                report = {k: v for k, v in unit.items() if k not in ("t_start", "t_end")}
                start, end = unit["t_start"] - t0, unit["t_end"] - t0
                rows.append(
                    unit_row(
                        report,
                        label=self.variant.label,
                        seed=self.seed,
                        trial_id=trial.number,
                        worker=worker,
                        start_time=max(start, 0.0),
                        time=end,
                        config={k: trial.params[k] for k in keys},
                    )
                )
        with_rows = [t for t in trials if any(k.startswith(ROW) for k in t.user_attrs)]
        summary = {
            "trials": len(with_rows),
            "units": len(rows),
            "end_time": max((r["time"] for r in rows), default=0.0),
            "pruned": sum(t.user_attrs.get(END) == "pruned" for t in with_rows),
            "workers": len(workers),
            "optuna_study": study.study_name,
        }
        store.add_rows(rows)
        store.mark_done(self.variant.label, self.seed, summary)
        return summary


def _start(trials: list[FrozenTrial]) -> float | None:
    """When the pair's clock started: its first trial's start, as every process sees it."""
    first = [t for t in trials if t.number == 0 and t.datetime_start is not None]
    return first[0].datetime_start.timestamp() if first else None


def _broken(trials: list[FrozenTrial]) -> bool:
    """Whether a worker died in this attempt (one of its trials was failed as stale)."""
    return any(t.user_attrs.get(END) == "stale" for t in trials)


def _alive(token: str) -> bool:
    """Whether the worker ``host:pid`` may still run (only checkable on this host)."""
    host, _, pid = token.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _fail_stale(study: optuna.Study, trials: list[FrozenTrial]) -> None:
    """Fail running trials of dead workers: no heartbeat for GRACE_SECONDS, or no process."""
    now = time.time()
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        beat = trial.user_attrs.get(HEARTBEAT)
        if beat is None and trial.datetime_start is not None:
            beat = trial.datetime_start.timestamp()
        owner = trial.user_attrs.get(WORKER)
        dead = owner is not None and not _alive(owner)
        if dead or (beat is not None and now - beat > GRACE_SECONDS):
            with contextlib.suppress(UpdateFinishedTrialError):
                study._storage.set_trial_user_attr(trial._trial_id, END, "stale")
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trial: optuna.Trial, token: str) -> Iterator[None]:
    """Mark the trial as this process's, and keep its heartbeat fresh while it runs."""
    trial.set_user_attr(WORKER, token)
    trial.set_user_attr(HEARTBEAT, time.time())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                trial.set_user_attr(HEARTBEAT, time.time())
            except Exception:  # finished, or failed by another worker: nothing to keep alive
                return

    thread = threading.Thread(target=beat, name="ohgw-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    """Workers of a study: ``python -m ohgw.study.optuna_backend [--one] CONFIG_JSON``.

    ``workers`` processes as ``ohgw study`` runs them (``--one``: this process only, as the
    children are), without the summary and report (a Slurm job's command)."""
    import warnings

    import torch

    from ohgw.study.study import validate
    from ohgw.warmstart import HyperGradientWarning

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("config", help="the study's settings as JSON (StudyConfig fields)")
    parser.add_argument("--one", action="store_true", help="one worker: this process only")
    args = parser.parse_args(argv)
    config = StudyConfig.from_dict(json.loads(args.config))
    variants, _ = validate(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HyperGradientWarning)
        if args.one:
            _work(config, variants, echo=lambda _: None)
        else:
            run_optuna(config, variants, echo=print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
