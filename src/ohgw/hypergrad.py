"""Hyper-gradients of a loss with respect to psi, by two objectives.

``Forward`` is the paper read literally: L(theta_0, psi; b) on one mini-batch. Only the
hyperparameters that enter the forward computation (label smoothing, augmentation magnitude) get
a gradient; learning rate, weight decay and momentum have no path to it.

``Lookahead`` (the default) takes K differentiable optimizer steps from theta_0 and then
evaluates the loss, so that the optimizer's hyperparameters get a gradient too. Inner steps and
the outer loss use the same batch (the paper's single batch) unless ``held_out`` is set.

A loss is any ``loss(forward, batch, hp) -> scalar``: ``forward`` is the model at the current
parameters, ``hp`` maps each config key to its value (a tensor that carries the gradient for the
continuous hyperparameters). The same function can drive the real training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

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
    """

    inner_steps: int = 1
    held_out: bool = False
    outer_loss: LossFn | None = None
    first_order: bool = False

    name = "lookahead"

    def __post_init__(self) -> None:
        if not isinstance(self.inner_steps, int) or self.inner_steps < 1:
            raise ValueError(
                f"The value of `inner_steps` is {self.inner_steps!r}, but must be an int >= 1."
            )

    @property
    def batches_needed(self) -> int:
        return 2 if self.held_out else 1


Objective = Forward | Lookahead


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
) -> HyperGradient:
    """The gradient of the objective with respect to psi at ``psi``."""
    leaves = [value.detach().clone().requires_grad_(True) for value in psi.unbind()]
    loss = _evaluate(objective, problem, leaves, batches, seed)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    names = problem.space.continuous_names
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
    if len(batches) != objective.batches_needed:
        raise ValueError(
            f"The {objective.name} objective needs {objective.batches_needed} batch(es), "
            f"got {len(batches)}."
        )
    model = problem.model
    hp = hyperparameter_values(problem.space, problem.config, leaves, model_dtype(model))
    devices = [model_device(model)] if model_device(model).type == "cuda" else []
    was_training = model.training
    model.train()
    try:
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.manual_seed(seed)
            if isinstance(objective, Forward):
                params = {n: p.detach() for n, p in model.named_parameters()}
                return problem.loss(_bind(model, params), batches[0], hp)
            return _lookahead(objective, problem, hp, batches)
    finally:
        model.train(was_training)


def _lookahead(
    objective: Lookahead, problem: Problem, hp: Mapping[str, Any], batches: Sequence[Any]
) -> torch.Tensor:
    model, optimizer = problem.model, problem.optimizer
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    params = {n: p.detach().requires_grad_(True) for n, p in trainable.items()}
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
