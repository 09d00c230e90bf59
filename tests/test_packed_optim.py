"""The packed optimizer step: torch.optim's SGD / AdamW per slot, each with its own settings."""

from __future__ import annotations

import pytest
import torch
from torch.func import stack_module_state

from ohgw import SGD
from ohgw import AdamW
from ohgw.packed.optim import PackedOptimizer
from problems import make_cnn

CONFIGS = [
    {"lr": 0.05, "weight_decay": 1e-2, "momentum": 0.9, "beta1": 0.8},
    {"lr": 0.2, "weight_decay": 1e-4, "momentum": 0.5, "beta1": 0.95},
    {"lr": 0.01, "weight_decay": 0.0, "momentum": 0.99, "beta1": 0.6},
]


@pytest.mark.parametrize(
    "kind",
    [SGD(), SGD(nesterov=True), AdamW(beta1="beta1", beta2=0.99)],
    ids=["sgd", "sgd-nesterov", "adamw"],
)
def test_each_slot_steps_as_its_own_torch_optimizer(kind, cifar_images) -> None:
    images, labels = cifar_images
    models = [make_cnn(seed) for seed in range(3)]
    references = [make_cnn(seed) for seed in range(3)]
    optimizers = [kind.build(m.parameters(), c) for m, c in zip(references, CONFIGS, strict=True)]
    params, _ = stack_module_state(models)
    params = {n: p.detach() for n, p in params.items()}
    names = list(params)
    packed = PackedOptimizer(kind, names, 3, params[names[0]])
    packed.init_state(params)
    for slot in range(3):
        packed.set_slot(slot, CONFIGS[slot], optimizers[slot], references[slot])
    for step in range(3):
        batch = slice(8 * step, 8 * step + 8)
        grads = {}
        for reference, optimizer in zip(references, optimizers, strict=True):
            loss = torch.nn.functional.cross_entropy(reference(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            for n, p in reference.named_parameters():
                grads.setdefault(n, []).append(p.grad.clone())
            optimizer.step()
        packed.step(params, {n: torch.stack(g) for n, g in grads.items()})
    for slot, reference in enumerate(references):
        for name, p in reference.named_parameters():
            torch.testing.assert_close(params[name][slot], p.detach(), rtol=1e-12, atol=1e-14)
    # The state written back is the torch optimizer's, so a checkpoint resumes either way.
    fresh = kind.build(references[1].parameters(), CONFIGS[1])
    packed.to_torch(1, fresh, references[1])
    ours, theirs = fresh.state_dict(), optimizers[1].state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    for index, state in theirs["state"].items():
        assert ours["state"][index].keys() == state.keys()
        for key, value in state.items():
            torch.testing.assert_close(ours["state"][index][key], value, rtol=1e-12, atol=1e-14)


def test_a_pack_refuses_an_unknown_optimizer() -> None:
    with pytest.raises(TypeError, match="SGD or AdamW"):
        PackedOptimizer("adam", ["w"], 2, torch.zeros(1))  # type: ignore[arg-type]
