"""One (variant, seed) on the Optuna engine: a worker's part in its budget, and its rows.

Each worker runs the pair one trial at a time: ``ask`` -> the trial runner with the warm start
inside -> ``trial.report(val_metric, epoch)`` per unit -> ``should_prune``, until the pair's
``budget`` (wall-clock seconds from its first trial's start, as the storage records it) is spent
and its last trial has ended. Each unit's row is kept in its Optuna trial as it is produced;
:meth:`OptunaPair.finalise` turns them into the store's rows (any worker may, with the same
result). A pair that lost a worker starts over as a new attempt (:mod:`.optuna_liveness`), at
most ``MAX_ATTEMPTS`` times in one run: a fault that recurs must stop the worker, not spend
budget after budget.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from ohgw.benchmarks.base import Benchmark
from ohgw.study.engines.optuna_liveness import END
from ohgw.study.engines.optuna_liveness import GRACE_SECONDS
from ohgw.study.engines.optuna_liveness import WORKER
from ohgw.study.engines.optuna_liveness import broken
from ohgw.study.engines.optuna_liveness import fail_stale
from ohgw.study.engines.optuna_liveness import heartbeat
from ohgw.study.engines.optuna_liveness import token
from ohgw.study.engines.optuna_paired import PairedSampler
from ohgw.study.engines.optuna_paired import make_pruner
from ohgw.study.engines.optuna_paired import study_name
from ohgw.study.engines.optuna_paired import suggest
from ohgw.study.pair import Pair
from ohgw.study.pair import TrialTemplate
from ohgw.study.pair import store_row
from ohgw.study.plan import Study
from ohgw.trial import run_trial

POLL_SECONDS = 1.0  # waiting for the other workers' last trials of a pair
MAX_ATTEMPTS = 3  # broken attempts of one pair in a row that one run sees before it stops
ROW = "ohgw.row."  # user attribute + resource: the unit's row, with absolute start and end times
OVER_LIMIT = "over_limit"  # END of a trial numbered past max_trials: closed, never trained
_STATES = {
    "completed": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "budget": TrialState.PRUNED,  # stopped early by the end of the budget
    "diverged": TrialState.FAIL,  # as the simulated clock's scheduler.on_error
    "abandoned": TrialState.FAIL,
}


class OptunaPair:
    """One (variant, seed): its current Optuna study, and a worker's part in it."""

    def __init__(
        self, study: Study, pair: Pair, storage: BaseStorage, benchmark: Benchmark
    ) -> None:
        self.config, self.variant, self.seed = study.config, pair.variant, pair.seed
        self.template: TrialTemplate = study.template(pair.variant, pair.seed)
        self.storage, self.benchmark = storage, benchmark
        self.sampler = PairedSampler(benchmark.space, pair.seed)
        self.direction = "maximize" if benchmark.mode == "max" else "minimize"
        self.token = token()

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
        """Take trials until the budget is spent (or ``max_trials`` have started) and the
        pair's last trial ended."""
        first = attempt = self._attempt()
        study = self._study(attempt)
        while True:
            trials = study.get_trials(deepcopy=False)
            fail_stale(study, trials)
            if broken(study.get_trials(deepcopy=False)):
                attempt += 1
                if attempt - first >= MAX_ATTEMPTS:
                    raise RuntimeError(self._given_up(first, attempt))
                study = self._study(attempt)
                continue
            t0 = start_time(trials)
            limit = self.config.max_trials
            spent = t0 is not None and time.time() - t0 >= self.config.budget
            if spent or (limit is not None and len(trials) >= limit):
                if any(t.state == TrialState.RUNNING for t in trials):
                    time.sleep(POLL_SECONDS)
                    continue
                return study
            self._trial(study)

    def _given_up(self, first: int, attempt: int) -> str:
        names = [study_name(self.variant.label, self.seed, a) for a in (first, attempt - 1)]
        return (
            f"{self.variant.label}, seed {self.seed}: {attempt - first} attempts in a row lost a "
            f"worker (Optuna studies {names[0]!r} to {names[1]!r}: a running trial had no "
            f"heartbeat for {GRACE_SECONDS:g} s, or its process ended, and was failed as "
            "stale). Each attempt starts the pair's budget over, so this worker stops; find "
            "why the workers died or stopped beating in their output (a heartbeat that gave up "
            "says so), then rerun the same command: it continues the study."
        )

    def _trial(self, study: optuna.Study) -> None:
        trial = study.ask()
        limit = self.config.max_trials
        if limit is not None and trial.number >= limit:
            # Workers that saw max_trials - 1 trials asked at once: the storage numbered this
            # one past the limit. Closed at once, never trained (no rows: not the pair's).
            with contextlib.suppress(UpdateFinishedTrialError):
                trial.set_user_attr(END, OVER_LIMIT)
                study.tell(trial, state=TrialState.FAIL)
            return
        with heartbeat(study, trial, self.token):
            config = suggest(trial, self.benchmark.space)
            if config != self.sampler.config(trial.number):
                raise RuntimeError(f"Optuna changed the configuration of trial {trial.number}.")
            t0 = start_time(study.get_trials(deepcopy=False))
            assert t0 is not None  # this trial is one of them
            spec = self.template.spec(trial.number, config, self.config.max_resource)
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
                if broken(study.get_trials(deepcopy=False)):
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

    def finalise(self, study: optuna.Study) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The pair's rows and summary, from its trials (the same in every worker)."""
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        t0 = start_time(trials)
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
                    store_row(
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
        return rows, summary


def start_time(trials: list[FrozenTrial]) -> float | None:
    """When the pair's clock started: its first trial's start, as every process sees it."""
    first = [t for t in trials if t.number == 0 and t.datetime_start is not None]
    return first[0].datetime_start.timestamp() if first else None
