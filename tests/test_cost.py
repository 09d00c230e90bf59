"""ohgw.cost's CPU allocation peak against allocations of known size."""

from __future__ import annotations

import torch

from ohgw.cost import cpu_allocation_peak

MB = 1_000_000


def test_the_peak_counts_what_is_live_at_once() -> None:
    def run() -> None:
        first = torch.empty(MB, dtype=torch.uint8)
        second = torch.empty(3 * MB, dtype=torch.uint8)
        del first, second
        torch.empty(2 * MB, dtype=torch.uint8)

    assert cpu_allocation_peak(run) == 4 * MB


def test_memory_freed_and_allocated_again_counts_once_as_on_cuda() -> None:
    """A plain step frees the previous step's gradients before it makes new ones; the peak above
    entry then counts only what it adds (the first run, not measured, made the freed block)."""
    kept: list[torch.Tensor] = []

    def run() -> None:
        kept.clear()
        kept.append(torch.empty(4 * MB, dtype=torch.uint8))
        torch.empty(MB, dtype=torch.uint8)

    assert cpu_allocation_peak(run) == MB
