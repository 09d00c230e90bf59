"""Small models, spaces and losses for the tests, in float64 for gradient checks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ohgw import Continuous
from ohgw import SearchSpace
from ohgw import random_translate
from ohgw import smoothed_cross_entropy
from ohgw.hypergrad import hypergradient
from ohgw.hypergrad import objective_value
from ohgw.models import GPT
from ohgw.models import GPTConfig


class SmallCNN(nn.Module):
    """Two conv layers with BatchNorm, small enough for float64 finite differences.

    SiLU rather than ReLU: finite differences across the kinks of thousands of ReLUs are noisy
    at the 1e-5 scale, which would test the differences, not the hyper-gradient.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.bn1(self.conv1(x)))
        x = F.silu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


def make_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN().double()


def make_gpt(seed: int = 0, vocab_size: int = 65) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPT(config).double()


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


VISION_SPACE = SearchSpace(
    [
        Continuous("lr", 1e-3, 1.0, "log"),
        Continuous("weight_decay", 1e-5, 1e-1, "log"),
        Continuous("momentum", 0.0, 0.99),
        Continuous("aug_magnitude", 0.0, 1.0),
        Continuous("label_smoothing", 0.0, 0.3),
    ]
)
VISION_CONFIG = {
    "lr": 0.1,
    "weight_decay": 1e-2,
    "momentum": 0.9,
    "aug_magnitude": 0.5,
    "label_smoothing": 0.1,
}

LM_SPACE = SearchSpace(
    [
        Continuous("lr", 1e-4, 1e-1, "log"),
        Continuous("weight_decay", 1e-4, 1.0, "log"),
        Continuous("beta1", 0.5, 0.99),
        Continuous("beta2", 0.9, 0.9999),
        Continuous("label_smoothing", 0.0, 0.3),
    ]
)
LM_CONFIG = {
    "lr": 3e-3,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "label_smoothing": 0.1,
}


def vision_loss(forward, batch, hp) -> torch.Tensor:
    images, labels = batch
    images = random_translate(images, hp["aug_magnitude"])
    return smoothed_cross_entropy(forward(images), labels, hp["label_smoothing"])


def plain_vision_loss(forward, batch, hp) -> torch.Tensor:
    images, labels = batch
    return F.cross_entropy(forward(images), labels)


def lm_loss(forward, batch, hp) -> torch.Tensor:
    inputs, targets = batch
    logits = forward(inputs)  # (B, T, V)
    return smoothed_cross_entropy(logits.transpose(1, 2), targets, hp["label_smoothing"])


def vision_batches(images: torch.Tensor, labels: torch.Tensor, size: int = 16):
    """Consecutive real batches of ``size``."""
    return [
        (images[i : i + size], labels[i : i + size])
        for i in range(0, len(labels) - size + 1, size)
    ]


def lm_batches(ids: torch.Tensor, size: int = 4, length: int = 16):
    out = []
    for start in range(0, len(ids) - size * (length + 1), size * (length + 1)):
        chunk = ids[start : start + size * (length + 1)].view(size, length + 1)
        out.append((chunk[:, :-1], chunk[:, 1:]))
    return out


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
