"""Shared fixtures: small real data sets."""

from __future__ import annotations

import pytest
import torch

from ohgw.data import find
from ohgw.data import load_cifar10


@pytest.fixture(scope="session")
def cifar_images() -> tuple[torch.Tensor, torch.Tensor]:
    """64 real CIFAR-10 test images (float64), class-balanced."""
    return load_cifar10("test", limit=64, dtype=torch.float64)


@pytest.fixture(scope="session")
def shakespeare_ids() -> torch.Tensor:
    """Real text as character ids."""
    text = find("tinyshakespeare/input.txt").read_text()[:20000]
    vocab = sorted(set(text))
    return torch.tensor([vocab.index(c) for c in text], dtype=torch.long)
