"""Hyper-gradients against central finite differences, in float64, on real data."""

from __future__ import annotations

import pytest
import torch

from ohgw import SGD
from ohgw import AdamW
from ohgw import Forward
from ohgw import Lookahead
from ohgw.hypergrad import Problem
from ohgw.hypergrad import hypergradient
from ohgw.hypergrad import objective_value
from problems import LM_CONFIG
from problems import LM_SPACE
from problems import VISION_CONFIG
from problems import VISION_SPACE
from problems import check_against_fd
from problems import lm_batches
from problems import lm_loss
from problems import make_cnn
from problems import make_gpt
from problems import plain_vision_loss
from problems import vision_batches
from problems import vision_loss

SEED = 7


ALL_VISION = set(VISION_SPACE.continuous_names)


@pytest.mark.parametrize(
    ("objective", "optimizer", "nonzero", "zero"),
    [
        # One heavy-ball step from a zero buffer: momentum cannot matter.
        (Lookahead(inner_steps=1), SGD(), ALL_VISION - {"momentum"}, {"momentum"}),
        (Lookahead(inner_steps=2), SGD(), ALL_VISION, ()),
        (Lookahead(inner_steps=1), SGD(nesterov=True), ALL_VISION, ()),
        (
            Lookahead(inner_steps=2, held_out=True, outer_loss=plain_vision_loss),
            SGD(),
            ALL_VISION,
            (),
        ),
    ],
    ids=["K1-heavy-ball", "K2-heavy-ball", "K1-nesterov", "K2-held-out"],
)
def test_lookahead_cnn_matches_finite_differences(
    cifar_images, objective, optimizer, nonzero, zero
) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, optimizer)
    batches = vision_batches(*cifar_images)[: objective.batches_needed]
    check_against_fd(objective, problem, batches, nonzero, zero, seed=SEED)


def test_forward_cnn_matches_finite_differences_and_only_regularisers_have_a_path(
    cifar_images,
) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    batches = vision_batches(*cifar_images)[:1]
    result = check_against_fd(
        Forward(), problem, batches, {"aug_magnitude", "label_smoothing"}, set(), seed=SEED
    )
    assert result.no_path == ("lr", "weight_decay", "momentum")
    assert result.gradient[:3].tolist() == [0.0, 0.0, 0.0]


ALL_LM = set(LM_SPACE.continuous_names)


@pytest.mark.parametrize(
    ("objective", "nonzero", "zero"),
    [
        (Lookahead(inner_steps=2), ALL_LM, ()),
        (Lookahead(inner_steps=2, held_out=True), ALL_LM, ()),
    ],
    ids=["K2", "K2-held-out"],
)
def test_lookahead_transformer_adamw_matches_finite_differences(
    shakespeare_ids, objective, nonzero, zero
) -> None:
    optimizer = AdamW(beta1="beta1", beta2="beta2")
    problem = Problem(make_gpt(), LM_SPACE, LM_CONFIG, lm_loss, optimizer)
    batches = lm_batches(shakespeare_ids)[: objective.batches_needed]
    check_against_fd(objective, problem, batches, nonzero, zero, seed=SEED)


def test_one_adamw_step_cancels_the_betas(shakespeare_ids) -> None:
    """Bias correction makes the first AdamW step independent of beta1 and beta2."""
    optimizer = AdamW(beta1="beta1", beta2="beta2")
    problem = Problem(make_gpt(), LM_SPACE, LM_CONFIG, lm_loss, optimizer)
    batches = lm_batches(shakespeare_ids)[:1]
    result = hypergradient(
        Lookahead(inner_steps=1), problem, LM_SPACE.to_psi(LM_CONFIG), batches, 0
    )
    grads = dict(zip(LM_SPACE.continuous_names, result.gradient.abs().tolist(), strict=True))
    assert grads["lr"] > 1e-6
    assert grads["beta1"] < 1e-9 * grads["lr"]
    assert grads["beta2"] < 1e-9 * grads["lr"]


def test_forward_transformer_matches_finite_differences(shakespeare_ids) -> None:
    problem = Problem(make_gpt(), LM_SPACE, LM_CONFIG, lm_loss, AdamW())
    batches = lm_batches(shakespeare_ids)[:1]
    result = check_against_fd(Forward(), problem, batches, {"label_smoothing"}, seed=SEED)
    assert result.no_path == ("lr", "weight_decay", "beta1", "beta2")


def test_objective_is_deterministic_and_leaves_global_rng_alone(cifar_images) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    batches = vision_batches(*cifar_images)[:1]
    psi = VISION_SPACE.to_psi(VISION_CONFIG)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = objective_value(Lookahead(), problem, psi, batches, SEED)
    assert torch.equal(torch.get_rng_state(), before)
    second = objective_value(Lookahead(), problem, psi, batches, SEED)
    other_seed = objective_value(Lookahead(), problem, psi, batches, SEED + 1)
    assert first.item() == second.item()
    assert first.item() != other_seed.item()  # the augmentation draws do depend on the seed


def test_wrong_number_of_batches_is_an_error(cifar_images) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    batches = vision_batches(*cifar_images)[:1]
    with pytest.raises(ValueError, match="needs 2 batch"):
        hypergradient(
            Lookahead(held_out=True), problem, VISION_SPACE.to_psi(VISION_CONFIG), batches, 0
        )


def test_inner_steps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="`inner_steps`"):
        Lookahead(inner_steps=0)


def test_first_order_k1_is_exact_for_optimizer_hyperparameters_and_cheaper(cifar_images) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    batches = vision_batches(*cifar_images)[:1]
    psi = VISION_SPACE.to_psi(VISION_CONFIG)
    flops = {}
    results = {}
    for first_order in (False, True):
        with FlopCounterMode(display=False) as counter:
            results[first_order] = hypergradient(
                Lookahead(first_order=first_order), problem, psi, batches, SEED
            )
        flops[first_order] = counter.get_total_flops()
    exact, approx = results[False].gradient, results[True].gradient
    torch.testing.assert_close(approx[:3], exact[:3], rtol=1e-10, atol=0)  # lr, wd, momentum
    assert not torch.allclose(approx[3:], exact[3:])  # regularisers lose their path via the step
    assert flops[True] < 0.75 * flops[False]
