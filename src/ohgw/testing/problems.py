"""Small hyper-gradient problems, in float64 for gradient checks: the tests' and the measurements'.

A two-layer CNN with BatchNorm and the vision search space (SGD's hyperparameters, augmentation,
label smoothing), a tiny GPT and the language space (AdamW's), their losses and real batches.
The tests check the hyper-gradient on them (``tests/test_hypergrad.py``, ...);
``perf/lookahead_agreement.py`` measures how closely the lean lookahead agrees with the graph on
them. Shared here, below both, so that neither loads the other's files by path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ohgw import Continuous
from ohgw import SearchSpace
from ohgw import random_translate
from ohgw import smoothed_cross_entropy
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
