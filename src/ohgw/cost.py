"""What a region of code costs: FLOPs, wall seconds and peak memory.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and
convolutions, double backward included). Memory on CUDA is the peak of
``torch.cuda.max_memory_allocated`` above the allocation at entry. On the CPU no allocator
statistic exists, so we count the bytes of distinct tensor storages that autograd saves for
backward (``saved_tensors_hooks``): the activation memory that a graph holds. A region that builds
several graphs one after another calls ``Cost.next_graph()`` between them; the peak is the largest
graph. It is deterministic and measured the same way for a warm start and a plain training step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

import torch
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Cost:
    flops: int = 0
    wall_seconds: float = 0.0
    peak_memory_bytes: int = 0
    memory_measure: str = ""
    _saved: dict[int, int] = field(default_factory=dict, repr=False)

    def next_graph(self) -> None:
        """Close the CPU count of one autograd graph (its tensors are freed by now)."""
        self.peak_memory_bytes = max(self.peak_memory_bytes, sum(self._saved.values()))
        self._saved.clear()


@contextmanager
def measure(device: torch.device | str = "cpu") -> Iterator[Cost]:
    """Measure the enclosed code; the yielded ``Cost`` is filled in on exit."""
    device = torch.device(device)
    cost = Cost()
    on_cuda = device.type == "cuda"
    with ExitStack() as stack:
        counter = stack.enter_context(FlopCounterMode(display=False))
        if on_cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            at_entry = torch.cuda.memory_allocated(device)
        else:
            stack.enter_context(
                torch.autograd.graph.saved_tensors_hooks(_recorder(cost._saved), _same)
            )
        start = time.perf_counter()
        try:
            yield cost
        finally:
            if on_cuda:
                torch.cuda.synchronize(device)
            cost.wall_seconds = time.perf_counter() - start
    cost.flops = int(counter.get_total_flops())
    if on_cuda:
        cost.peak_memory_bytes = int(torch.cuda.max_memory_allocated(device) - at_entry)
        cost.memory_measure = "cuda_max_allocated"
    else:
        cost.next_graph()
        cost.memory_measure = "cpu_saved_for_backward"


def _recorder(saved: dict[int, int]):
    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    return pack


def _same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor
