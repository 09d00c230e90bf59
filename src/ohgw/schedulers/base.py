"""The engine-agnostic scheduler interface our simulated-clock study loop drives.

The loop asks :meth:`Scheduler.suggest` for work, trains the suggested trial epoch by epoch,
reports each epoch with :meth:`Scheduler.on_result` and obeys the returned :class:`Decision`.
Adapters (syne-tune now; Ray Tune and Optuna later) translate this to their engine's API.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class Suggestion:
    """What to run next.

    Args:
        trial_id: our trial id; new trials get consecutive ids 0, 1, 2, ...
        config: the config to train (for a resumed trial: its original config).
        resume: True to continue the paused trial ``trial_id`` from its checkpoint (its last
            reported epoch); False to start a new trial from scratch.
    """

    trial_id: int
    config: dict[str, Any]
    resume: bool


class Decision(str, Enum):
    """What a trial does after reporting a result."""

    CONTINUE = "continue"  # train the next epoch
    PAUSE = "pause"  # keep the checkpoint: the scheduler may resume it later
    STOP = "stop"  # finished for good: never resumed


class Scheduler(ABC):
    """Suggests configs and decides, epoch by epoch, which trials continue.

    Attributes:
        metric: name of the reported metric.
        mode: ``"max"`` or ``"min"``: whether larger or smaller values of ``metric`` are better.
        max_resource: the largest number of epochs a trial may train.
    """

    metric: str
    mode: str
    max_resource: int

    @abstractmethod
    def suggest(self) -> Suggestion | None:
        """The next trial to start or resume; None if there is nothing to run now."""

    @abstractmethod
    def on_result(self, trial_id: int, resource: int, value: float) -> Decision:
        """Report ``value`` of the metric for ``trial_id`` after ``resource`` epochs."""

    @abstractmethod
    def on_complete(self, trial_id: int) -> None:
        """``trial_id`` has trained for ``max_resource`` epochs."""

    @abstractmethod
    def on_error(self, trial_id: int) -> None:
        """``trial_id`` failed (diverged, crashed): it will report nothing more."""
