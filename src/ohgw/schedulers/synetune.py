"""syne-tune 0.14.2's legacy multi-fidelity schedulers behind our :class:`Scheduler` interface.

We drive the public ASHA, PASHA, DyHPO and synchronous Hyperband implementations directly
through their scheduler API (``suggest``, ``on_trial_add``, ``on_trial_result``,
``on_trial_remove``, ``on_trial_complete``, ``on_trial_error``), calling them exactly as
syne-tune's ``Tuner`` does, but from our own simulated-clock loop instead of a trial backend.
Their decision logic is used unmodified.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from syne_tune.backend.trial_status import Trial
from syne_tune.optimizer.legacy_baselines import ASHA
from syne_tune.optimizer.legacy_baselines import PASHA
from syne_tune.optimizer.legacy_baselines import DyHPO
from syne_tune.optimizer.legacy_baselines import SyncHyperband
from syne_tune.optimizer.scheduler import SchedulerDecision

from ohgw.schedulers.base import Decision
from ohgw.schedulers.base import Scheduler
from ohgw.schedulers.base import Suggestion

SCHEDULERS = ("asha-stopping", "asha-promotion", "pasha", "dyhpo", "hyperband")

RESOURCE_ATTR = "epoch"
"""Key of the resource (epochs trained so far) in the results we report to syne-tune."""
MAX_RESOURCE_ATTR = "epochs"
"""Constant we add to the config space: syne-tune reads ``max_resource`` from it and, for
pause/resume schedulers, overwrites it in a suggested config with the next milestone."""

_DECISIONS = {
    SchedulerDecision.CONTINUE: Decision.CONTINUE,
    SchedulerDecision.PAUSE: Decision.PAUSE,
    SchedulerDecision.STOP: Decision.STOP,
}


class SyneTuneScheduler(Scheduler):
    """Adapts a syne-tune legacy scheduler (its ``suggest(trial_id)`` API) to :class:`Scheduler`.

    Our trial ids are syne-tune's: like its trial backends, we number new trials 0, 1, 2, ...
    and pass the next free id to ``suggest``. A resume suggestion
    (``spawn_new_trial_id=False``) becomes ``Suggestion(resume=True)`` for
    ``checkpoint_trial_id``.
    """

    def __init__(
        self, scheduler: Any, space_keys: list[str], *, metric: str, mode: str, max_resource: int
    ) -> None:
        self.scheduler = scheduler
        self.metric = metric
        self.mode = mode
        self.max_resource = max_resource
        self._space_keys = space_keys
        self._trials: dict[int, Trial] = {}
        self._configs: dict[int, dict[str, Any]] = {}
        self._last: dict[int, tuple[dict[str, Any], Decision]] = {}

    def suggest(self) -> Suggestion | None:
        """Ask syne-tune for a new trial or a paused one to resume (as ``Tuner`` does)."""
        new_id = len(self._trials)
        suggestion = self.scheduler.suggest(new_id)
        if suggestion is None:
            return None
        if not suggestion.spawn_new_trial_id:
            trial_id = suggestion.checkpoint_trial_id
            trial = self._trials[trial_id]
            if suggestion.config is not None:  # e.g. a new milestone in MAX_RESOURCE_ATTR
                trial.config = dict(suggestion.config)
            self._last.pop(trial_id, None)
            return Suggestion(trial_id, dict(self._configs[trial_id]), resume=True)
        if suggestion.checkpoint_trial_id is not None:
            raise RuntimeError(
                "warm-starting a new trial from another's checkpoint is unsupported"
            )
        trial = Trial(
            trial_id=new_id, config=dict(suggestion.config), creation_time=datetime.now()
        )
        self._trials[new_id] = trial
        self._configs[new_id] = {key: suggestion.config[key] for key in self._space_keys}
        self.scheduler.on_trial_add(trial=trial)
        return Suggestion(new_id, dict(self._configs[new_id]), resume=False)

    def on_result(self, trial_id: int, resource: int, value: float) -> Decision:
        """Report one epoch; on PAUSE or STOP we also remove the trial (as ``Tuner`` does)."""
        trial = self._trials[trial_id]
        result = {self.metric: float(value), RESOURCE_ATTR: int(resource)}
        decision = _DECISIONS[self.scheduler.on_trial_result(trial=trial, result=result)]
        if decision is not Decision.CONTINUE:
            self.scheduler.on_trial_remove(trial=trial)
        self._last[trial_id] = (result, decision)
        return decision

    def on_complete(self, trial_id: int) -> None:
        """Tell syne-tune the trial finished, unless it was already stopped or paused.

        ``Tuner`` calls ``on_trial_complete`` only for a trial whose last decision was CONTINUE;
        syne-tune's schedulers answer STOP (ASHA, PASHA) or PAUSE (synchronous Hyperband)
        at ``max_resource`` and must not hear about the trial again.
        """
        if trial_id not in self._last:
            raise RuntimeError(f"trial {trial_id} completed without reporting a result")
        result, decision = self._last[trial_id]
        if decision is Decision.CONTINUE:
            self.scheduler.on_trial_complete(trial=self._trials[trial_id], result=result)

    def on_error(self, trial_id: int) -> None:
        """The trial failed: syne-tune drops it (synchronous Hyperband ranks it last, as NaN)."""
        self.scheduler.on_trial_error(trial=self._trials[trial_id])
        self._last[trial_id] = ({}, Decision.STOP)


class _LegacyNotice(logging.Filter):
    """Drops syne-tune 0.14.2's "Scheduler ASHA is deprecated ..." warning, which ``Tuner``
    logs for every trial it starts with a ``legacy_baselines`` scheduler (the ones we use)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is deprecated and will be removed" not in record.getMessage()


_NOTICE = _LegacyNotice()


def quiet_legacy_notice() -> None:
    """Silence ``Tuner``'s per-trial deprecation warning about legacy schedulers (idempotent)."""
    logger = logging.getLogger("syne_tune.tuner")
    if _NOTICE not in logger.filters:
        logger.addFilter(_NOTICE)


def rung_levels(max_resource: int, grace_period: int, reduction_factor: int) -> list[int]:
    """syne-tune's geometric rung levels: ``grace_period * reduction_factor**k < max_resource``.

    ``max_resource`` itself is not a rung (syne-tune's ``successive_halving_rung_levels``).
    """
    levels = [grace_period]
    while levels[-1] * reduction_factor < max_resource:
        levels.append(levels[-1] * reduction_factor)
    return levels


def make_scheduler(
    name: str,
    config_space: dict[str, Any],
    *,
    metric: str,
    mode: str,
    max_resource: int,
    grace_period: int = 1,
    reduction_factor: int = 3,
    seed: int = 0,
    points_to_evaluate: list[dict[str, Any]] | None = None,
) -> Scheduler:
    """A syne-tune scheduler ``name`` (one of :data:`SCHEDULERS`) over ``config_space``.

    Args:
        name: ``asha-stopping``, ``asha-promotion`` (pause/resume), ``pasha``, ``dyhpo`` or
            ``hyperband`` (synchronous Hyperband, all brackets).
        config_space: a syne-tune config space (``syne_tune.config_space`` domains, constants).
        metric: name of the metric; ``mode``: ``"max"`` or ``"min"``.
        max_resource: epochs of a full trial.
        grace_period: the lowest rung (epochs). For DyHPO it is also the rung spacing
            (``rung_increment``), the linear spacing DyHPO is meant to run with;
            ``reduction_factor`` does not apply to DyHPO.
        reduction_factor: the geometric spacing of the rungs (ASHA, PASHA, Hyperband).
        seed: syne-tune's ``random_seed``: the same seed repeats the same study.
        points_to_evaluate: configs to try first. None means none (``[]``): syne-tune would
            otherwise start every seed at the midpoint of the space.
    """
    _validate(name, config_space, metric, mode, max_resource, grace_period, reduction_factor)
    quiet_legacy_notice()  # a real-clock study hands this scheduler to syne-tune's Tuner
    space = {**config_space, MAX_RESOURCE_ATTR: max_resource}
    common: dict[str, Any] = {
        "metric": metric,
        "mode": mode,
        "resource_attr": RESOURCE_ATTR,
        "max_resource_attr": MAX_RESOURCE_ATTR,
        "grace_period": grace_period,
        "random_seed": seed,
        "points_to_evaluate": [] if points_to_evaluate is None else list(points_to_evaluate),
    }
    if name == "dyhpo":
        scheduler = DyHPO(space, rung_increment=grace_period, **common)
    else:
        common["reduction_factor"] = reduction_factor
        if name == "asha-stopping":
            scheduler = ASHA(space, type="stopping", **common)
        elif name == "asha-promotion":
            scheduler = ASHA(space, type="promotion", **common)
        elif name == "pasha":
            scheduler = PASHA(space, **common)
        else:
            scheduler = SyncHyperband(space, **common)
    return SyneTuneScheduler(
        scheduler, list(config_space), metric=metric, mode=mode, max_resource=max_resource
    )


def _validate(
    name: str,
    config_space: dict[str, Any],
    metric: str,
    mode: str,
    max_resource: int,
    grace_period: int,
    reduction_factor: int,
) -> None:
    """Raise ValueError, naming the field, before syne-tune's own asserts would fire."""
    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler name {name!r}; known: {', '.join(SCHEDULERS)}.")
    if mode not in ("max", "min"):
        raise ValueError(f"mode is {mode!r}, but must be 'max' or 'min'.")
    for key in (RESOURCE_ATTR, MAX_RESOURCE_ATTR):
        if key in config_space:
            raise ValueError(f"config_space has the key {key!r}, which the adapter reserves.")
    if metric in (RESOURCE_ATTR, MAX_RESOURCE_ATTR):
        raise ValueError(f"metric is {metric!r}, a name the adapter reserves.")
    if max_resource < 1:
        raise ValueError(f"max_resource is {max_resource}, but must be at least 1.")
    if not 1 <= grace_period < max_resource:
        raise ValueError(
            f"grace_period is {grace_period}, but must be at least 1 and below "
            f"max_resource ({max_resource}): syne-tune needs at least one rung below it."
        )
    if reduction_factor < 2:
        raise ValueError(f"reduction_factor is {reduction_factor}, but must be at least 2.")
    # PASHA starts with its resource cap at the lowest rung and raises it only by comparing
    # rankings at its two top rungs: with fewer than three rungs below max_resource it never
    # promotes a trial at all (measured with syne-tune 0.14.2).
    levels = rung_levels(max_resource, grace_period, reduction_factor)
    if name == "pasha" and len(levels) < 3:
        raise ValueError(
            f"max_resource {max_resource} gives PASHA the rung levels {levels} below it "
            f"(grace_period={grace_period}, reduction_factor={reduction_factor}), but PASHA "
            "never promotes with fewer than three; use max_resource >= "
            f"{grace_period * reduction_factor**2 + 1}."
        )
