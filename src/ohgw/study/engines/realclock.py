"""The real-clock engine: syne-tune's ``Tuner`` runs each (variant, seed) on local processes.

Where the simulated clock charges each unit its FLOPs, the real clock measures wall-clock time:
process start-up, the warm start inside the trial, contention between workers and syne-tune's
own polling all count. Each (variant, seed) is one ``Tuner`` with a ``LocalBackend`` of
``workers`` processes, the same syne-tune scheduler and seed as the simulated clock, and a
``budget`` in wall-clock seconds. A trial is this file run as a script (:func:`main`).

The rows are stored after the tuner finishes, in the simulated engine's format, in one
transaction (:class:`~ohgw.study.engines.wallclock.WallClockEngine`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from syne_tune import Reporter
from syne_tune import StoppingCriterion
from syne_tune import Tuner
from syne_tune.backend import LocalBackend
from syne_tune.backend.trial_status import Trial
from syne_tune.constants import ST_CHECKPOINT_DIR
from syne_tune.constants import ST_CONFIG_JSON_FNAME_ARG
from syne_tune.constants import ST_TUNER_START_TIMESTAMP
from syne_tune.constants import ST_WORKER_TIMESTAMP
from syne_tune.results_callback import StoreResultsCallback
from syne_tune.tuner_callback import TunerCallback

from ohgw.schedulers.synetune import MAX_RESOURCE_ATTR
from ohgw.schedulers.synetune import RESOURCE_ATTR
from ohgw.schedulers.synetune import SCHEDULERS
from ohgw.store.files import remove_tree
from ohgw.study.config import SCHEDULER_ALIASES
from ohgw.study.engines.wallclock import STALE_CHECKPOINTS
from ohgw.study.engines.wallclock import WallClockEngine
from ohgw.study.engines.wallclock import assign_workers
from ohgw.study.pair import Pair
from ohgw.study.pair import TrialTemplate
from ohgw.study.pair import safe_name
from ohgw.study.pair import store_row
from ohgw.study.plan import Study
from ohgw.trial import run_trial

ENTRY = str(Path(__file__).resolve())
STUDY_KEY = "ohgw_study"
"""Config key our backend adds for the trial process: trial id, study seed, fixed settings."""
POLL_SECONDS = 1.0  # the tuner's sleep while all workers are busy (syne-tune's default: 5 s)


class RealClockEngine(WallClockEngine):
    """Each pair: one syne-tune ``Tuner`` with a ``LocalBackend`` of ``workers`` processes."""

    name = "real"
    schedulers = (*SCHEDULERS, *SCHEDULER_ALIASES)

    def check(self, study: Study) -> None:
        if any(c.isspace() for c in sys.executable + ENTRY):  # LocalBackend splits its command
            raise ValueError(f"The real clock cannot run {sys.executable} {ENTRY} (a space).")
        study.scheduler(seed=0)  # raises on an impossible budget (PASHA)

    def tune(self, study: Study, pair: Pair) -> list[dict[str, Any]]:
        logger = logging.getLogger("syne_tune.tuner")
        if _not_deprecation not in logger.filters:
            logger.addFilter(_not_deprecation)
        return _tune(study, pair, study.directory / "realclock")


class _Backend(LocalBackend):
    """``LocalBackend`` that tells each trial process its trial id and the study's settings.

    They travel in the trial's ``config.json`` (``pass_args_as_json``), not in the config the
    scheduler sees; syne-tune 0.14.2 passes no trial id to the process otherwise.
    """

    def __init__(self, fixed: dict[str, Any]) -> None:
        # On CPU no GPU rotation: it probes nvidia-smi and warns about num_gpus_per_trial.
        cuda = str(fixed["device"]).startswith("cuda")
        super().__init__(entry_point=ENTRY, pass_args_as_json=True, rotate_gpus=cuda)
        self._fixed = fixed

    def _schedule(self, trial_id: int, config: dict[str, Any]) -> None:
        super()._schedule(trial_id, {**config, STUDY_KEY: {**self._fixed, "trial_id": trial_id}})


class _Recorder(TunerCallback):
    """Every result the tuner acts on, and when each trial process started (or resumed)."""

    def __init__(self) -> None:
        self.results: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.starts: dict[int, list[float]] = {}

    def on_start_trial(self, trial: Trial) -> None:
        self.starts.setdefault(trial.trial_id, []).append(time.time())

    def on_resume_trial(self, trial: Trial) -> None:
        self.on_start_trial(trial)

    def on_trial_result(self, trial: Trial, status: str, result: dict, decision: str) -> None:
        self.results.append((trial.trial_id, dict(trial.config), dict(result)))


def _not_deprecation(record: logging.LogRecord) -> bool:
    """The Tuner warns "Scheduler ASHA is deprecated" at every suggestion of a legacy one."""
    return "is deprecated" not in record.getMessage()


@contextlib.contextmanager
def _inside(folder: Path, env: dict[str, str]) -> Iterator[None]:
    """Work in ``folder`` with ``env`` set; restore both afterwards (the tuner uses the cwd)."""
    old_cwd = Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    with mock.patch.dict(os.environ, env):
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(old_cwd)


def _tune(study: Study, pair: Pair, root: Path) -> list[dict[str, Any]]:
    """One (variant, seed): a tuner for ``budget`` wall-clock seconds; its rows."""
    config, seed = study.config, pair.seed
    space = study.benchmark.space.to_syne_tune()
    scheduler = study.scheduler(seed).scheduler
    if config.max_trials is not None:
        _limit_trials(scheduler, config.max_trials)
    fixed = study.template(pair.variant, seed).to_dict()
    name = f"{safe_name(pair.label)}-seed{seed}"
    remove_tree(root / name, STALE_CHECKPOINTS)
    recorder = _Recorder()
    # Relative paths (cwd = root, SYNETUNE_FOLDER = ".") keep spaces of the study path out of
    # the trial command; PYTHONSAFEPATH keeps this package folder off the trial's import path.
    env = {"SYNETUNE_FOLDER": ".", "PYTHONSAFEPATH": "1"}
    if config.threads:  # the trial processes' torch threads (``workers`` of them share the CPU)
        env["OMP_NUM_THREADS"] = str(config.threads)
    with _inside(root, env):
        tuner = Tuner(
            trial_backend=_Backend(fixed),
            scheduler=scheduler,
            stop_criterion=StoppingCriterion(max_wallclock_time=config.budget),
            n_workers=config.workers,
            sleep_time=POLL_SECONDS,
            max_failures=0,  # divergence is a result; a failed process is a bug to surface
            tuner_name=name,
            suffix_tuner_name=False,
            save_tuner=False,
            callbacks=[StoreResultsCallback(), recorder],
        )
        tuner.run()
    for checkpoints in (root / name).glob("*/checkpoints"):
        shutil.rmtree(checkpoints, ignore_errors=True)
    t0 = tuner.metadata[ST_TUNER_START_TIMESTAMP]
    return _rows(recorder, t0, pair.label, seed, list(space), config.budget)


def _limit_trials(scheduler: Any, max_trials: int) -> None:
    """Make ``scheduler`` suggest nothing once ``max_trials`` trials have started: the
    ``Tuner`` then takes the configuration space as exhausted and ends the pair when the
    running trials stop (a stopping criterion would stop them at once)."""
    suggest = scheduler.suggest
    started = 0

    def limited(*args: Any, **kwargs: Any) -> Any:
        nonlocal started
        if started >= max_trials:
            return None
        suggestion = suggest(*args, **kwargs)
        if suggestion is not None and suggestion.spawn_new_trial_id:
            started += 1
        return suggestion

    scheduler.suggest = limited


def _rows(
    recorder: _Recorder, t0: float, label: str, seed: int, keys: list[str], budget: float
) -> list[dict[str, Any]]:
    """The tuner's results as simulated-clock rows; times are seconds since the tuner start."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    process: dict[tuple[int, int], tuple[int, float]] = {}  # row -> (trial, its process start)
    last: dict[int, float] = {}
    for trial_id, trial_config, result in recorder.results:
        end = result[ST_WORKER_TIMESTAMP] - t0  # when the unit ended, in the trial process
        report = {k: v for k, v in result.items() if not k.startswith("st_")}
        report.pop(RESOURCE_ATTR)
        key = (trial_id, report["resource"])
        if end > budget or key in rows:
            continue
        started = max([0.0, *(s - t0 for s in recorder.starts.get(trial_id, []) if s - t0 <= end)])
        rows[key] = store_row(
            report,
            label=label,
            seed=seed,
            trial_id=trial_id,
            worker=-1,  # assign_workers numbers them
            start_time=max(last.get(trial_id, 0.0), started),
            time=end,
            config={k: trial_config[k] for k in keys},
        )
        process[key] = (trial_id, started)
        last[trial_id] = end
    assign_workers(rows, process)
    return sorted(rows.values(), key=lambda r: r["time"])


def main(argv: list[str] | None = None) -> int:
    """A trial process, started by ``LocalBackend``: run the trial, report each unit."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(f"--{ST_CONFIG_JSON_FNAME_ARG}", required=True)
    parser.add_argument(f"--{ST_CHECKPOINT_DIR}", required=True)
    args = vars(parser.parse_args(argv))
    config = json.loads(Path(args[ST_CONFIG_JSON_FNAME_ARG]).read_text())
    fixed = config.pop(STUDY_KEY)
    trial_id = fixed.pop("trial_id")
    max_resource = int(config.pop(MAX_RESOURCE_ATTR))  # a promotion scheduler's next milestone
    # a resumed trial continues from its checkpoint
    spec = TrialTemplate.from_dict(fixed).spec(
        trial_id, config, max_resource, args[ST_CHECKPOINT_DIR]
    )
    reporter = Reporter()
    run_trial(spec, lambda row: reporter(**{RESOURCE_ATTR: row["resource"], **row}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
