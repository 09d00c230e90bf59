"""WikiText + a GPT-2-shaped model: the paper's language benchmark.

AdamW, and a continuous space of log learning rate, log weight decay, beta1 and label smoothing;
every dimension gets a hyper-gradient under a lookahead of K >= 2 steps (with K = 1, AdamW's bias
correction cancels beta1). The metric is validation perplexity per token of a byte-level BPE
trained on the training split (``ohgw.datasets.wikitext``).

Presets:
- ``wikitext-full``: GPT-2 small (12 layers, 768 dims, 12 heads), context 1024, a 50,257-token
  BPE, on WikiText-103 from a folder of the user's (``data_dir`` with ``wiki.{train,valid,test}
  .tokens``). One resource unit is 500 batches of 8 x 1024 tokens.
- ``wikitext-mini``: 2 layers, 128 dims, 4 heads, context 64, a 2,048-token BPE. Only WikiText-2
  valid and test exist on this project's machines: it trains on WikiText-2 *valid* and splits
  *test* into validation and test halves (``SMALL_PRESET_NOTE``); every report says so. One unit
  is 30 batches of 16 x 64 tokens; evaluation uses the first 32,768 tokens of a split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ohgw.benchmarks.base import BatchStream
from ohgw.benchmarks.base import Benchmark
from ohgw.losses import smoothed_cross_entropy
from ohgw.models.gpt import GPT
from ohgw.models.gpt import GPTConfig
from ohgw.optim import AdamW
from ohgw.space import Continuous
from ohgw.space import SearchSpace

SPACE = SearchSpace(
    [
        Continuous("lr", 1e-4, 3e-2, "log"),
        Continuous("weight_decay", 1e-4, 0.5, "log"),
        Continuous("beta1", 0.5, 0.99),
        Continuous("label_smoothing", 0.0, 0.2),
    ]
)

DEFAULT_CONFIG = {"lr": 3e-3, "weight_decay": 0.1, "beta1": 0.9, "label_smoothing": 0.0}


def train_loss(forward, batch: tuple[torch.Tensor, torch.Tensor], hp: Mapping[str, Any]):
    """Next-token cross-entropy with label smoothing ``label_smoothing``."""
    inputs, targets = batch
    logits = forward(inputs)  # (B, T, V)
    return smoothed_cross_entropy(logits.transpose(1, 2), targets, hp["label_smoothing"])


def eval_loss(forward, batch: tuple[torch.Tensor, torch.Tensor], hp: Mapping[str, Any]):
    """Plain next-token cross-entropy: the held-out objective."""
    inputs, targets = batch
    return F.cross_entropy(forward(inputs).transpose(1, 2), targets)


@dataclass(frozen=True)
class LMPreset:
    n_layer: int
    n_head: int
    n_embd: int
    context: int
    vocab_size: int  # of the BPE; the model pads it to a multiple of 64
    batch_size: int
    batches_per_unit: int
    eval_tokens: int | None  # None: the whole split
    small: bool  # trains on WikiText-2 valid (the only splits on these machines)
    tau: float  # the default T@tau target (perplexity per token)


PRESETS = {
    "full": LMPreset(12, 12, 768, 1024, 50257, 8, 500, None, small=False, tau=30.0),
    "mini": LMPreset(2, 4, 128, 64, 2048, 16, 30, 32768, small=True, tau=250.0),
}


class WikiTextBenchmark(Benchmark):
    """WikiText + GPT, trained with AdamW; metric: validation perplexity per BPE token.

    Args:
        preset: ``"full"`` or ``"mini"``.
        device: where the model and all token ids live.
        token_noise: fraction of training *input* tokens replaced by random ones (targets stay
            clean); seeded by ``data_seed``.
        data_seed: fixes the token noise.
        amp: bf16 autocast on CUDA.
        data_dir: a folder with ``wiki.{train,valid,test}.tokens`` (required by ``full``).
        cache_dir: where the trained tokenizer is cached.
        **overrides: fields of ``LMPreset`` to change (e.g. ``context=512``).
    """

    name = "wikitext"
    metric = "perplexity"
    mode = "min"
    space = SPACE
    optimizer = AdamW(lr="lr", weight_decay="weight_decay", beta1="beta1", beta2=0.99)
    default_config = DEFAULT_CONFIG
    train_loss = staticmethod(train_loss)
    eval_loss = staticmethod(eval_loss)
    noise_option = "token_noise"

    def __init__(
        self,
        preset: str = "mini",
        device: str | torch.device = "cpu",
        token_noise: float = 0.0,
        data_seed: int = 0,
        amp: bool = False,
        data_dir: str | None = None,
        cache_dir: str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(device)
        if preset not in PRESETS:
            raise ValueError(f"Unknown wikitext preset {preset!r}; known: {sorted(PRESETS)}.")
        self.preset_name = preset
        self.preset = replace(PRESETS[preset], **overrides)
        if not self.preset.small and data_dir is None:
            raise ValueError(
                "The `wikitext-full` preset needs `data_dir`: a folder with WikiText-103's "
                "wiki.train.tokens, wiki.valid.tokens and wiki.test.tokens."
            )
        self.token_noise, self.data_seed = float(token_noise), int(data_seed)
        self.amp = bool(amp) and self.device.type == "cuda"
        self.data_dir, self.cache_dir = data_dir, cache_dir
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def _load(self) -> dict[str, Any]:
        from ohgw.datasets import wikitext as wt

        if self.preset.small:
            texts = wt.small_wikitext2_splits()
        else:
            texts = wt.read_wikitext_dir(self.data_dir)
        tokenizer = wt.train_tokenizer(texts["train"], self.preset.vocab_size, self.cache_dir)
        ids = {split: wt.encode(tokenizer, text) for split, text in texts.items()}
        vocab = tokenizer.get_vocab_size()
        inputs = ids["train"]
        if self.token_noise > 0:
            inputs = wt.token_noise(inputs, self.token_noise, vocab, self.data_seed)
        return {
            "vocab_size": vocab,
            "train_inputs": inputs.to(self.device),
            "train_targets": ids["train"].to(self.device),
            "val": self._eval_ids(ids["valid"]).to(self.device),
            "test": self._eval_ids(ids["test"]).to(self.device),
            "unigram_perplexity": wt.unigram_perplexity(ids["train"], ids["valid"], vocab),
            "tokens": {split: len(v) for split, v in ids.items()},
        }

    def _eval_ids(self, ids: torch.Tensor) -> torch.Tensor:
        limit = self.preset.eval_tokens
        return ids if limit is None else ids[: limit + 1]

    def build_model(self) -> nn.Module:
        vocab = -(-self.data["vocab_size"] // 64) * 64  # padded for faster matmuls
        config = GPTConfig(
            vocab_size=vocab,
            block_size=self.preset.context,
            n_layer=self.preset.n_layer,
            n_head=self.preset.n_head,
            n_embd=self.preset.n_embd,
        )
        return GPT(config).to(self.device)

    def _stream(self, seed: int, stream: int) -> BatchStream:
        inputs, targets = self.data["train_inputs"], self.data["train_targets"]
        context = self.preset.context
        offsets = torch.arange(context, device=self.device)

        def make_batch(index: torch.Tensor):
            starts = (index.to(self.device) * context)[:, None] + offsets  # (B, T)
            return inputs[starts], targets[starts + 1]

        windows = (len(targets) - 1) // context
        return BatchStream(windows, self.preset.batch_size, seed, make_batch, stream)

    def train_stream(self, seed: int) -> BatchStream:
        return self._stream(seed, stream=0)

    def warm_stream(self, seed: int) -> BatchStream:
        return self._stream(seed, stream=1)

    def batches_per_unit(self) -> int:
        return self.preset.batches_per_unit

    def _ood_ids(self) -> torch.Tensor:
        """The out-of-domain split (``OUT_OF_DOMAIN_NOTE``), loaded on first use only."""
        if "ood" not in self.data:
            from ohgw.datasets import wikitext as wt

            texts = wt.small_wikitext2_splits() if self.preset.small else None
            texts = texts or wt.read_wikitext_dir(self.data_dir)
            tokenizer = wt.train_tokenizer(texts["train"], self.preset.vocab_size, self.cache_dir)
            ids = wt.encode(tokenizer, wt.out_of_domain_text())
            self.data["ood"] = self._eval_ids(ids).to(self.device)
        return self.data["ood"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Literal["val", "test", "ood"] = "val") -> float:
        """Perplexity per token on consecutive, non-overlapping windows of the split.

        ``"ood"`` is the out-of-domain text (tiny-shakespeare), as many tokens as the others.
        """
        ids = self._ood_ids() if split == "ood" else self.data[split]
        context = self.preset.context
        windows = (len(ids) - 1) // context
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            for first in range(0, windows, 64):
                rows = torch.arange(first, min(first + 64, windows), device=self.device)
                starts = (rows * context)[:, None] + torch.arange(context, device=self.device)
                logits = model(ids[starts]).float()
                nll = F.cross_entropy(logits.transpose(1, 2), ids[starts + 1], reduction="sum")
                total, count = total + nll.item(), count + starts.numel()
        model.train(was_training)
        mean = total / count
        return math.exp(mean) if mean < 700 else math.inf

    @property
    def worst_metric(self) -> float:
        return float(self.data["vocab_size"])  # a uniform guess

    @property
    def default_tau(self) -> float:
        return self.preset.tau

    def describe(self) -> dict[str, Any]:
        from ohgw.datasets.wikitext import SMALL_PRESET_NOTE

        p = self.preset
        return {
            **super().describe(),
            "preset": self.preset_name,
            "data": SMALL_PRESET_NOTE if p.small else "WikiText-103 from " + str(self.data_dir),
            "model": f"GPT {p.n_layer} layers, {p.n_embd} dims, {p.n_head} heads",
            "context": p.context,
            "bpe_vocab_size": self.data["vocab_size"],
            "tokens": self.data["tokens"],
            "unigram_perplexity": self.data["unigram_perplexity"],
            "token_noise": self.token_noise,
        }


def full(**options: Any) -> WikiTextBenchmark:
    """The ``wikitext-full`` preset (registered in ``ohgw.benchmarks.base.BUILTIN``)."""
    return WikiTextBenchmark(preset="full", **options)


def mini(**options: Any) -> WikiTextBenchmark:
    """The ``wikitext-mini`` preset (registered in ``ohgw.benchmarks.base.BUILTIN``)."""
    return WikiTextBenchmark(preset="mini", **options)
