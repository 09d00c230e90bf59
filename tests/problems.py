"""Helpers for the tests: tiny study settings, the finite-difference check, overlapping trials,
and the small hyper-gradient problems of :mod:`ohgw.testing.problems` (re-exported here)."""

from __future__ import annotations

import math

import torch

from ohgw.hypergrad import hypergradient
from ohgw.hypergrad import objective_value
from ohgw.testing.problems import LM_CONFIG as LM_CONFIG
from ohgw.testing.problems import LM_SPACE as LM_SPACE
from ohgw.testing.problems import VISION_CONFIG as VISION_CONFIG
from ohgw.testing.problems import VISION_SPACE as VISION_SPACE
from ohgw.testing.problems import SmallCNN as SmallCNN
from ohgw.testing.problems import lm_batches as lm_batches
from ohgw.testing.problems import lm_loss as lm_loss
from ohgw.testing.problems import make_cnn as make_cnn
from ohgw.testing.problems import make_gpt as make_gpt
from ohgw.testing.problems import plain_vision_loss as plain_vision_loss
from ohgw.testing.problems import vision_batches as vision_batches
from ohgw.testing.problems import vision_loss as vision_loss

TINY_CIFAR = {
    "train_size": 64,
    "val_size": 50,
    "test_size": 50,
    "width": 4,
    "blocks_per_stage": 1,
    "batch_size": 32,
}
"""cifar10-mini made tiny for the tests' studies: ResNet-8 at width 4, two steps of 32 a unit.
A unit is about 4.8e8 FLOPs (training and evaluation), a warm start about 4.4e8."""
TINY_FLOPS = 1e9
"""A simulated machine on which a ``TINY_CIFAR`` unit takes about half a second."""
TINY_CIFAR_OVERRIDE = (
    "+benchmark_options={" + ",".join(f"{k}:{v}" for k, v in TINY_CIFAR.items()) + "}"
)
"""``TINY_CIFAR`` as an ``ohgw study`` override."""


def check_against_fd(
    objective, problem, batches, must_be_nonzero, must_be_zero=(), *, seed, step=1e-6
):
    """Assert autograd's hyper-gradient equals central differences to 1e-4 per coordinate."""
    names = problem.space.continuous_names
    psi = problem.space.to_psi(problem.config)
    result = hypergradient(objective, problem, psi, batches, seed)
    for i, name in enumerate(names):
        shift = torch.zeros_like(psi)
        shift[i] = step
        plus = objective_value(objective, problem, psi + shift, batches, seed)
        minus = objective_value(objective, problem, psi - shift, batches, seed)
        fd = ((plus - minus) / (2 * step)).item()
        g = result.gradient[i].item()
        if name in must_be_zero:
            assert g == 0.0, f"{name}: expected an exactly zero hyper-gradient, got {g}"
            continue
        assert math.isfinite(g), f"{name}: {g}"
        relative = abs(g - fd) / max(abs(fd), 1e-300)
        assert relative <= 1e-4, f"{name}: autograd {g!r} vs FD {fd!r} ({relative:.2e})"
        if name in must_be_nonzero:
            assert abs(g) > 1e-8, f"{name}: expected a signal, got {g}"
    return result


def overlapping_trials(rows: list[dict]) -> list[tuple[int, int]]:
    """Pairs of trials whose units' time spans overlap: trials that ran at the same time."""
    return [
        (a["trial_id"], b["trial_id"])
        for a in rows
        for b in rows
        if a["trial_id"] < b["trial_id"]
        and a["start_time"] < b["time"]
        and b["start_time"] < a["time"]
    ]
