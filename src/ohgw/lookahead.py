"""The K=1 lookahead hyper-gradient at the memory of one training step (``method="lean"``).

The objective is L_out(theta_1, psi) with theta_1 = S(theta_0, g_0, psi) one optimizer step and
g_0 = grad_theta L_in(theta_0, psi). Its total derivative splits into three terms, none of which
needs a second-order graph of the network:

1. the direct term dL_out/dpsi at theta_1, and g_1 = dL_out/dtheta at theta_1: one ordinary
   backward;
2. the step's own dependence on psi (lr, weight decay, momentum, Adam's betas and eps), and
   u = (dS/dg_0)^T g_1: one vector-Jacobian product of the optimizer's update, an elementwise
   computation over parameter-sized vectors (exact for any ``ohgw.optim`` kind, Nesterov and
   AdamW's bias correction included, because it differentiates that very update);
3. for psi inside the training loss (augmentation, label smoothing), the mixed second derivative
   u . d/dpsi grad_theta L_in(theta_0, psi) = d/dt [dL_in(theta_0 + t u, psi)/dpsi] at t = 0:
   a forward difference in t. Its value at t = 0 is the psi gradient that the backward for g_0
   already gave; one more ordinary backward, with respect to psi only (no weight gradients),
   gives it at t. Both evaluations draw the same random numbers (augmentation, dropout), and
   BatchNorm runs on copies of its buffers, so the model stays bitwise unchanged.

Peak memory is that of one forward and backward of the loss (the outer one) with three
parameter-sized vectors beside it (theta_1, g_0 and g_1; a training step holds one, its
gradients): the optimizer state of the lookahead's step is dropped at once. Where the parameters
outweigh the activations, the vector-Jacobian product of (2) is the peak instead. Where psi
enters an augmentation, its input batch and sampling grid are kept too (its gradient needs them;
a plain step does not). On the CPU with glibc, the freed heap is handed back to the system before
the first graph and after each one (``malloc_trim``): glibc raises its mmap threshold when a
large block is freed, so later activations land on its heap, which it does not shrink by itself,
and the resident set would grow by most of a graph per pass (perf/warmstart_cost.py measures
both).
The step t is eps^(1/2) of |theta_0| (the usual forward-difference choice; a central difference
would cost one more forward and psi-only backward). Measured agreement with the double-backward
graph: docs/measurements/lookahead_agreement.txt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

HpOf = Callable[[list[torch.Tensor]], Mapping[str, Any]]
Bind = Callable[[Mapping[str, torch.Tensor]], Any]


def lean_lookahead(
    objective: Any,
    problem: Any,
    leaves: list[torch.Tensor],
    batches: Sequence[Any],
    hp_of: HpOf,
    bind: Bind,
    on_graph_end: Callable[[], None],
) -> tuple[torch.Tensor, torch.Tensor, tuple[bool, ...]]:
    """The outer loss, its gradient with respect to the psi ``leaves``, and which psi have a path.

    Called by ``ohgw.hypergrad`` inside its RNG fork (seeded), with the model in train mode.
    ``hp_of(leaves)`` gives the config values as functions of psi; ``bind(params)`` the model as
    a function at ``params`` (frozen parameters and buffer copies added). ``on_graph_end`` is
    called when an autograd graph has been freed (for ``ohgw.cost``'s CPU memory count).
    """
    model, optimizer, loss = problem.model, problem.optimizer, problem.loss
    theta0 = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    devices = [p.device for p in theta0.values() if p.device.type == "cuda"][:1]
    rng_inner = _rng_state(devices)
    if not devices:  # start from a trimmed heap too: a study's worker has trained before
        trim_heap()
        on_graph_end = _and_trim(on_graph_end)

    # g_0 at theta_0, and the training loss's psi gradient there (None where psi has no path)
    _, g0, inner_psi = _backward(loss, bind, theta0, batches[0], hp_of, leaves, params_too=True)
    on_graph_end()
    with torch.no_grad():  # the step's new state (AdamW: two parameter-sized vectors) dropped
        theta1 = optimizer.step(theta0, g0, optimizer.init_state(theta0), hp_of(leaves))[0]

    # (1) the direct term and g_1 at theta_1 (the outer loss draws after the inner one, as in
    # the graph path: the RNG stream goes on from where the inner loss left it)
    outer_loss = objective.outer_loss or loss
    outer_batch = batches[1] if objective.held_out else batches[0]
    value, g1, direct = _backward(
        outer_loss, bind, theta1, outer_batch, hp_of, leaves, params_too=True
    )
    del theta1
    on_graph_end()

    # (2) through the step: psi's explicit role, and u = (dS/dg_0)^T g_1
    g0_leaves = {n: g.requires_grad_(True) for n, g in g0.items()}
    stepped = optimizer.step(theta0, g0_leaves, optimizer.init_state(theta0), hp_of(leaves))[0]
    vjp = torch.autograd.grad(
        list(stepped.values()),
        [*leaves, *g0_leaves.values()],
        grad_outputs=[g1[n] for n in stepped],
        allow_unused=True,
    )
    through_step = list(vjp[: len(leaves)])
    u = {
        n: g if g is not None else torch.zeros_like(theta0[n])
        for n, g in zip(g0_leaves, vjp[len(leaves) :], strict=True)
    }
    del stepped, g0_leaves, g0, g1, vjp
    on_graph_end()

    # (3) the mixed term u . d/dpsi grad_theta L_in, for psi inside the training loss
    wanted = [g is not None and not objective.first_order for g in inner_psi]
    mixed: list[torch.Tensor | None] = [None] * len(leaves)
    if any(wanted):
        inner = _Inner(loss, bind, batches[0], hp_of, leaves, devices, rng_inner, on_graph_end)
        mixed = _mixed_term(inner, theta0, u, wanted, inner_psi)

    gradient, has_path = [], []
    for leaf, *terms in zip(leaves, direct, through_step, mixed, strict=True):
        present = [t for t in terms if t is not None]
        has_path.append(bool(present))
        gradient.append(sum(present) if present else torch.zeros_like(leaf))
    return value, torch.stack(gradient), tuple(has_path)


def _backward(
    loss: Callable[..., torch.Tensor],
    bind: Bind,
    theta: Mapping[str, torch.Tensor],
    batch: Any,
    hp_of: HpOf,
    leaves: list[torch.Tensor],
    *,
    params_too: bool,
    wanted: Sequence[bool] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor | None]]:
    """One forward and one ordinary backward at ``theta``.

    Returns the loss, its parameter gradients (``params_too``; zeros where unused) and its psi
    gradients (None where psi has no path, or where ``wanted`` is False).
    """
    params = {n: t.detach().requires_grad_(params_too) for n, t in theta.items()}
    value = loss(bind(params), batch, hp_of(leaves))
    wanted = [True] * len(leaves) if wanted is None else wanted
    psi = [leaf for leaf, w in zip(leaves, wanted, strict=True) if w]
    wrt = [*(params.values() if params_too else ()), *psi]
    grads: Sequence[torch.Tensor | None] = [None] * len(wrt)
    if value.requires_grad:
        grads = torch.autograd.grad(value, wrt, allow_unused=True)
    count = len(params) if params_too else 0
    by_name = {
        n: g if g is not None else torch.zeros_like(params[n])
        for n, g in zip(list(params)[:count], grads[:count], strict=True)
    }
    psi_grads = iter(grads[count:])
    return value.detach(), by_name, [next(psi_grads) if w else None for w in wanted]


@dataclass(frozen=True)
class _Inner:
    """The training loss at theta_0's batch, replayable with the same random draws."""

    loss: Callable[..., torch.Tensor]
    bind: Bind
    batch: Any
    hp_of: HpOf
    leaves: list[torch.Tensor]
    devices: list[torch.device]
    rng: list[torch.Tensor]
    on_graph_end: Callable[[], None]

    def psi_gradient(
        self, theta: Mapping[str, torch.Tensor], wanted: Sequence[bool]
    ) -> list[torch.Tensor | None]:
        _set_rng_state(self.rng, self.devices)
        _, _, grads = _backward(
            self.loss,
            self.bind,
            theta,
            self.batch,
            self.hp_of,
            self.leaves,
            params_too=False,
            wanted=wanted,
        )
        self.on_graph_end()
        return grads


def _mixed_term(
    inner: _Inner,
    theta0: Mapping[str, torch.Tensor],
    u: Mapping[str, torch.Tensor],
    wanted: Sequence[bool],
    at_theta0: Sequence[torch.Tensor | None],
) -> list[torch.Tensor | None]:
    """d/dt of dL_in(theta_0 + t u)/dpsi at t = 0 by a forward difference from ``at_theta0``
    (that gradient at t = 0, the same random draws), for ``wanted`` psi."""
    norm_u = _norm(u.values())
    if norm_u == 0:
        return [
            torch.zeros_like(leaf) if w else None
            for leaf, w in zip(inner.leaves, wanted, strict=True)
        ]
    dtype = next(iter(theta0.values())).dtype
    scale = max(_norm(theta0.values()), 1.0)
    t = torch.finfo(dtype).eps ** (1 / 2) * scale / norm_u
    moved = inner.psi_gradient({n: p + t * u[n] for n, p in theta0.items()}, wanted)
    return [
        None if a is None or b is None else (a - b) / t
        for a, b in zip(moved, at_theta0, strict=True)
    ]


def _and_trim(on_graph_end: Callable[[], None]) -> Callable[[], None]:
    """``on_graph_end``, then the freed heap handed back to the system (a no-op without glibc)."""

    def end() -> None:
        on_graph_end()
        trim_heap()

    return end


def trim_heap() -> None:
    """Hand glibc's freed heap back to the system (``malloc_trim(0)``); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def _norm(tensors: Iterable[torch.Tensor]) -> float:
    return float(sum(float(x.double().square().sum()) for x in tensors) ** 0.5)


def _rng_state(devices: Sequence[torch.device]) -> list[torch.Tensor]:
    return [torch.get_rng_state(), *(torch.cuda.get_rng_state(d) for d in devices)]


def _set_rng_state(state: Sequence[torch.Tensor], devices: Sequence[torch.device]) -> None:
    torch.set_rng_state(state[0])
    for device, device_state in zip(devices, state[1:], strict=True):
        torch.cuda.set_rng_state(device_state, device)
