"""warm_start: the model is untouched, the step is what it says, bad input is refused."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from ohgw import SGD
from ohgw import AdamW
from ohgw import Forward
from ohgw import HyperGradientWarning
from ohgw import Lookahead
from ohgw import warm_start
from problems import LM_CONFIG
from problems import LM_SPACE
from problems import VISION_CONFIG
from problems import VISION_SPACE
from problems import lm_batches
from problems import lm_loss
from problems import make_cnn
from problems import make_gpt
from problems import plain_vision_loss
from problems import vision_batches
from problems import vision_loss


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


def run(cifar, **kwargs):
    """A warm start of the small CNN; the paper's step unless ``mode`` says otherwise."""
    model = kwargs.pop("model", None) or make_cnn()
    config = kwargs.pop("config", VISION_CONFIG)
    kwargs.setdefault("mode", "gradient")
    batches = vision_batches(*cifar)
    return warm_start(config, VISION_SPACE, model, batches, vision_loss, SGD(), **kwargs)


def test_the_default_is_the_papers_step_and_eta_follows_the_mode(cifar_images) -> None:
    batches = vision_batches(*cifar_images)
    _, default = warm_start(VISION_CONFIG, VISION_SPACE, make_cnn(), batches, vision_loss, SGD())
    assert (default.mode, default.eta_h) == ("gradient", 1e-3)
    for mode, eta in [("normalized", 0.1), ("random", 1e-3), ("random-normalized", 0.1)]:
        assert run(cifar_images, mode=mode)[1].eta_h == eta


@pytest.mark.parametrize("objective", [Lookahead(inner_steps=2), Forward()], ids=["la", "fw"])
@pytest.mark.parametrize("mode", ["gradient", "random"])
def test_model_parameters_and_buffers_are_bitwise_unchanged(cifar_images, objective, mode):
    model = make_cnn()
    model.eval()
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HyperGradientWarning)
        run(cifar_images, model=model, objective=objective, mode=mode, steps=2)
    after = snapshot(model)
    assert before.keys() == after.keys()
    for name in before:
        assert torch.equal(before[name], after[name]), name
        assert before[name].dtype == after[name].dtype
    assert not model.training  # the mode it was found in
    assert "bn1.running_mean" in before and "bn1.num_batches_tracked" in before


def test_gradient_step_is_minus_eta_times_gradient(cifar_images) -> None:
    nudged, record = run(cifar_images, eta_h=0.05)
    (gradient,), (step,) = record.gradients, record.steps
    for name in VISION_SPACE.continuous_names:
        assert step[name] == pytest.approx(-0.05 * gradient[name], rel=1e-12)
        hp = VISION_SPACE[name]
        expected = hp.from_psi(record.psi_before[name] + step[name])
        assert nudged[name] == pytest.approx(min(max(expected, hp.low), hp.high), rel=1e-12)
    assert record.psi_before["lr"] == math.log(0.1)
    assert not record.non_finite and record.flops > 0 and record.wall_seconds > 0
    assert record.peak_memory_bytes > 0 and record.memory_measure == "cpu_saved_for_backward"


def test_eta_zero_and_mode_none_return_the_same_config(cifar_images) -> None:
    config = {**VISION_CONFIG, "epochs": 5}
    for kwargs in ({"eta_h": 0.0}, {"mode": "none"}):
        nudged, record = run(cifar_images, config=config, **kwargs)
        assert nudged == config and nudged is not config
        assert record.psi_after == record.psi_before
    _, none_record = run(cifar_images, mode="none")
    assert none_record.flops == 0 and none_record.gradients == ()


def test_random_step_has_the_gradient_step_norm(cifar_images) -> None:
    _, grad_record = run(cifar_images, eta_h=1e-2)
    _, random_record = run(cifar_images, eta_h=1e-2, mode="random")
    grad_step = torch.tensor(list(grad_record.steps[0].values()))
    random_step = torch.tensor(list(random_record.steps[0].values()))
    assert random_step.norm().item() == pytest.approx(grad_step.norm().item(), rel=1e-12)
    cosine = torch.dot(grad_step, random_step) / grad_step.norm() ** 2
    assert abs(cosine.item()) < 0.999  # a different direction
    _, other_seed = run(cifar_images, eta_h=1e-2, mode="random", seed=1)
    assert other_seed.steps[0] != random_record.steps[0]


def test_normalized_step_moves_a_set_fraction_of_the_range(cifar_images) -> None:
    nudged, record = run(cifar_images, eta_h=0.05, mode="normalized")
    low, high = VISION_SPACE.psi_bounds()
    ranges = high - low
    gradient = torch.tensor(list(record.gradients[0].values()), dtype=torch.float64)
    step = torch.tensor(list(record.steps[0].values()), dtype=torch.float64)
    in_cube = step / ranges
    assert in_cube.norm().item() == pytest.approx(0.05, rel=1e-12)
    steepest = -(gradient * ranges) / (gradient * ranges).norm()
    assert torch.allclose(in_cube / 0.05, steepest, rtol=0, atol=1e-12)
    # A real move: far beyond what the paper's -1e-3 * grad does to the same config.
    _, paper = run(cifar_images, eta_h=1e-3)
    paper_step = torch.tensor(list(paper.steps[0].values()), dtype=torch.float64)
    assert (paper_step / ranges).norm() < 0.01 < in_cube.norm()
    for name in VISION_SPACE.continuous_names:
        hp = VISION_SPACE[name]
        expected = hp.from_psi(record.psi_before[name] + record.steps[0][name])
        assert nudged[name] == pytest.approx(min(max(expected, hp.low), hp.high), rel=1e-12)
    # Its control: a random direction of the same length in the unit cube, same cost.
    _, control = run(cifar_images, eta_h=0.05, mode="random-normalized")
    random_in_cube = torch.tensor(list(control.steps[0].values()), dtype=torch.float64) / ranges
    assert random_in_cube.norm().item() == pytest.approx(0.05, rel=1e-12)
    assert abs(torch.dot(random_in_cube, in_cube).item()) < 0.999 * 0.05**2
    assert control.flops == record.flops


def test_averaged_gradient_is_the_mean_of_the_per_batch_gradients(cifar_images) -> None:
    batches = vision_batches(*cifar_images)

    def warm(batch_list, grad_batches=1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HyperGradientWarning)  # no path: aug, smoothing
            return warm_start(
                VISION_CONFIG,
                VISION_SPACE,
                make_cnn(),
                batch_list,
                plain_vision_loss,  # no random draws: each batch's gradient is reproducible
                SGD(),
                objective=Lookahead(inner_steps=2),
                grad_batches=grad_batches,
            )[1]

    averaged = warm(batches[:2], grad_batches=2)
    first, second = warm(batches[:1]), warm(batches[1:2])
    for name in VISION_SPACE.continuous_names:
        mean = (first.gradients[0][name] + second.gradients[0][name]) / 2
        assert averaged.gradients[0][name] == pytest.approx(mean, rel=1e-10, abs=1e-15)
    assert averaged.losses[0] == pytest.approx((first.losses[0] + second.losses[0]) / 2)
    assert averaged.gradients[0]["lr"] != first.gradients[0]["lr"]
    assert averaged.flops == pytest.approx(first.flops + second.flops, rel=0.01)
    assert averaged.grad_batches == 2 and first.grad_batches == 1


@pytest.mark.parametrize("mode", ["gradient", "random"])
def test_same_seed_same_result(cifar_images, mode) -> None:
    first = run(cifar_images, mode=mode, seed=3, steps=3)
    second = run(cifar_images, mode=mode, seed=3, steps=3)
    assert first[0] == second[0]
    a, b = first[1].to_dict(), second[1].to_dict()
    a.pop("wall_seconds"), b.pop("wall_seconds")
    assert a == b


def test_three_steps_take_fresh_batches_and_clip(cifar_images) -> None:
    taken = []

    def batches():
        index = len(taken)
        taken.append(index)
        return vision_batches(*cifar_images)[index]

    config = {**VISION_CONFIG, "label_smoothing": 0.0}
    nudged, record = warm_start(
        config,
        VISION_SPACE,
        make_cnn(),
        batches,
        vision_loss,
        SGD(),
        eta_h=1.0,
        steps=3,
        mode="gradient",
    )
    assert taken == [0, 1, 2]
    assert len(record.gradients) == len(record.steps) == 3
    assert record.gradients[0] != record.gradients[1]
    for name in VISION_SPACE.continuous_names:
        hp = VISION_SPACE[name]
        assert hp.low <= nudged[name] <= hp.high
    # eta_h = 1 pushes smoothing (the training loss wants less of it) onto its lower bound.
    assert nudged["label_smoothing"] == 0.0


def test_lookahead_adamw_on_a_transformer(shakespeare_ids) -> None:
    nudged, record = warm_start(
        LM_CONFIG,
        LM_SPACE,
        make_gpt(),
        lm_batches(shakespeare_ids),
        lm_loss,
        AdamW(beta1="beta1", beta2="beta2"),
        objective=Lookahead(inner_steps=2),
    )
    assert all(g != 0 for g in record.gradients[0].values())
    assert nudged["lr"] != LM_CONFIG["lr"]


def test_non_finite_gradient_takes_no_step_and_is_flagged(cifar_images) -> None:
    def nan_loss(forward, batch, hp):
        return vision_loss(forward, batch, hp) * torch.tensor(float("nan"), dtype=torch.float64)

    with pytest.warns(HyperGradientWarning, match="Non-finite"):
        nudged, record = warm_start(
            VISION_CONFIG,
            VISION_SPACE,
            make_cnn(),
            vision_batches(*cifar_images),
            nan_loss,
            SGD(),
            eta_h=1.0,
            steps=3,
        )
    assert record.non_finite
    assert nudged == VISION_CONFIG
    assert record.psi_after == record.psi_before
    assert len(record.gradients) == 1 and record.steps == ()


def test_no_path_and_zero_gradients_are_named_in_warnings(cifar_images) -> None:
    with pytest.warns(
        HyperGradientWarning, match=r"\['lr', 'weight_decay', 'momentum'\] have no path"
    ):
        nudged, _ = run(cifar_images, objective=Forward())
    assert nudged["lr"] == VISION_CONFIG["lr"]
    with pytest.warns(HyperGradientWarning, match=r"\['momentum'\] have an exactly zero"):
        nudged, _ = run(cifar_images, objective=Lookahead(inner_steps=1))
    assert nudged["momentum"] == VISION_CONFIG["momentum"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", HyperGradientWarning)
        run(cifar_images, objective=Lookahead(inner_steps=2))  # every psi informative: silent


def test_the_callers_rng_is_not_advanced(cifar_images) -> None:
    model = make_cnn()  # seeds torch itself
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run(cifar_images, model=model, mode="random", steps=2)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "lucky"}, ValueError, "`mode` is 'lucky'"),
        ({"eta_h": -1.0}, ValueError, "`eta_h` is -1.0"),
        ({"eta_h": float("nan")}, ValueError, "`eta_h` is nan"),
        ({"steps": 0}, ValueError, "`steps` is 0"),
        ({"steps": 1.5}, ValueError, "`steps` is 1.5"),
        ({"grad_batches": 0}, ValueError, "`grad_batches` is 0"),
        ({"mode": "normalised"}, ValueError, "`mode` is 'normalised'"),
        ({"seed": -1}, ValueError, "`seed` is -1"),
        ({"objective": "forward"}, TypeError, "`objective` must be"),
        ({"config": {**VISION_CONFIG, "lr": 5.0}}, ValueError, "`lr` is 5.0"),
        ({"config": {**VISION_CONFIG, "momentum": "high"}}, TypeError, "`momentum` is 'high'"),
        ({"config": {"lr": 0.1}}, ValueError, "missing"),
        ({"model": "resnet"}, TypeError, "`model` must be a torch.nn.Module"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_named(cifar_images, kwargs, error, match):
    model = kwargs.pop("model", make_cnn())
    config = kwargs.pop("config", VISION_CONFIG)
    with pytest.raises(error, match=match):
        warm_start(
            config,
            VISION_SPACE,
            model,
            vision_batches(*cifar_images),
            vision_loss,
            SGD(),
            **kwargs,
        )


def test_bad_optimizer_and_exhausted_batches(cifar_images) -> None:
    batches = vision_batches(*cifar_images)
    with pytest.raises(ValueError, match="`momentum` reads config key `mom`"):
        warm_start(
            VISION_CONFIG, VISION_SPACE, make_cnn(), batches, vision_loss, SGD(momentum="mom")
        )
    with pytest.raises(TypeError, match="`optimizer` must be"):
        warm_start(VISION_CONFIG, VISION_SPACE, make_cnn(), batches, vision_loss, torch.optim.SGD)
    with pytest.raises(ValueError, match="`batches` ran out after 1 batch"):
        warm_start(
            VISION_CONFIG,
            VISION_SPACE,
            make_cnn(),
            batches[:1],
            vision_loss,
            SGD(),
            objective=Lookahead(held_out=True),
        )
