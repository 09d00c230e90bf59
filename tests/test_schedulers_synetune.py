"""syne-tune's ASHA, PASHA, DyHPO and synchronous Hyperband driven through our Scheduler API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest

pytest.importorskip("syne_tune")

from syne_tune.config_space import loguniform
from syne_tune.config_space import uniform

from ohgw.schedulers import Decision
from ohgw.schedulers import Scheduler
from ohgw.schedulers.synetune import SCHEDULERS
from ohgw.schedulers.synetune import make_scheduler

SPACE = {"lr": loguniform(1e-3, 1.0), "momentum": uniform(0.0, 0.99), "width": 16}
PAUSE_RESUME = ("asha-promotion", "pasha", "dyhpo", "hyperband")
# DyHPO refits a GP at every suggestion: keep its study tiny.
SETTINGS = {
    "dyhpo": {"max_resource": 4, "grace_period": 1, "budget": 30},
    **{
        name: {"max_resource": 8, "grace_period": 1, "reduction_factor": 2, "budget": 120}
        for name in SCHEDULERS
        if name != "dyhpo"
    },
}


def accuracy(config: dict[str, Any], epoch: int) -> float:
    """Toy learning curve: a large lr learns fast but plateaus low, so curves cross.

    Crossing curves matter: PASHA raises its resource cap only when the rankings at its top
    two rungs disagree; with rank-preserving curves no PASHA trial would reach max_resource.
    """
    speed = 0.02 + config["lr"] * (0.5 + config["momentum"])
    ceiling = 1.0 - 0.5 * config["lr"] - 0.2 * config["momentum"] ** 2
    return ceiling * (1.0 - math.exp(-epoch * speed))


@dataclass
class Study:
    """What a driven study did: the event log and per-trial bookkeeping."""

    log: list[tuple[Any, ...]] = field(default_factory=list)
    epochs: dict[int, int] = field(default_factory=dict)
    last: dict[int, Decision] = field(default_factory=dict)
    configs: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    spent: int = 0


def drive(
    scheduler: Scheduler, budget: int, *, workers: int = 2, fail: tuple[int, int] | None = None
) -> Study:
    """Round-robin ``workers`` one epoch at a time until ``budget`` trial-epochs are spent.

    ``fail=(trial_id, epoch)``: that trial errors instead of reporting that epoch.
    """
    study = Study()
    running: list[tuple[int, dict[str, Any]] | None] = [None] * workers
    while study.spent < budget:
        for worker in range(workers):
            if study.spent >= budget:
                break
            if running[worker] is None:
                suggestion = scheduler.suggest()
                if suggestion is None:
                    continue
                trial_id = suggestion.trial_id
                if suggestion.resume:
                    assert study.last[trial_id] is Decision.PAUSE, "resumed a trial not paused"
                    study.resumes += 1
                else:
                    assert trial_id == len(study.epochs), "new trial ids must be consecutive"
                    study.epochs[trial_id] = 0
                    study.configs.append(suggestion.config)
                assert suggestion.config == study.configs[trial_id]
                study.log.append(("suggest", trial_id, suggestion.resume, suggestion.config))
                running[worker] = (trial_id, suggestion.config)
            trial_id, config = running[worker]
            epoch = study.epochs[trial_id] + 1
            study.spent += 1
            if fail == (trial_id, epoch):
                scheduler.on_error(trial_id)
                study.last[trial_id] = Decision.STOP
                study.log.append(("error", trial_id, epoch))
                running[worker] = None
                continue
            decision = scheduler.on_result(trial_id, epoch, accuracy(config, epoch))
            study.epochs[trial_id] = epoch
            study.last[trial_id] = decision
            study.log.append(("result", trial_id, epoch, decision))
            if epoch == scheduler.max_resource:
                scheduler.on_complete(trial_id)
                running[worker] = None
            elif decision is not Decision.CONTINUE:
                running[worker] = None
    return study


def run(name: str, seed: int = 0, **overrides: Any) -> tuple[Scheduler, Study]:
    settings = {**SETTINGS[name], **overrides}
    budget = settings.pop("budget")
    fail = settings.pop("fail", None)
    scheduler = make_scheduler(name, SPACE, metric="acc", mode="max", seed=seed, **settings)
    return scheduler, drive(scheduler, budget, fail=fail)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_study_runs_to_budget(name: str) -> None:
    scheduler, study = run(name)
    max_resource = scheduler.max_resource
    assert study.spent == SETTINGS[name]["budget"]
    assert scheduler.metric == "acc"
    assert scheduler.mode == "max"
    for config in study.configs:
        assert set(config) == set(SPACE)
        assert 1e-3 <= config["lr"] <= 1.0
        assert 0.0 <= config["momentum"] <= 0.99
        assert config["width"] == 16
    assert max_resource in study.epochs.values()
    stopped_early = [
        e
        for kind, _, e, *rest in study.log
        if kind == "result" and e < max_resource and rest[0] is Decision.STOP
    ]
    paused = [
        e for kind, _, e, *rest in study.log if kind == "result" and rest[0] is Decision.PAUSE
    ]
    if name in PAUSE_RESUME:
        assert study.resumes >= 1
        assert paused
    else:
        assert study.resumes == 0
        assert stopped_early
        assert not paused


@pytest.mark.parametrize("name", SCHEDULERS)
def test_same_seed_repeats_and_seeds_differ(name: str) -> None:
    overrides = {"budget": 16} if name == "dyhpo" else {}
    _, first = run(name, seed=3, **overrides)
    _, again = run(name, seed=3, **overrides)
    _, other = run(name, seed=4, **overrides)
    assert first.log == again.log
    assert first.configs[0] != other.configs[0]


def test_points_to_evaluate_come_first() -> None:
    point = {"lr": 0.1, "momentum": 0.5}
    scheduler = make_scheduler(
        "asha-stopping",
        SPACE,
        metric="acc",
        mode="max",
        max_resource=8,
        points_to_evaluate=[point],
    )
    first = scheduler.suggest()
    assert first is not None
    assert first.config == {**point, "width": 16}
    assert first.trial_id == 0
    assert not first.resume


@pytest.mark.parametrize("name", SCHEDULERS)
def test_failed_trial_is_never_resumed(name: str) -> None:
    overrides = {"budget": 16} if name == "dyhpo" else {"budget": 60}
    _, study = run(name, fail=(1, 1), **overrides)
    assert ("error", 1, 1) in study.log
    assert study.spent == overrides["budget"]
    after = study.log[study.log.index(("error", 1, 1)) + 1 :]
    assert all(event[1] != 1 for event in after)


def test_min_mode_runs() -> None:
    scheduler = make_scheduler("asha-promotion", SPACE, metric="loss", mode="min", max_resource=8)
    study = drive(scheduler, 40)
    assert study.spent == 40
    assert study.resumes >= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "bohb"}, r"Unknown scheduler name 'bohb'.*asha-stopping.*hyperband"),
        ({"mode": "maximize"}, "mode"),
        ({"max_resource": 0}, "max_resource"),
        ({"grace_period": 0}, "grace_period"),
        ({"grace_period": 10}, "grace_period"),
        ({"grace_period": 9}, "grace_period"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"name": "pasha", "max_resource": 9}, r"max_resource 9 .*\[1, 3\].*three"),
        ({"name": "pasha", "max_resource": 4, "reduction_factor": 2}, r"max_resource >= 5"),
        ({"config_space": {**SPACE, "epochs": 3}}, "config_space.*'epochs'"),
        ({"metric": "epoch"}, "metric"),
    ],
)
def test_invalid_settings_name_their_field(kwargs: dict[str, Any], match: str) -> None:
    arguments = {
        "name": "asha-promotion",
        "config_space": SPACE,
        "metric": "acc",
        "mode": "max",
        "max_resource": 9,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        make_scheduler(arguments.pop("name"), arguments.pop("config_space"), **arguments)


def test_pasha_with_three_rungs_is_accepted() -> None:
    scheduler = make_scheduler("pasha", SPACE, metric="acc", mode="max", max_resource=10)
    first = scheduler.suggest()
    assert first is not None and (first.trial_id, first.resume) == (0, False)
    assert set(first.config) == set(SPACE) and first.config["width"] == 16
    assert 1e-3 <= first.config["lr"] <= 1.0 and 0.0 <= first.config["momentum"] <= 0.99
    assert scheduler.suggest().trial_id == 1  # a second new trial, not a resumed one


def test_the_tuner_deprecation_notice_is_silenced(caplog) -> None:
    import logging

    make_scheduler(
        "asha-stopping",
        {"x": uniform(0.0, 1.0)},
        metric="loss",
        mode="min",
        max_resource=3,
    )
    logger = logging.getLogger("syne_tune.tuner")
    with caplog.at_level(logging.INFO, logger="syne_tune.tuner"):
        logger.warning("Scheduler ASHA is deprecated and will be removed in the next release!")
        logger.warning("another warning")
    assert [r.getMessage() for r in caplog.records] == ["another warning"]
