"""What a region of code costs: FLOPs, wall seconds and peak memory.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and
convolutions, double backward included). Memory on CUDA is the peak of
``torch.cuda.max_memory_allocated`` above the allocation at entry. On the CPU no allocator
statistic exists, so we count the bytes of distinct tensor storages that autograd saves for
backward (``saved_tensors_hooks``): the activation memory that a graph holds. A region that builds
several graphs one after another calls ``Cost.next_graph()`` between them; the peak is the largest
graph. It is deterministic and measured the same way for a warm start and a plain training step.
``cpu_allocation_peak`` measures on the CPU what CUDA's statistic does, from the profiler's
memory events: exact, but it runs the code twice under the profiler, so it serves perf scripts
and tests, not every trial.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
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


def cpu_allocation_peak(run: Callable[[], object]) -> int:
    """The peak bytes allocated above entry while ``run()`` runs on the CPU, from the profiler's
    memory events: what ``torch.cuda.max_memory_allocated`` above entry means on CUDA.

    ``run`` runs twice under the profiler and the second run is measured: the profiler counts no
    free of a block allocated before it started, and blocks that the first run leaves alive (a
    plain step's gradients, which the next step frees and allocates again) are known to it then.
    For perf scripts and tests: it runs ``run`` twice and slows it down.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile
    from torch.profiler import record_function

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _stderr_muted():  # kineto prints a line to fd 2 at start and at stop
        prof.start()
    try:
        run()
        with record_function("ohgw.cost.measured"):
            run()
    finally:
        with _stderr_muted():
            prof.stop()
    events = prof.profiler.kineto_results.events()
    (measured,) = [e for e in events if e.name() == "ohgw.cost.measured"]
    memory = sorted(
        (e.start_ns(), e.nbytes())
        for e in events
        if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    )
    start, end = measured.start_ns(), measured.end_ns()
    entry = sum(size for at, size in memory if at < start)
    live = peak = entry
    for at, size in memory:
        if start <= at <= end:
            live += size
            peak = max(peak, live)
    return peak - entry


@contextmanager
def _stderr_muted() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null (C++ code writes there, past ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
