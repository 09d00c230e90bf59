"""The WikiText benchmark: real hyper-gradients through its loss, token noise, the mini preset."""

from __future__ import annotations

import pytest
import torch

from ohgw import Lookahead
from ohgw.benchmarks.base import make_benchmark
from ohgw.benchmarks.wikitext import DEFAULT_CONFIG
from ohgw.benchmarks.wikitext import SPACE
from ohgw.benchmarks.wikitext import WikiTextBenchmark
from ohgw.hypergrad import Problem
from problems import check_against_fd

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "context": 8, "vocab_size": 300, "batch_size": 4}


@pytest.fixture(scope="module")
def tiny():
    return make_benchmark("wikitext-mini", **TINY)


def test_every_psi_gets_a_finite_nonzero_hypergradient_matching_fd(tiny) -> None:
    torch.manual_seed(0)
    model = tiny.build_model().double()
    batches = [next(tiny.warm_stream(0))]
    config = {**DEFAULT_CONFIG, "label_smoothing": 0.1}
    problem = Problem(model, SPACE, config, tiny.train_loss, tiny.optimizer)
    objective = Lookahead(inner_steps=2)  # with one AdamW step beta1 cancels out
    check_against_fd(objective, problem, batches, set(SPACE.continuous_names), seed=1, step=1e-6)


def test_batches_are_next_token_windows(tiny) -> None:
    inputs, targets = next(tiny.train_stream(0))
    assert inputs.shape == targets.shape == (4, 8)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])  # no noise: targets are inputs shifted


def test_token_noise_touches_inputs_only_at_fifteen_percent() -> None:
    noisy = make_benchmark("wikitext-mini", **TINY, token_noise=0.15)
    data = noisy.data
    rate = (data["train_inputs"] != data["train_targets"]).float().mean().item()
    assert abs(rate - 0.15) <= 0.01
    _, targets = next(noisy.train_stream(0))
    clean = make_benchmark("wikitext-mini", **TINY)
    assert torch.equal(targets, next(clean.train_stream(0))[1])  # targets stay clean


def test_mini_preset_facts_and_the_small_data_note() -> None:
    benchmark = make_benchmark("wikitext-mini")
    facts = benchmark.describe()
    assert "WikiText-2 valid" in facts["data"]
    assert facts["bpe_vocab_size"] == 2048 and facts["context"] == 64
    assert facts["unigram_perplexity"] > 300
    assert benchmark.worst_metric == 2048.0


def test_full_preset_needs_a_data_dir() -> None:
    with pytest.raises(ValueError, match="needs `data_dir`"):
        WikiTextBenchmark(preset="full")


def test_perplexity_of_an_untrained_model_is_near_the_vocabulary_size(tiny) -> None:
    torch.manual_seed(0)
    ppl = tiny.evaluate(tiny.build_model(), "val")
    assert 0.5 * 300 < ppl < 2 * 300


def test_out_of_domain_split_is_shakespeare_in_the_wikitext_bpe(tiny) -> None:
    from ohgw.datasets.wikitext import out_of_domain_text

    assert out_of_domain_text().startswith("First Citizen:")
    torch.manual_seed(0)
    model = tiny.build_model()
    ood, val = tiny.evaluate(model, "ood"), tiny.evaluate(model, "val")
    assert len(tiny.data["ood"]) == len(tiny.data["val"]) == tiny.preset.eval_tokens + 1
    assert not torch.equal(tiny.data["ood"], tiny.data["val"])
    assert 0.5 * 300 < ood < 2 * 300 and ood != val  # untrained: near uniform, other text
