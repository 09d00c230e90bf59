"""CIFAR-10 + ResNet-20: the paper's vision benchmark (search space and losses).

The five continuous hyperparameters of the paper, with the bounds used in the engineering notes'
first probe. The training loss applies a random flip, then a random translation whose size is
the augmentation magnitude, then label smoothing; both regularisers carry a hyper-gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ohgw.augment import random_flip
from ohgw.augment import random_translate
from ohgw.losses import smoothed_cross_entropy
from ohgw.space import Continuous
from ohgw.space import SearchSpace

SPACE = SearchSpace(
    [
        Continuous("lr", 1e-3, 1.0, "log"),
        Continuous("weight_decay", 1e-5, 1e-2, "log"),
        Continuous("momentum", 0.5, 0.99),
        Continuous("aug_magnitude", 0.0, 1.0),
        Continuous("label_smoothing", 0.0, 0.3),
    ]
)

# A conventional ResNet-20 recipe, inside SPACE.
DEFAULT_CONFIG = {
    "lr": 0.1,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "aug_magnitude": 0.5,
    "label_smoothing": 0.1,
}


def train_loss(forward, batch: tuple[torch.Tensor, torch.Tensor], hp: Mapping[str, Any]):
    """Flip, translate by ``aug_magnitude``, smoothed cross-entropy with ``label_smoothing``."""
    images, labels = batch
    images = random_translate(random_flip(images), hp["aug_magnitude"])
    return smoothed_cross_entropy(forward(images), labels, hp["label_smoothing"])


def eval_loss(forward, batch: tuple[torch.Tensor, torch.Tensor], hp: Mapping[str, Any]):
    """Plain cross-entropy on clean images: the held-out objective."""
    images, labels = batch
    return F.cross_entropy(forward(images), labels)
