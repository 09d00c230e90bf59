"""Opening the trials of a pack: resumed from their checkpoints, or started with their warm start.

The warm start runs per trial, through ``ohgw.trial``'s own start (theta_0 from the seed, then
``warm_start``), not as one vectorised hyper-gradient call. The reason: the lookahead
differentiates through a training step with ``torch.autograd.grad(create_graph=True)`` and draws
its augmentation from torch's global RNG reseeded per trial (``fork_rng``); ``vmap`` batches
neither (it needs ``torch.func.grad`` and per-trial random draws fed in from outside), so a
vectorised warm start would be a second implementation of the hyper-gradient, with its own FD
checks. A warm start costs about three training steps once per trial, against the hundreds of
steps a trial trains, so the per-trial call keeps the packed warm start *equal* to
``warm_start`` (it is the same call) at a small share of a study's time.

Each opened trial carries its own random state: the generator its augmentation draws from
(torch's global RNG when it runs unpacked) and the CPU RNG state its checkpoint records. The
caller's global RNG is left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ohgw.benchmarks.base import Benchmark
from ohgw.trial import TrialSpec
from ohgw.trial import open_state


@dataclass
class OpenTrial:
    """One trial between units: ``ohgw.trial``'s state dict plus its own random state."""

    spec: TrialSpec
    state: dict[str, Any]  # model, optimizer, stream, config, warm_record, counters, reports
    generator: torch.Generator  # the augmentation draws (torch's global RNG when unpacked)
    cpu_rng: torch.Tensor  # the global CPU RNG state the checkpoint records

    @property
    def level(self) -> int:
        return len(self.state["reports"])

    @property
    def diverged(self) -> bool:
        reports = self.state["reports"]
        return bool(reports) and reports[-1]["status"] == "diverged"

    @property
    def wants_unit(self) -> bool:
        return self.level < self.spec.max_resource and not self.diverged

    def rng_states(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(CPU state, device state or None): what ``torch`` would hold unpacked now."""
        if self.generator.device.type == "cpu":
            return self.generator.get_state(), None
        return self.cpu_rng, self.generator.get_state()


def rng_fork(device: torch.device):
    """A ``fork_rng`` that also covers ``device`` when it is a CUDA device."""
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices, device_type="cuda")


def open_trials(specs: Sequence[TrialSpec], benchmark: Benchmark) -> list[OpenTrial]:
    """Each spec's trial: from its checkpoint if it has one, else started and warm-started."""
    return [open_trial(spec, benchmark) for spec in specs]


def open_trial(spec: TrialSpec, benchmark: Benchmark) -> OpenTrial:
    """One trial, exactly as ``ohgw.trial.run_trial`` opens it, without touching the caller's
    RNG."""
    benchmark.space.validate(spec.config)
    device = benchmark.device
    with rng_fork(device):
        state, _ = open_state(spec, benchmark)  # a damaged checkpoint: replayed from the start
        cpu_rng = torch.get_rng_state()
        generator = torch.Generator(device=device)
        if device.type == "cpu":
            generator.set_state(cpu_rng)
        else:
            generator.set_state(torch.cuda.get_rng_state(device))
    return OpenTrial(spec, state, generator, cpu_rng)
