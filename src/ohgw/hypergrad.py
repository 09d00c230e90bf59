"""Hyper-gradients of a loss with respect to psi, by two objectives.

``Forward`` is the paper read literally: L(theta_0, psi; b) on one mini-batch. Only the
hyperparameters that enter the forward computation (label smoothing, augmentation magnitude) get
a gradient; learning rate, weight decay and momentum have no path to it.

``Lookahead`` (the default) takes K differentiable optimizer steps from theta_0 and then
evaluates the loss, so that the optimizer's hyperparameters get a gradient too. Inner steps and
the outer loss use the same batch (the paper's single batch) unless ``held_out`` is set. With
K = 1 its gradient is computed by default without a second-order graph, at the memory of one
training step (``method="lean"``, ``ohgw.lookahead``); ``method="graph"`` differentiates the
unrolled step by double backward (any K; about 3x a step's activation memory).

A loss is any ``loss(forward, batch, hp) -> scalar``: ``forward`` is the model at the current
parameters, ``hp`` maps each config key to its value (a tensor that carries the gradient for the
continuous hyperparameters). The same function can drive the real training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from ohgw.lookahead import lean_lookahead
from ohgw.optim import OptimizerKind
from ohgw.space import SearchSpace

ModelFn = Callable[..., Any]
LossFn = Callable[[ModelFn, Any, Mapping[str, Any]], torch.Tensor]


@dataclass(frozen=True)
class Forward:
    """The loss at theta_0 on one mini-batch (paper-literal)."""

    name = "forward"

    @property
    def batches_needed(self) -> int:
        return 1


@dataclass(frozen=True)
class Lookahead:
    """The loss after ``inner_steps`` differentiable optimizer steps from theta_0.

    Args:
        inner_steps: K >= 1 optimizer steps in the graph.
        held_out: evaluate the outer loss on a second, held-out mini-batch.
        outer_loss: the loss after the steps (default: the training loss); e.g. plain
            cross-entropy without augmentation or smoothing, for a held-out batch.
        first_order: treat the inner parameter gradients as constants (no second
            derivatives). About half the cost. With K = 1 the optimizer's hyperparameters
            still get their exact gradient; the regularisers (smoothing, augmentation) then
            get only their direct effect on the outer loss, not their effect through the step.
        method: how the gradient is computed. ``"lean"`` (K = 1 only): ordinary backwards,
            a vector-Jacobian product of the optimizer's update and a forward difference for
            the mixed second derivative (``ohgw.lookahead``), at one training step's peak
            memory. ``"graph"``: double backward through the unrolled steps (any K). ``"auto"``
            (the default): lean for K = 1, graph otherwise.
    """

    inner_steps: int = 1
    held_out: bool = False
    outer_loss: LossFn | None = None
    first_order: bool = False
    method: Literal["auto", "lean", "graph"] = "auto"

    name = "lookahead"

    def __post_init__(self) -> None:
        if not isinstance(self.inner_steps, int) or self.inner_steps < 1:
            raise ValueError(
                f"The value of `inner_steps` is {self.inner_steps!r}, but must be an int >= 1."
            )
        if self.method not in METHODS:
            raise ValueError(
                f"The value of `method` is {self.method!r}, but must be one of {list(METHODS)}."
            )
        if self.method == "lean" and self.inner_steps != 1:
            raise ValueError(
                f"`method='lean'` computes the K=1 lookahead only, but `inner_steps` is "
                f"{self.inner_steps}; use method='graph' (or 'auto') for K >= 2."
            )

    @property
    def lean(self) -> bool:
        """Whether the gradient is computed by the lean path (``ohgw.lookahead``)."""
        return self.method == "lean" or (self.method == "auto" and self.inner_steps == 1)

    @property
    def batches_needed(self) -> int:
        return 2 if self.held_out else 1


Objective = Forward | Lookahead
METHODS = ("auto", "lean", "graph")


@dataclass(frozen=True)
class Problem:
    """What an objective differentiates: a model at theta_0, a loss, an optimizer, a config."""

    model: nn.Module
    space: SearchSpace
    config: Mapping[str, Any]
    loss: LossFn
    optimizer: OptimizerKind


@dataclass(frozen=True)
class HyperGradient:
    """The objective's value, its gradient with respect to psi, and the psi with no path."""

    loss: float
    gradient: torch.Tensor
    no_path: tuple[str, ...]


def hyperparameter_values(
    space: SearchSpace,
    config: Mapping[str, Any],
    leaves: Sequence[torch.Tensor],
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Config key -> value, the continuous ones as differentiable functions of psi.

    psi stays in its own (float64) precision; values are cast to the model's ``dtype``.
    """
    values = dict(config)
    for hp, leaf in zip(space.continuous, leaves, strict=True):
        value = leaf.exp() if hp.transform == "log" else leaf
        values[hp.name] = value.to(dtype) if dtype is not None else value
    return values


def objective_value(
    objective: Objective,
    problem: Problem,
    psi: torch.Tensor,
    batches: Sequence[Any],
    seed: int,
) -> torch.Tensor:
    """The objective at ``psi`` (differentiable if ``psi`` requires grad).

    Random draws inside the loss (augmentation) come from a generator state fixed by ``seed``
    and are isolated from the caller's RNG streams, so two calls with one seed agree exactly.
    """
    leaves = list(psi.unbind())
    return _evaluate(objective, problem, leaves, batches, seed)


def hypergradient(
    objective: Objective,
    problem: Problem,
    psi: torch.Tensor,
    batches: Sequence[Any],
    seed: int,
    on_graph_end: Callable[[], None] | None = None,
) -> HyperGradient:
    """The gradient of the objective with respect to psi at ``psi``.

    ``on_graph_end`` is called where the lean lookahead has freed one of its autograd graphs
    (``ohgw.cost.Cost.next_graph``, so that the CPU memory count takes the largest graph).
    """
    leaves = [value.detach().clone().requires_grad_(True) for value in psi.unbind()]
    names = problem.space.continuous_names
    if isinstance(objective, Lookahead) and objective.lean:
        _check_batches(objective, batches)
        model = problem.model
        dtype = model_dtype(model)

        def hp_of(values: list[torch.Tensor]) -> dict[str, Any]:
            return hyperparameter_values(problem.space, problem.config, values, dtype)

        def bind(params: Mapping[str, torch.Tensor]) -> ModelFn:
            return _bind(model, {**_frozen(model), **params})

        with _seeded_train_mode(model, seed):
            loss, gradient, has_path = lean_lookahead(
                objective, problem, leaves, batches, hp_of, bind, on_graph_end or _nothing
            )
        no_path = tuple(name for name, has in zip(names, has_path, strict=True) if not has)
        return HyperGradient(float(loss), gradient.detach(), no_path)
    loss = _evaluate(objective, problem, leaves, batches, seed)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    no_path = tuple(name for name, g in zip(names, grads, strict=True) if g is None)
    gradient = torch.stack(
        [
            g if g is not None else torch.zeros_like(leaf)
            for g, leaf in zip(grads, leaves, strict=True)
        ]
    )
    return HyperGradient(float(loss.detach()), gradient.detach(), no_path)


def _evaluate(
    objective: Objective,
    problem: Problem,
    leaves: list[torch.Tensor],
    batches: Sequence[Any],
    seed: int,
) -> torch.Tensor:
    _check_batches(objective, batches)
    model = problem.model
    hp = hyperparameter_values(problem.space, problem.config, leaves, model_dtype(model))
    with _seeded_train_mode(model, seed):
        if isinstance(objective, Forward):
            params = {n: p.detach() for n, p in model.named_parameters()}
            return problem.loss(_bind(model, params), batches[0], hp)
        return _lookahead(objective, problem, hp, batches)


def _check_batches(objective: Objective, batches: Sequence[Any]) -> None:
    if len(batches) != objective.batches_needed:
        raise ValueError(
            f"The {objective.name} objective needs {objective.batches_needed} batch(es), "
            f"got {len(batches)}."
        )


@contextmanager
def _seeded_train_mode(model: nn.Module, seed: int) -> Iterator[None]:
    """Train mode and a forked RNG seeded with ``seed``; both restored on exit."""
    devices = [model_device(model)] if model_device(model).type == "cuda" else []
    was_training = model.training
    model.train()
    try:
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.manual_seed(seed)
            yield
    finally:
        model.train(was_training)


def _frozen(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}


def _nothing() -> None:
    pass


def _lookahead(
    objective: Lookahead, problem: Problem, hp: Mapping[str, Any], batches: Sequence[Any]
) -> torch.Tensor:
    model, optimizer = problem.model, problem.optimizer
    frozen = _frozen(model)
    params = {
        n: p.detach().requires_grad_(True) for n, p in model.named_parameters() if p.requires_grad
    }
    state = optimizer.init_state(params)
    for _ in range(objective.inner_steps):
        inner = problem.loss(_bind(model, {**frozen, **params}), batches[0], hp)
        grads = torch.autograd.grad(
            inner,
            list(params.values()),
            create_graph=not objective.first_order,
            allow_unused=True,
        )
        grads_by_name = {
            n: g if g is not None else torch.zeros_like(p)
            for (n, p), g in zip(params.items(), grads, strict=True)
        }
        params, state = optimizer.step(params, grads_by_name, state, hp)
    outer_loss = objective.outer_loss or problem.loss
    outer_batch = batches[1] if objective.held_out else batches[0]
    return outer_loss(_bind(model, {**frozen, **params}), outer_batch, hp)


def _bind(model: nn.Module, params: Mapping[str, torch.Tensor]) -> ModelFn:
    """The model as a function of its inputs at ``params``, on copies of its buffers.

    Copies, because a training-mode forward updates BatchNorm running statistics in place and
    the warm start must leave the model exactly as it found it.
    """
    buffers = {n: b.clone() for n, b in model.named_buffers()}

    def forward(*args: Any, **kwargs: Any) -> Any:
        return functional_call(model, {**params, **buffers}, args, kwargs)

    return forward


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()
