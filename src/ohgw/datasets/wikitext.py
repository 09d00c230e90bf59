"""WikiText for the language-modelling benchmark: splits, a cached byte-level BPE, batches, noise.

Two perplexities can be reported. Token perplexity, ``exp(NLL / number of BPE tokens)``, depends
on the tokenizer (its vocabulary size above all). Word perplexity, ``exp(NLL / count_words(text))``
with the same total NLL over the split, counts WikiText's words plus one ``<eos>`` per line, so it
is comparable across tokenizers and with published WikiText numbers.

The tokenizer keeps the text as it is (no normalisation; byte-level, so every string round-trips
exactly) and appends one ``<eos>`` per line, WikiText's convention. BPE training in ``tokenizers``
0.23 gave the identical vocabulary with 1, 2, 8 and 16 rayon threads, so no thread setting is
forced; the cache key holds the ``tokenizers`` version in case a release changes that.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import tokenizers
import torch
from tokenizers import Tokenizer
from tokenizers import decoders
from tokenizers import models
from tokenizers import pre_tokenizers
from tokenizers import processors
from tokenizers import trainers

from ohgw.paths import DataError
from ohgw.paths import default_cache_dir
from ohgw.paths import find
from ohgw.store.files import write_whole

SPLITS = ("train", "valid", "test")
SMALL_PRESET_NOTE = "trained on WikiText-2 valid; test split in halves for validation and test"
OUT_OF_DOMAIN_NOTE = (
    "out of domain: tiny-shakespeare (Early Modern English verse and dialogue, not encyclopaedia "
    "prose), encoded with the BPE trained on the WikiText training split; perplexity per BPE token"
)
EOS = "<eos>"
SHA256 = {
    "wikitext-2/valid.txt": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    "wikitext-2/test.txt": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
    "tinyshakespeare/input.txt": (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    ),
}
"""SHA-256 of the small files (the shared data's ``SHA256SUMS``): WikiText-2 v1's tokenized
``wiki.valid.tokens`` and ``wiki.test.tokens``, and tiny-shakespeare's ``input.txt``."""
ORIGINS = {
    "wikitext-2/valid.txt": "wiki.valid.tokens of WikiText-2 (v1, tokenized)",
    "wikitext-2/test.txt": "wiki.test.tokens of WikiText-2 (v1, tokenized)",
    "tinyshakespeare/input.txt": "input.txt of karpathy/char-rnn's tinyshakespeare",
}
TOKENIZER_SETTINGS = {
    "model": "BPE",
    "pre_tokenizer": "ByteLevel(add_prefix_space=False, use_regex=True)",
    "normalizer": None,
    "special_tokens": [EOS],
    "post_processor": f"$A {EOS}",
    "tokenizers": tokenizers.__version__,
}


def read_wikitext_dir(directory: str | Path) -> dict[str, str]:
    """The ``train``, ``valid`` and ``test`` texts of a WikiText folder (``wiki.*.tokens``)."""
    directory = Path(directory)
    texts = {}
    for split in SPLITS:
        path = directory / f"wiki.{split}.tokens"
        if not path.is_file():
            raise FileNotFoundError(f"The WikiText file {path.name} is missing from {directory}.")
        texts[split] = path.read_text(encoding="utf-8")
    return texts


def small_wikitext2_splits() -> dict[str, str]:
    """The small preset: see ``SMALL_PRESET_NOTE`` (only WikiText-2 valid and test are here).

    ``test.txt`` is cut at the line boundary after the first half of its lines, so
    ``valid + test`` is exactly ``test.txt``.
    """
    train = read_checked("wikitext-2/valid.txt")
    lines = read_checked("wikitext-2/test.txt").splitlines(keepends=True)
    half = len(lines) // 2
    return {"train": train, "valid": "".join(lines[:half]), "test": "".join(lines[half:])}


def out_of_domain_text() -> str:
    """The out-of-domain evaluation text (``OUT_OF_DOMAIN_NOTE``): tiny-shakespeare, whole."""
    return read_checked("tinyshakespeare/input.txt")


def read_checked(relative: str) -> str:
    """The text of a small data file (a key of ``SHA256``), checked against its SHA-256.

    A :class:`DataError` names a missing file (and where it was looked for) or a file whose
    checksum differs (both checksums, and what the good copy is)."""
    try:
        path = find(relative)
    except FileNotFoundError as error:
        raise DataError(
            f"{error} It is {ORIGINS[relative]} (SHA-256 {SHA256[relative]})."
        ) from None
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256[relative]:
        raise DataError(
            f"The data file {path} is damaged or another text: its SHA-256 is {actual}, but must "
            f"be {SHA256[relative]}. Replace it with {ORIGINS[relative]} (`sha256sum -c "
            "SHA256SUMS` in the shared data folder checks a copy), or point OHGW_DATA_DIR at a "
            "folder holding a good one."
        )
    return data.decode("utf-8")


def check_wikitext(small: bool = True, data_dir: str | Path | None = None) -> None:
    """Check the files the benchmark reads, without tokenising them (a :class:`DataError`)."""
    if small:
        for relative in ("wikitext-2/valid.txt", "wikitext-2/test.txt"):
            read_checked(relative)
        return
    for split in SPLITS:
        path = Path(data_dir) / f"wiki.{split}.tokens"
        if not path.is_file():
            raise DataError(f"The WikiText file {path.name} is missing from {data_dir}.")


def count_words(text: str) -> int:
    """Whitespace-separated words plus one ``<eos>`` per line: the divisor of word perplexity."""
    return sum(len(line.split()) + 1 for line in text.splitlines())


def word_perplexity(total_nll: float, text: str) -> float:
    """``exp(total NLL over the split / count_words(text))``, comparable across tokenizers."""
    return math.exp(total_nll / count_words(text))


def _cache_key(text: str, vocab_size: int) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(json.dumps([vocab_size, TOKENIZER_SETTINGS], sort_keys=True).encode())
    return digest.hexdigest()[:24]


def train_tokenizer(text: str, vocab_size: int, cache_dir: str | Path | None = None) -> Tokenizer:
    """A byte-level BPE of ``vocab_size`` entries trained on ``text`` (the training split only).

    Cached as ``cache_dir/<hash>.json``, the hash covering the text, the size and the settings,
    so a second call loads instead of training (default folder: ``default_cache_dir()/
    "tokenizers"``). GPT-2 uses 50257; a small corpus may end with fewer entries than asked for
    (WikiText-2 valid stops near 20k), so read ``get_vocab_size()`` for the model's output size.
    """
    if vocab_size < 258:
        raise ValueError(f"The value of `vocab_size` is {vocab_size}, but must be at least 258.")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "tokenizers"
    path = cache_dir / f"{_cache_key(text, vocab_size)}.json"
    cached = _load_cached(path, vocab_size)
    if cached is not None:
        return cached
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(text.splitlines(), trainer)
    eos_id = tokenizer.token_to_id(EOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", special_tokens=[(EOS, eos_id)]
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_whole(path, tokenizer.to_str(pretty=True).encode("utf-8"))  # as Tokenizer.save
    return tokenizer


def _load_cached(path: Path, vocab_size: int) -> Tokenizer | None:
    """The tokenizer cached at ``path``; None where there is none, or where the file is not one
    that ``train_tokenizer`` writes (unreadable, more entries than asked for, no ``<eos>``
    after each line): that one is said, trained again and replaced, never trusted."""
    if not path.is_file():
        return None
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a plain Exception for a damaged file
        why = f"{type(error).__name__}: {error}"
    else:
        eos = tokenizer.token_to_id(EOS)
        fits = eos is not None and tokenizer.get_vocab_size() <= vocab_size
        if fits and tokenizer.encode("").ids == [eos]:
            return tokenizer
        why = "not a tokenizer that train_tokenizer writes"
    warnings.warn(
        f"The cached tokenizer {path} cannot be used ({why}); training it again.", stacklevel=3
    )
    return None


def encode(tokenizer: Tokenizer, text: str) -> torch.Tensor:
    """The ids of a whole split, one ``<eos>`` after each line (lines are encoded in a batch)."""
    encodings = tokenizer.encode_batch_fast(text.splitlines())
    ids = [i for encoding in encodings for i in encoding.ids]
    return torch.tensor(ids, dtype=torch.long)


def num_windows(len_ids: int, context: int) -> int:
    """How many ``context``-token training windows (plus their next token) a stream holds."""
    if context < 1:
        raise ValueError(f"The value of `context` is {context}, but must be at least 1.")
    return max(len_ids - 1, 0) // context


def lm_batches(
    ids: torch.Tensor,
    batch_size: int,
    context: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, targets)`` of shape ``(batch_size, context)``, targets shifted by one token.

    Window ``k`` is ``ids[k*context : (k+1)*context + 1]``: inputs never overlap and every token
    after the first is a target exactly once, so summed losses cover the split once (word
    perplexity). Order is a ``randperm`` of ``generator`` when ``shuffle``, else sequential. A
    last, smaller batch is yielded only when ``drop_last`` is false (evaluation).
    """
    if batch_size < 1:
        raise ValueError(f"The value of `batch_size` is {batch_size}, but must be at least 1.")
    count = num_windows(len(ids), context)
    if count == 0:
        return
    windows = ids[: count * context + 1].unfold(0, context + 1, context)
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    stop = count - count % batch_size if drop_last else count
    for start in range(0, stop, batch_size):
        chunk = windows[order[start : start + batch_size]]
        yield chunk[:, :-1], chunk[:, 1:]


def token_noise(ids: torch.Tensor, rate: float, vocab_size: int, seed: int) -> torch.Tensor:
    """A copy of ``ids`` with ``round(rate * N)`` random positions set to a different random id.

    The new id is uniform over the ``vocab_size - 1`` others (a random nonzero shift modulo the
    vocabulary), so exactly that fraction of the stream is corrupted.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"The value of `rate` is {rate}, but must be in [0, 1).")
    if vocab_size < 2:
        raise ValueError(f"The value of `vocab_size` is {vocab_size}, but must be at least 2.")
    if len(ids) and not 0 <= int(ids.min()) <= int(ids.max()) < vocab_size:
        raise ValueError(f"The ids must lie in [0, {vocab_size}), the `vocab_size` given.")
    generator = torch.Generator().manual_seed(seed)
    positions = torch.randperm(len(ids), generator=generator)[: round(rate * len(ids))]
    shift = torch.randint(1, vocab_size, (len(positions),), generator=generator)
    noisy = ids.clone()
    noisy[positions] = (ids[positions] + shift) % vocab_size
    return noisy


def unigram_perplexity(train_ids: torch.Tensor, eval_ids: torch.Tensor, vocab_size: int) -> float:
    """Perplexity of ``eval_ids`` under the add-one unigram fitted on ``train_ids``.

    The floor a language model must beat: it knows token frequencies but no context.
    """
    if len(eval_ids) == 0:
        raise ValueError("The value of `eval_ids` is empty, but must hold at least one id.")
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    if len(counts) > vocab_size or int(eval_ids.max()) >= vocab_size:
        raise ValueError(f"The ids must lie in [0, {vocab_size}), the `vocab_size` given.")
    log_p = counts.log() - math.log(len(train_ids) + vocab_size)
    return math.exp(-float(log_p[eval_ids].mean()))
