"""A trial: theta_0 from the seed, the warm start, then one resource unit at a time, a report
after each unit and a checkpoint to resume from.

- :mod:`ohgw.trial.settings`: ``WarmStartSettings`` and ``TrialSpec``, what defines a trial;
- :mod:`ohgw.trial.loop`: the unit loop (``run_trial``) and its parts, which the packed trainer
  reuses (``open_state``, ``start_state``, ``evaluate_unit``, ``unit_report``);
- :mod:`ohgw.trial.checkpoint`: a trial's checkpoint, written whole and read safely;
- :mod:`ohgw.trial.cli`: ``ohgw trial SPEC.json``, a trial as a process.
"""

from ohgw.trial.checkpoint import CHECKPOINT_FILE
from ohgw.trial.checkpoint import CheckpointError
from ohgw.trial.checkpoint import CheckpointWarning
from ohgw.trial.checkpoint import load_checkpoint
from ohgw.trial.checkpoint import save_checkpoint
from ohgw.trial.loop import evaluate_unit
from ohgw.trial.loop import open_state
from ohgw.trial.loop import run_trial
from ohgw.trial.loop import start_state
from ohgw.trial.loop import unit_report
from ohgw.trial.settings import TrialSpec
from ohgw.trial.settings import WarmStartSettings

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "CheckpointWarning",
    "TrialSpec",
    "WarmStartSettings",
    "evaluate_unit",
    "load_checkpoint",
    "open_state",
    "run_trial",
    "save_checkpoint",
    "start_state",
    "unit_report",
]
