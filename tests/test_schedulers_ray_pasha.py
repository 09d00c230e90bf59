"""RayPASHA makes syne-tune's PASHA decisions: one stream of results, replayed through both.

The stream is recorded from a deterministic run of syne-tune's PASHA with three simulated
workers (fixed learning curves and unit durations). It is then replayed through (a) a fresh
syne-tune PASHA, called as syne-tune's ``Tuner`` calls it, and (b) ``RayPASHA`` with real
``ray.tune`` ``Trial`` objects, called as Ray Tune's controller calls a ``TrialScheduler``.
Both must take the same decisions: the same new trials and promotions at the same points, and
the same CONTINUE / PAUSE / STOP after every result.
"""

from __future__ import annotations

import heapq
import math
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from ray.tune.experiment import Trial as RayTrial
from syne_tune.backend.trial_status import Trial as SyneTrial
from syne_tune.optimizer.legacy_baselines import PASHA

from ohgw.benchmarks.cifar10 import SPACE
from ohgw.schedulers.ray_pasha import TRIAL_KEY
from ohgw.schedulers.ray_pasha import RayPASHA

WORKERS, MAX_T, SEED, RESULTS = 3, 10, 0, 160  # rungs 1, 3, 9 below MAX_T
Stream = list[tuple[int, int, float]]  # (trial id, epoch, val_metric) in arrival order


def val_metric(trial_id: int, epoch: int) -> float:
    """A fixed learning curve per trial: its plateau, approached geometrically, and a wiggle."""
    plateau = np.random.default_rng(trial_id).uniform(0.2, 0.9)
    return float(plateau * (1 - 0.7**epoch) + 0.02 * math.sin(3.1 * trial_id + epoch))


def unit_seconds(trial_id: int) -> float:
    return 1.0 + (trial_id * 37 % 11) / 10


def syne_tune_pasha() -> PASHA:
    """syne-tune's PASHA as ``make_scheduler("pasha", ...)`` configures it, built directly."""
    return PASHA(
        {**SPACE.to_syne_tune(), "epochs": MAX_T},
        metric="val_metric",
        mode="max",
        resource_attr="epoch",
        max_resource_attr="epochs",
        grace_period=1,
        reduction_factor=3,
        random_seed=SEED,
        points_to_evaluate=[],
    )


class SyneTuneDriver:
    """Calls a syne-tune scheduler as ``syne_tune.Tuner`` does; logs what it decides."""

    def __init__(self) -> None:
        self.pasha = syne_tune_pasha()
        self.trials: dict[int, SyneTrial] = {}
        self.running: set[int] = set()
        self.events: list[tuple[Any, ...]] = []

    def fill(self) -> list[int]:
        """``Tuner._schedule_new_tasks``: suggest while a worker is free; the started ids."""
        started = []
        while len(self.running) < WORKERS:
            new_id = len(self.trials)
            suggestion = self.pasha.suggest(new_id)
            if suggestion is None:
                break
            if suggestion.spawn_new_trial_id:
                trial_id = new_id
                self.trials[trial_id] = SyneTrial(
                    trial_id=trial_id, config=dict(suggestion.config), creation_time=datetime.now()
                )
                self.pasha.on_trial_add(trial=self.trials[trial_id])
                self.events.append(("start", trial_id))
            else:
                trial_id = suggestion.checkpoint_trial_id
                if suggestion.config is not None:
                    self.trials[trial_id].config = dict(suggestion.config)
                self.events.append(("resume", trial_id))
            self.running.add(trial_id)
            started.append(trial_id)
        return started

    def result(self, trial_id: int, epoch: int, value: float) -> str:
        """``Tuner._handle_results`` for one result; the decision."""
        assert trial_id in self.running, f"the stream reports trial {trial_id}, not running here"
        trial = self.trials[trial_id]
        decision = str(
            self.pasha.on_trial_result(trial=trial, result={"val_metric": value, "epoch": epoch})
        )
        if decision != "CONTINUE":
            self.pasha.on_trial_remove(trial=trial)
            self.running.discard(trial_id)
        self.events.append(("result", trial_id, epoch, decision))
        return decision


def record_stream() -> Stream:
    """Run syne-tune's PASHA on WORKERS simulated workers; the results in arrival order."""
    driver = SyneTuneDriver()
    epochs: dict[int, int] = {}
    queue: list[tuple[float, int]] = []  # (when the trial's next epoch ends, trial id)
    stream: Stream = []

    def start(now: float) -> None:
        for trial_id in driver.fill():
            epochs.setdefault(trial_id, 0)
            heapq.heappush(queue, (now + unit_seconds(trial_id), trial_id))

    start(0.0)
    while queue and len(stream) < RESULTS:
        now, trial_id = heapq.heappop(queue)
        epochs[trial_id] += 1
        value = val_metric(trial_id, epochs[trial_id])
        stream.append((trial_id, epochs[trial_id], value))
        if driver.result(trial_id, epochs[trial_id], value) == "CONTINUE":
            heapq.heappush(queue, (now + unit_seconds(trial_id), trial_id))
        else:
            start(now)
    return stream


def replay_syne_tune(stream: Stream) -> list[tuple[Any, ...]]:
    driver = SyneTuneDriver()
    for trial_id, epoch, value in stream:
        driver.fill()
        driver.result(trial_id, epoch, value)
    driver.fill()
    return driver.events


def replay_ray(stream: Stream) -> list[tuple[Any, ...]]:
    """Feed the stream to RayPASHA as Ray Tune's controller would, with real Ray ``Trial``s.

    Before each result, one controller step: the search algorithm creates the new trials the
    scheduler reserves, and ``choose_trial_to_run`` hands out promoted paused trials. A STOP
    is followed by ``on_trial_complete``, as Ray's ``stop_trial`` does for a running trial.
    """
    scheduler = RayPASHA(
        SPACE.to_syne_tune(),
        metric="val_metric",
        mode="max",
        max_t=MAX_T,
        grace_period=1,
        reduction_factor=3,
        seed=SEED,
        workers=WORKERS,
    )
    trials: dict[int, RayTrial] = {}

    def step() -> None:
        while True:
            trial_id = scheduler.reserve_new_trial()
            if trial_id is not None:
                trial = RayTrial("ohgw_trial", config={TRIAL_KEY: trial_id}, stub=True)
                scheduler.on_trial_add(None, trial)
                trial.set_status(RayTrial.RUNNING)
                trials[trial_id] = trial
                continue
            chosen = scheduler.choose_trial_to_run(None)
            assert scheduler.choose_trial_to_run(None) is chosen  # idempotent
            if chosen is None:
                return
            chosen.set_status(RayTrial.PENDING)  # staged by the controller, then started
            assert scheduler.choose_trial_to_run(None) is chosen
            chosen.set_status(RayTrial.RUNNING)

    for trial_id, epoch, value in stream:
        step()
        assert trial_id in trials, f"the stream reports trial {trial_id}, not started here"
        trial = trials[trial_id]
        assert trial.status == RayTrial.RUNNING, f"trial {trial_id} is {trial.status} here"
        result = {"val_metric": value, "epoch": epoch, "training_iteration": epoch}
        decision = scheduler.on_trial_result(None, trial, result)
        if decision == "PAUSE":
            trial.set_status(RayTrial.PAUSED)
        elif decision == "STOP":
            scheduler.on_trial_complete(None, trial, result)
            trial.set_status(RayTrial.TERMINATED)
    step()
    return scheduler.events


@pytest.fixture(scope="module")
def stream() -> Stream:
    return record_stream()


def test_ray_pasha_decides_as_syne_tune_pasha_on_the_same_stream(stream: Stream) -> None:
    reference = replay_syne_tune(stream)
    assert replay_ray(stream) == reference
    decisions = [e[3] for e in reference if e[0] == "result"]
    assert len(decisions) == len(stream) == RESULTS
    assert {"CONTINUE", "PAUSE"} <= set(decisions)
    assert any(e[0] == "resume" for e in reference)  # promotions go through choose_trial_to_run
    assert max(epoch for _, epoch, _ in stream) > 3  # PASHA raised its resource cap


def test_ray_pasha_ignores_the_repeated_last_result() -> None:
    """Ray repeats a trial's last result when its function returns: PASHA hears it once."""
    scheduler = RayPASHA(
        SPACE.to_syne_tune(), metric="val_metric", mode="max", max_t=MAX_T, workers=1
    )
    trial_id = scheduler.reserve_new_trial()
    assert trial_id == 0 and scheduler.reserve_new_trial() is None  # one worker: one trial
    trial = RayTrial("ohgw_trial", config={TRIAL_KEY: 0}, stub=True)
    scheduler.on_trial_add(None, trial)
    trial.set_status(RayTrial.RUNNING)
    first = scheduler.on_trial_result(None, trial, {"val_metric": 0.5, "epoch": 1})
    assert first == "PAUSE"  # the first rung
    again = scheduler.on_trial_result(None, trial, {"val_metric": 0.5, "epoch": 1, "done": True})
    assert again == "PAUSE" and len([e for e in scheduler.events if e[0] == "result"]) == 1


def test_ray_pasha_refuses_trials_it_did_not_ask_for() -> None:
    scheduler = RayPASHA(
        SPACE.to_syne_tune(), metric="val_metric", mode="max", max_t=MAX_T, workers=2
    )
    with pytest.raises(ValueError, match="reserve_new_trial"):
        scheduler.on_trial_add(None, RayTrial("ohgw_trial", config={TRIAL_KEY: 5}, stub=True))
    with pytest.raises(ValueError, match="workers"):
        RayPASHA(SPACE.to_syne_tune(), metric="val_metric", mode="max", max_t=MAX_T, workers=0)
    with pytest.raises(ValueError, match="PASHA never promotes"):
        RayPASHA(SPACE.to_syne_tune(), metric="val_metric", mode="max", max_t=3, workers=2)
