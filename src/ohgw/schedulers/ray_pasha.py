"""syne-tune's PASHA as a Ray Tune ``TrialScheduler``: Ray runs the trials, PASHA decides.

:class:`RayPASHA` drives the PASHA of :func:`ohgw.schedulers.synetune.make_scheduler` (syne-tune
0.14.2's ``legacy_baselines.PASHA``, its decision logic untouched) through the same adapter the
simulated clock uses, so PASHA sees exactly the calls syne-tune's own ``Tuner`` makes:

* ``suggest`` whenever a worker is free: a new trial, or a paused trial to promote (resume);
* ``on_trial_add`` for each new trial (inside the adapter's ``suggest``, as ``Tuner`` does);
* ``on_trial_result`` for each reported epoch -> CONTINUE, PAUSE or STOP, followed by
  ``on_trial_remove`` on PAUSE and STOP;
* ``on_trial_complete`` for a trial that ends while PASHA let it continue, ``on_trial_error``
  for a failed one.

Ray's side: :meth:`RayPASHA.on_trial_result` returns PASHA's decision; PAUSE makes Ray save the
trial's checkpoint and free its worker. PASHA's promotions come back through
:meth:`RayPASHA.choose_trial_to_run`, which hands Ray the paused trial to resume.

New trials. Ray's controller starts every PENDING trial it has resources for, whatever the
scheduler says, and a ``ConcurrencyLimiter`` counts paused trials as running (with
``max_concurrent_trials`` PASHA would stall once all trials sit paused at a rung). So the
scheduler limits the trials at work to ``workers`` itself and owns the decision "new trial or
promotion": the search algorithm must create a trial only when :meth:`reserve_new_trial` gives
it a trial id, and put that id into the trial's config under ``trial_key``
(``ohgw.study.ray_backend.PairedSearcher`` does).

Configurations. The trial runs the configuration Ray's search algorithm hands it, not the one
PASHA's random searcher drew: we sample trial k of seed s from the benchmark's space with a seed
derived from (s, k), as for Ray's own ASHA and Hyperband, so trial k gets the same configuration
in every variant and under every Ray scheduler, however many promotions PASHA's ``suggest``
interleaves. PASHA's decisions use only the metric and the epoch, so the configuration its
searcher keeps for its own records changes none of them (its searcher is plain random search).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers.trial_scheduler import TrialScheduler

from ohgw.schedulers.base import Decision
from ohgw.schedulers.synetune import RESOURCE_ATTR
from ohgw.schedulers.synetune import make_scheduler

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

TRIAL_KEY = "ohgw_trial"
"""Config key of a Ray trial's id in PASHA (our trial id: 0, 1, 2, ... in order of creation)."""

_RAY_DECISIONS = {
    Decision.CONTINUE: TrialScheduler.CONTINUE,
    Decision.PAUSE: TrialScheduler.PAUSE,
    Decision.STOP: TrialScheduler.STOP,
}


class RayPASHA(TrialScheduler):
    """Ray Tune scheduler whose decisions are syne-tune's PASHA's.

    Args:
        config_space: the syne-tune config space PASHA samples (``SearchSpace.to_syne_tune()``).
        metric: the reported metric (a key of each result); ``mode``: ``"max"`` or ``"min"``.
        max_t: epochs of a full trial; each result carries its epoch under ``"epoch"``
            (:data:`ohgw.schedulers.synetune.RESOURCE_ATTR`).
        grace_period, reduction_factor: PASHA's rungs (it needs three below ``max_t``).
        seed: syne-tune's ``random_seed``.
        workers: trials at work at once (running, starting or being resumed).
        trial_key: the config key holding the trial id :meth:`reserve_new_trial` gave out.
        max_trials: once this many trials have started, PASHA is asked for nothing more, and
            the experiment ends when none of them is at work (paused ones stay paused).

    ``events`` logs what the scheduler did, in order: ``("start", k)`` when PASHA asked for a
    new trial k, ``("resume", k)`` when it promoted trial k, ``("result", k, epoch, decision)``.
    """

    def __init__(
        self,
        config_space: dict[str, Any],
        *,
        metric: str,
        mode: str,
        max_t: int,
        grace_period: int = 1,
        reduction_factor: int = 3,
        seed: int = 0,
        workers: int = 1,
        trial_key: str = TRIAL_KEY,
        max_trials: int | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"The value of `workers` is {workers!r}, but must be an int >= 1.")
        super().__init__()
        self._pasha = make_scheduler(
            "pasha",
            config_space,
            metric=metric,
            mode=mode,
            max_resource=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            seed=seed,
        )
        self._metric, self._mode = metric, mode
        self.workers = workers
        self.trial_key = trial_key
        self.max_trials = max_trials
        self._started = 0  # new trials PASHA asked for
        self.events: list[tuple[Any, ...]] = []
        self._busy: set[int] = set()  # trial ids holding a worker (or about to)
        self._new: int | None = None  # a new trial PASHA asked for, not yet handed out
        self._handed: set[int] = set()  # handed out, not yet added to Ray
        self._resume: list[int] = []  # promoted trials, until they report again
        self._trials: dict[int, Trial] = {}
        self._ids: dict[str, int] = {}  # Ray's trial id -> ours
        self._last: dict[int, tuple[int, str]] = {}  # last forwarded (epoch, Ray decision)

    # -- What to run -------------------------------------------------------------------------

    def _poll(self) -> None:
        """Ask PASHA for work while a worker is free (``Tuner._schedule_new_tasks``)."""
        while len(self._busy) < self.workers and self._new is None and not self._exhausted:
            suggestion = self._pasha.suggest()
            if suggestion is None:
                return
            self._busy.add(suggestion.trial_id)
            if suggestion.resume:
                self._resume.append(suggestion.trial_id)
                self.events.append(("resume", suggestion.trial_id))
            else:
                self._new = suggestion.trial_id
                self._started += 1
                self.events.append(("start", suggestion.trial_id))

    @property
    def _exhausted(self) -> bool:
        return self.max_trials is not None and self._started >= self.max_trials

    def reserve_new_trial(self) -> int | None:
        """The id of a new trial PASHA wants started now (the search algorithm creates it with
        this id under ``trial_key``), or None: no new trial now."""
        self._poll()
        trial_id, self._new = self._new, None
        if trial_id is not None:
            self._handed.add(trial_id)
        return trial_id

    def choose_trial_to_run(self, tune_controller: TuneController) -> Trial | None:
        """A paused trial PASHA promoted (idempotent: the same one until Ray resumes it)."""
        self._poll()
        for trial_id in self._resume:
            trial = self._trials[trial_id]
            if trial.status in (Trial.PAUSED, Trial.PENDING):  # not while it is still saving
                return trial
        if self._exhausted and not self._busy and not self._handed and self._new is None:
            tune_controller.request_stop_experiment()  # the paused trials would wait forever
        return None

    # -- Ray's notifications -----------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Accept Tune's ``metric``/``mode`` only where they agree with PASHA's."""
        return metric in (None, self._metric) and mode in (None, self._mode)

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        trial_id = trial.config.get(self.trial_key)
        if trial_id not in self._handed:
            raise ValueError(
                f"Ray trial {trial.trial_id} has {self.trial_key}={trial_id!r}, but RayPASHA "
                "did not ask for that trial: the search algorithm must create trials only with "
                "ids from RayPASHA.reserve_new_trial()."
            )
        self._handed.discard(trial_id)
        self._trials[trial_id] = trial
        self._ids[trial.trial_id] = trial_id

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        trial_id = self._ids[trial.trial_id]
        if trial_id in self._resume:
            self._resume.remove(trial_id)
        epoch = int(result[RESOURCE_ATTR])
        last_epoch, last_decision = self._last.get(trial_id, (0, TrialScheduler.CONTINUE))
        if epoch <= last_epoch:  # Ray repeats the last result when the function returns
            return last_decision
        decision = _RAY_DECISIONS[self._pasha.on_result(trial_id, epoch, result[self._metric])]
        self._last[trial_id] = (epoch, decision)
        if decision != TrialScheduler.CONTINUE:
            self._busy.discard(trial_id)
        self.events.append(("result", trial_id, epoch, decision))
        return decision

    def on_trial_complete(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> None:
        """The trial ended: PASHA hears of it only if it had let it continue (as in ``Tuner``)."""
        trial_id = self._ids[trial.trial_id]
        # Nothing to say about a trial stopped before its first report since it (re)started.
        if trial_id in self._last and trial_id not in self._resume:
            self._pasha.on_complete(trial_id)
        self._release(trial_id)

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        trial_id = self._ids[trial.trial_id]
        self._pasha.on_error(trial_id)
        self._release(trial_id)

    def on_trial_remove(self, tune_controller: TuneController, trial: Trial) -> None:
        """A paused or pending trial was stopped from outside (e.g. the time budget ran out)."""
        self._release(self._ids[trial.trial_id])

    def _release(self, trial_id: int) -> None:
        self._busy.discard(trial_id)
        if trial_id in self._resume:
            self._resume.remove(trial_id)

    def debug_string(self) -> str:
        return (
            f"RayPASHA (syne-tune PASHA): {len(self._busy)}/{self.workers} workers busy, "
            f"{len(self._trials)} trials, {len(self._resume)} to resume."
        )

    def save(self, checkpoint_path: str) -> None:
        raise NotImplementedError("RayPASHA cannot be checkpointed: restart the (variant, seed).")

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("RayPASHA cannot be restored: restart the (variant, seed).")
