"""Shared fixtures: small real data sets."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ohgw.data import find
from ohgw.data import load_cifar10

# Caches (tokenizers, downloads) go to the project's ignored .cache folder, never to ../shared.
os.environ.setdefault("OHGW_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache"))
# One torch thread, here and in every child process: the tests' models are tiny, so more
# threads only spin (CPU time, not speed), and float sums depend on the count, so children must
# match this process (importing syne-tune's backend would otherwise set it for them).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


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


@pytest.fixture
def undeletable(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``undeletable(name)``: from then on in the test, files named ``name`` cannot be unlinked
    (as if another user's: the tests run as root, where permissions stop no removal)."""
    unlink = os.unlink

    def make(name: str) -> None:
        def refusing_unlink(path, *args, **kwargs):
            if os.path.basename(os.fspath(path)) == name:
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return unlink(path, *args, **kwargs)

        monkeypatch.setattr(os, "unlink", refusing_unlink)

    return make
