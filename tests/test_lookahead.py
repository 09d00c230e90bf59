"""The lean K=1 lookahead (ohgw.lookahead) against the double-backward graph and finite
differences, in float64 on real data; its memory against a plain training step."""

from __future__ import annotations

import math

import pytest
import torch

from ohgw import SGD
from ohgw import AdamW
from ohgw import Lookahead
from ohgw.cost import cpu_allocation_peak
from ohgw.cost import measure
from ohgw.hypergrad import Problem
from ohgw.hypergrad import hypergradient
from ohgw.models import GPT
from ohgw.models import GPTConfig
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


def _both(problem: Problem, batches, **options):
    psi = problem.space.to_psi(problem.config)
    graph = hypergradient(Lookahead(method="graph", **options), problem, psi, batches, SEED)
    lean = hypergradient(Lookahead(method="lean", **options), problem, psi, batches, SEED)
    return graph, lean


def _assert_agree(graph, lean, rtol: float) -> None:
    assert lean.no_path == graph.no_path
    assert math.isclose(lean.loss, graph.loss, rel_tol=1e-12)  # one loss, summed two ways
    scale = graph.gradient.abs().max().item()
    for i, (g, lean_g) in enumerate(
        zip(graph.gradient.tolist(), lean.gradient.tolist(), strict=True)
    ):
        assert abs(lean_g - g) <= rtol * abs(g) + 1e-12 * scale, f"coordinate {i}: {g} vs {lean_g}"


@pytest.mark.parametrize(
    ("optimizer", "options", "batch_count"),
    [
        (SGD(), {}, 1),
        (SGD(nesterov=True), {}, 1),
        (SGD(), {"held_out": True, "outer_loss": plain_vision_loss}, 2),
        (SGD(), {"first_order": True}, 1),
        (SGD(momentum=0.9), {}, 1),  # the space's momentum then has no path at all
    ],
    ids=["heavy-ball", "nesterov", "held-out", "first-order", "constant-momentum"],
)
def test_lean_equals_graph_on_the_batchnorm_cnn(
    cifar_images, optimizer, options, batch_count
) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, optimizer)
    graph, lean = _both(problem, vision_batches(*cifar_images)[:batch_count], **options)
    _assert_agree(graph, lean, rtol=1e-5)
    if optimizer.momentum == 0.9:
        assert lean.no_path == ("momentum",)
    for name in ("aug_magnitude", "label_smoothing"):  # the mixed term is there and nonzero
        assert abs(lean.gradient[VISION_SPACE.continuous_names.index(name)]) > 1e-4


def test_lean_equals_graph_on_the_tiny_gpt_with_adamw(shakespeare_ids) -> None:
    optimizer = AdamW(beta1="beta1", beta2="beta2")
    problem = Problem(make_gpt(), LM_SPACE, LM_CONFIG, lm_loss, optimizer)
    graph, lean = _both(problem, lm_batches(shakespeare_ids)[:1])
    _assert_agree(graph, lean, rtol=1e-5)
    assert abs(lean.gradient[LM_SPACE.continuous_names.index("label_smoothing")]) > 1e-3


def test_lean_matches_finite_differences(cifar_images) -> None:
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD(nesterov=True))
    batches = vision_batches(*cifar_images)[:1]
    check_against_fd(Lookahead(method="lean"), problem, batches, ALL_VISION, seed=SEED)


def test_lean_is_the_default_for_one_step_only() -> None:
    assert Lookahead().lean and Lookahead(inner_steps=1, method="auto").lean
    assert not Lookahead(inner_steps=2).lean
    assert not Lookahead(method="graph").lean
    with pytest.raises(ValueError, match="`method='lean'` computes the K=1"):
        Lookahead(inner_steps=2, method="lean")
    with pytest.raises(ValueError, match="`method`"):
        Lookahead(method="fast")  # type: ignore[arg-type]


def test_lean_leaves_model_and_rng_untouched_and_is_deterministic(cifar_images) -> None:
    model = make_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    problem = Problem(model, VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    batches = vision_batches(*cifar_images)[:1]
    psi = VISION_SPACE.to_psi(VISION_CONFIG)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    first = hypergradient(Lookahead(), problem, psi, batches, SEED)
    assert torch.equal(torch.get_rng_state(), rng)
    second = hypergradient(Lookahead(), problem, psi, batches, SEED)
    assert first.gradient.numpy().tobytes() == second.gradient.numpy().tobytes()
    for key, value in model.state_dict().items():  # BatchNorm running statistics included
        assert torch.equal(value, before[key]), key


def _saved_bytes(problem: Problem, batch, method: str) -> tuple[int, int]:
    """ohgw.cost's CPU measure (the largest autograd graph) of a plain step and of the method."""
    model = problem.model
    with measure() as step:
        problem.loss(model, batch, problem.config).backward()
    model.zero_grad(set_to_none=True)
    psi = problem.space.to_psi(problem.config)
    with measure() as spent:
        hypergradient(Lookahead(method=method), problem, psi, [batch], SEED, spent.next_graph)
    return step.peak_memory_bytes, spent.peak_memory_bytes


def test_lean_saves_what_a_training_step_saves_on_the_gpt(shakespeare_ids) -> None:
    problem = Problem(make_gpt(), LM_SPACE, LM_CONFIG, lm_loss, AdamW())
    batch = lm_batches(shakespeare_ids)[0]
    plain, lean = _saved_bytes(problem, batch, "lean")
    assert lean <= 1.10 * plain
    plain, graph = _saved_bytes(problem, batch, "graph")
    assert graph > 2.0 * plain  # the measure does see the double-backward graph


def test_lean_allocates_three_parameter_vectors_beyond_a_training_step(shakespeare_ids) -> None:
    """theta_1, g_0 and g_1 beside the outer pass's activations, where a training step reuses
    its gradients' memory (the measure: CUDA's max_memory_allocated above entry, on the CPU).
    The lookahead step's optimizer state is not kept: it was (AdamW's two vectors), and the
    GPT's lean warm start took 1.16x a plain step's memory on an H200 (issue 24)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=32))
    problem = Problem(model, LM_SPACE, LM_CONFIG, lm_loss, AdamW())
    batch = lm_batches(shakespeare_ids, size=64, length=64)[0]
    trainer = problem.optimizer.build(model.parameters(), LM_CONFIG)

    def plain_step() -> None:
        trainer.zero_grad(set_to_none=True)
        lm_loss(model, batch, LM_CONFIG).backward()
        trainer.step()

    psi = LM_SPACE.to_psi(LM_CONFIG)
    plain = cpu_allocation_peak(plain_step)
    lean = cpu_allocation_peak(lambda: hypergradient(Lookahead(), problem, psi, [batch], SEED))
    vector = sum(p.numel() * p.element_size() for p in model.parameters())
    assert plain > 20 * vector  # activations outweigh parameters: the outer pass is the peak
    assert 2.5 * vector < lean - plain <= 3.25 * vector


def test_lean_saves_a_training_step_plus_the_augmentation_input_on_the_cnn(cifar_images):
    """Differentiating the augmentation keeps its input and sampling grid (grid_sample's
    backward needs them), which a plain step, whose magnitude is a float, does not save."""
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    images, labels = (t.clone() for t in vision_batches(*cifar_images)[0])  # own storage
    plain, lean = _saved_bytes(problem, (images, labels), "lean")
    n, _, height, width = images.shape
    grid = n * height * width * 2 * images.element_size()
    assert lean <= 1.10 * plain + images.nbytes + grid


def test_lean_trims_the_heap_before_and_after_each_cpu_graph(cifar_images, monkeypatch) -> None:
    """glibc keeps freed activations on its heap; the lean path trims it on entry and after
    every graph that it frees (perf/warmstart_cost.py measures what that does to the resident
    set)."""
    import ohgw.lookahead

    ends, trims = [], []
    monkeypatch.setattr(ohgw.lookahead, "_malloc_trim", lambda: trims.append)
    problem = Problem(make_cnn(), VISION_SPACE, VISION_CONFIG, vision_loss, SGD())
    psi = VISION_SPACE.to_psi(VISION_CONFIG)
    batches = vision_batches(*cifar_images)[:1]
    hypergradient(Lookahead(), problem, psi, batches, SEED, lambda: ends.append(len(trims)))
    # g_0, g_1, the step's VJP, and the psi-only backward of the mixed term
    assert ends == [1, 2, 3, 4]
    assert trims == [0] * 5


def test_malloc_trim_is_found_on_glibc() -> None:
    import platform

    from ohgw.lookahead import _malloc_trim

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    trim = _malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)
