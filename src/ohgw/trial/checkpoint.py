"""A trial's checkpoint: what it holds, written whole, and read without running any code.

``checkpoint.pt`` holds tensors and plain data only (dicts, lists, tuples, numbers, strings,
booleans, None): the model's and the optimizer's state, the data stream's position, the RNG
states, and the trial's settings, counters and reports. It is read with
``torch.load(weights_only=True)``, whose unpickler builds nothing else, so a file dropped into a
study's ``checkpoints/`` cannot run code. Checkpoints of older versions held the same (they load
unchanged); numpy scalars a benchmark may report are saved as Python numbers (:func:`plain`).

Beside it, ``checkpoint.json`` says how many units the checkpoint holds (written after it, both
whole). A checkpoint that cannot be read safely (damaged, cut short, or holding anything else)
raises :class:`DamagedCheckpoint` with that count, and the trial runner replays the trial from
its start to that unit (a trial is a function of its spec: the same rows) with a warning; without
the count it is a :class:`CheckpointError` naming the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from typing import Protocol

import numpy as np
import torch

from ohgw.benchmarks.base import Benchmark
from ohgw.store.files import write_whole


class TrialSpec(Protocol):
    """What a checkpoint needs of a trial's spec (``ohgw.trial.TrialSpec`` has it): this module
    sits below the trial loop and imports nothing of it."""

    checkpoint_dir: str | None
    device: str
    seed: int

    def identity(self) -> dict[str, Any]: ...


CHECKPOINT_FILE = "checkpoint.pt"
PROGRESS_FILE = "checkpoint.json"
"""Beside the checkpoint: ``{"units": k}``, the units it holds (to replay a damaged one)."""
# Trial state that a checkpoint carries besides the model, optimizer, data position and RNG.
CARRIED = (
    "config",
    "warm_record",
    "compute_seconds",
    "train_steps",
    "flops_per_step",
    "eval_units",
    "eval_flops_per_unit",
    "reports",
)


class CheckpointError(ValueError):
    """A checkpoint cannot be used and the trial cannot be replayed; the message names the file
    and the fix (a ``ValueError``: ``ohgw study`` says it in one paragraph and exits 2)."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was set aside and its trial replayed from the start."""


class DamagedCheckpoint(Exception):
    """``path`` cannot be read safely (``reason``); ``units``: how many units it held, if known."""

    def __init__(self, path: Path, reason: str, units: int | None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.units = path, reason, units

    def error(self) -> CheckpointError:
        """The error to stop with when the trial cannot be replayed."""
        return CheckpointError(
            f"The trial checkpoint {self.path} cannot be read safely ({self.reason}), and "
            f"without {self.path.with_name(PROGRESS_FILE).name} beside it the trial cannot be "
            f"replayed to where it paused. Remove the folder {self.path.parent} (the trial "
            "then starts over) or the study directory's checkpoints/ folder, and run the "
            "command again."
        )


def checkpoint_path(spec: TrialSpec) -> Path | None:
    """Where ``spec``'s checkpoint lives (None: the spec keeps none)."""
    return None if spec.checkpoint_dir is None else Path(spec.checkpoint_dir) / CHECKPOINT_FILE


def save_checkpoint(spec: TrialSpec, state: dict[str, Any]) -> None:
    """Write the trial's state after a unit: tensors and plain data, then the unit count."""
    path = checkpoint_path(spec)
    if path is None:
        return
    payload = {
        "spec": plain(spec.identity()),
        "model": state["model"].state_dict(),
        "optimizer": state["optimizer"].state_dict(),
        "stream": plain(state["stream"].state()),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        **{key: plain(state[key]) for key in CARRIED},
    }
    # Whole (a crash leaves the previous checkpoint), and its folder made again if the pair
    # loop of another shard removes it as empty before the file is in it.
    write_whole(path, lambda file: torch.save(payload, file), make_folder=True)
    progress = json.dumps({"units": len(state["reports"])}).encode()
    write_whole(path.with_name(PROGRESS_FILE), progress, make_folder=True)


def plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_checkpoint(spec: TrialSpec) -> dict[str, Any] | None:
    """The payload of ``spec``'s checkpoint (None: there is none), read without running code;
    :class:`DamagedCheckpoint` when it cannot be read safely."""
    path = checkpoint_path(spec)
    if path is None or not path.exists():
        return None
    try:
        payload = torch.load(path, map_location=spec.device, weights_only=True)
    except Exception as error:  # UnpicklingError (refused), RuntimeError (cut short), ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DamagedCheckpoint(path, f"{type(error).__name__}: {first}", _units(path)) from None
    if not isinstance(payload, dict) or not {"spec", "model", "optimizer"} <= set(payload):
        raise DamagedCheckpoint(path, "not a trial checkpoint", _units(path))
    return payload


def _units(path: Path) -> int | None:
    """The unit count recorded beside a checkpoint (None: none, or unreadable)."""
    try:
        units = json.loads(path.with_name(PROGRESS_FILE).read_text(encoding="utf-8"))["units"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return units if isinstance(units, int) and not isinstance(units, bool) and units >= 0 else None


def load_checkpoint(spec: TrialSpec, benchmark: Benchmark) -> dict[str, Any] | None:
    """The trial's state from its checkpoint (model, optimizer, stream, counters, reports), the
    RNG set as it was; None where there is none. A checkpoint of another trial is a
    ``ValueError``; one that cannot be read or restored, :class:`DamagedCheckpoint`."""
    payload = read_checkpoint(spec)
    if payload is None:
        return None
    path = checkpoint_path(spec)
    assert path is not None
    if payload["spec"] != spec.identity():
        raise ValueError(
            f"The checkpoint in {path.parent} belongs to another trial: {payload['spec']} "
            f"differs from this spec {spec.identity()}."
        )
    try:
        model = benchmark.build_model()
        model.load_state_dict(payload["model"])
        optimizer = benchmark.optimizer.build(model.parameters(), payload["config"])
        optimizer.load_state_dict(payload["optimizer"])
        stream = benchmark.train_stream(spec.seed)
        stream.restore(payload["stream"])
        carried = {key: payload[key] for key in CARRIED}
        rng_cpu, rng_cuda = payload["rng_cpu"].cpu(), payload["rng_cuda"]
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise DamagedCheckpoint(path, f"{type(error).__name__}: {error}", _units(path)) from None
    # map_location moved the RNG states too; torch takes them back only as CPU byte tensors
    torch.set_rng_state(rng_cpu)
    if rng_cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in rng_cuda])
    return {"model": model, "optimizer": optimizer, "stream": stream, **carried}
