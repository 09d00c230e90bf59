"""The differentiable optimizer steps follow torch.optim exactly."""

from __future__ import annotations

import pytest
import torch

from ohgw import SGD
from ohgw import AdamW
from problems import make_cnn

CONFIG = {"lr": 0.05, "weight_decay": 1e-2, "momentum": 0.9, "beta1": 0.8, "beta2": 0.99}


@pytest.mark.parametrize(
    "kind",
    [SGD(), SGD(nesterov=True), AdamW(beta1="beta1", beta2="beta2"), AdamW(eps=1e-6)],
    ids=["sgd", "sgd-nesterov", "adamw", "adamw-constant-betas"],
)
def test_three_functional_steps_equal_torch_optim(kind, cifar_images) -> None:
    images, labels = cifar_images
    reference = make_cnn()
    functional = make_cnn()
    optimizer = kind.build(reference.parameters(), CONFIG)
    params = {n: p.detach().clone() for n, p in functional.named_parameters()}
    state = kind.init_state(params)
    for step in range(3):
        batch = slice(16 * step, 16 * step + 16)
        loss = torch.nn.functional.cross_entropy(reference(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            functional.load_state_dict(params, strict=False)
        loss_f = torch.nn.functional.cross_entropy(functional(images[batch]), labels[batch])
        grads = dict(
            zip(params, torch.autograd.grad(loss_f, list(functional.parameters())), strict=True)
        )
        params, state = kind.step(params, grads, state, CONFIG)
    for name, p in reference.named_parameters():
        torch.testing.assert_close(
            params[name], p.detach(), rtol=1e-8, atol=1e-10
        )  # float64 rounding order


def test_missing_config_key_names_the_role() -> None:
    with pytest.raises(ValueError, match="`momentum` reads config key `mom`"):
        SGD(momentum="mom").check_config({"lr": 0.1, "weight_decay": 0.0})


def test_constants_need_no_config_key() -> None:
    kind = SGD(momentum=0.9, weight_decay=0.0)
    assert kind.config_keys() == {"lr": "lr"}  # only lr is read from the config
    kind.check_config({"lr": 0.1})  # accepted without momentum and weight_decay keys
    resolved = kind.resolve({"lr": 0.1})
    assert (resolved["lr"], resolved["momentum"], resolved["weight_decay"]) == (0.1, 0.9, 0.0)
    with pytest.raises(ValueError, match="`lr` reads config key `lr`"):
        kind.check_config({"momentum": 0.9})


def test_adamw_with_zero_gradients_gives_finite_hypergradient() -> None:
    """An unused parameter (v = 0) must not turn the lr hyper-gradient into NaN."""
    lr = torch.tensor(1e-3, dtype=torch.float64, requires_grad=True)
    p = {"w": torch.ones(3, dtype=torch.float64, requires_grad=True)}
    g = {"w": torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)}
    kind = AdamW()
    new, _ = kind.step(p, g, kind.init_state(p), {"lr": lr, "weight_decay": 0.1})
    (grad,) = torch.autograd.grad(new["w"].sum(), lr)
    assert torch.isfinite(grad)
