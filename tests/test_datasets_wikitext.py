"""WikiText data layer: real WikiText-2 splits, cached BPE, batches, token noise, unigram floor."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ohgw.datasets.wikitext import EOS
from ohgw.datasets.wikitext import SMALL_PRESET_NOTE
from ohgw.datasets.wikitext import count_words
from ohgw.datasets.wikitext import encode
from ohgw.datasets.wikitext import lm_batches
from ohgw.datasets.wikitext import num_windows
from ohgw.datasets.wikitext import read_wikitext_dir
from ohgw.datasets.wikitext import small_wikitext2_splits
from ohgw.datasets.wikitext import token_noise
from ohgw.datasets.wikitext import train_tokenizer
from ohgw.datasets.wikitext import unigram_perplexity
from ohgw.datasets.wikitext import word_perplexity
from ohgw.paths import find

VOCAB = 1024


@pytest.fixture(scope="module")
def splits() -> dict[str, str]:
    return small_wikitext2_splits()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tokenizers")


@pytest.fixture(scope="module")
def tokenizer(splits: dict[str, str], cache_dir: Path):
    return train_tokenizer(splits["train"], VOCAB, cache_dir)


@pytest.fixture(scope="module")
def train_ids(tokenizer, splits: dict[str, str]) -> torch.Tensor:
    return encode(tokenizer, splits["train"])


def test_small_preset_splits(splits: dict[str, str]) -> None:
    assert "WikiText-2 valid" in SMALL_PRESET_NOTE
    assert all(splits[name].strip() for name in ("train", "valid", "test"))
    assert splits["train"] == find("wikitext-2/valid.txt").read_text(encoding="utf-8")
    test_text = find("wikitext-2/test.txt").read_text(encoding="utf-8")
    assert splits["valid"] + splits["test"] == test_text
    valid_lines, test_lines = splits["valid"].splitlines(), splits["test"].splitlines()
    assert valid_lines + test_lines == test_text.splitlines()
    assert abs(len(valid_lines) - len(test_lines)) <= 1


def test_count_words_matches_wikitext2_documented_sizes(splits: dict[str, str]) -> None:
    assert count_words(splits["train"]) == 217_646
    assert count_words(splits["valid"] + splits["test"]) == 245_569
    assert count_words(splits["valid"]) + count_words(splits["test"]) == 245_569
    assert count_words(" a b \n\n c \n") == 3 + 1 + 2
    assert word_perplexity(3 * math.log(5.0), " a b \n") == pytest.approx(5.0)


def test_read_wikitext_dir(tmp_path: Path, splits: dict[str, str]) -> None:
    for name, text in splits.items():
        (tmp_path / f"wiki.{name}.tokens").write_text(text, encoding="utf-8")
    assert read_wikitext_dir(tmp_path) == splits
    (tmp_path / "wiki.valid.tokens").unlink()
    with pytest.raises(FileNotFoundError, match=r"wiki\.valid\.tokens") as error:
        read_wikitext_dir(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_tokenizer_round_trips_real_lines(tokenizer, splits: dict[str, str]) -> None:
    assert tokenizer.get_vocab_size() == VOCAB
    eos = tokenizer.token_to_id(EOS)
    lines = [line for line in splits["valid"].splitlines() if line.strip()][:20]
    lines += [" ", " = = Heading = = ", " naïve café – 1 @,@ 000 <unk> . "]
    for line in lines:
        ids = tokenizer.encode(line).ids
        assert ids[-1] == eos and eos not in ids[:-1]
        # No normalisation and byte-level BPE: exact round trip, spaces included.
        assert tokenizer.decode(ids) == line


def test_encode_adds_one_eos_per_line(tokenizer, train_ids: torch.Tensor, splits) -> None:
    assert train_ids.dtype == torch.long
    eos = tokenizer.token_to_id(EOS)
    assert int((train_ids == eos).sum()) == len(splits["train"].splitlines())
    assert train_ids[-1] == eos
    assert count_words(splits["train"]) < len(train_ids)  # a small vocab splits words


def test_tokenizer_cache_and_determinism(splits: dict[str, str], tmp_path: Path) -> None:
    text = splits["train"][:200_000]
    first = train_tokenizer(text, 512, tmp_path / "a")
    (path,) = (tmp_path / "a").glob("*.json")
    stamp = path.stat().st_mtime_ns
    again = train_tokenizer(text, 512, tmp_path / "a")
    assert path.stat().st_mtime_ns == stamp and len(list((tmp_path / "a").iterdir())) == 1
    assert again.get_vocab() == first.get_vocab()
    retrained = train_tokenizer(text, 512, tmp_path / "b")
    assert retrained.to_str() == first.to_str()
    assert retrained.get_vocab() == first.get_vocab()
    train_tokenizer(text, 600, tmp_path / "a")
    train_tokenizer(text + " x \n", 512, tmp_path / "a")
    assert len(list((tmp_path / "a").glob("*.json"))) == 3


@pytest.mark.parametrize("damage", ["truncated", "another tokenizer"])
def test_a_damaged_or_foreign_cached_tokenizer_is_trained_again(
    tmp_path: Path, damage: str
) -> None:
    """The cache trusted any file at its path: a half-written one (an older version wrote it in
    place) failed every later run; another tokenizer's file would have been used."""
    text = " a b c \n a b \n a c \n"
    good = train_tokenizer(text, 300, tmp_path)
    (path,) = tmp_path.glob("*.json")
    if damage == "truncated":
        path.write_text(path.read_text()[:500])
    else:
        path.write_text(
            train_tokenizer(text, 300, tmp_path / "other").to_str().replace(EOS, "<x>")
        )
    with pytest.warns(UserWarning, match="cannot be used .* training it again"):
        again = train_tokenizer(text, 300, tmp_path)
    assert again.to_str() == good.to_str() and path.read_text() == good.to_str(pretty=True)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [path.name]  # no partial left


def test_tokenizer_default_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OHGW_CACHE_DIR", str(tmp_path))
    train_tokenizer(" a b c \n a b \n", 300)
    assert len(list((tmp_path / "tokenizers").glob("*.json"))) == 1


def test_lm_batches_shapes_shift_and_order(train_ids: torch.Tensor) -> None:
    ids = train_ids[:5_000]
    context, batch_size = 64, 8
    count = num_windows(len(ids), context)
    assert count == (len(ids) - 1) // context
    batches = list(lm_batches(ids, batch_size, context, shuffle=False))
    assert len(batches) == count // batch_size
    for inputs, targets in batches:
        assert inputs.shape == targets.shape == (batch_size, context)
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
    inputs, targets = batches[0]
    assert torch.equal(inputs[1], ids[context : 2 * context])
    assert torch.equal(targets[1], ids[context + 1 : 2 * context + 1])

    assert list(lm_batches(ids[:context], batch_size, context, drop_last=False)) == []
    every = list(lm_batches(ids, batch_size, context, shuffle=False, drop_last=False))
    all_targets = torch.cat([t.reshape(-1) for _, t in every])
    assert torch.equal(all_targets, ids[1 : count * context + 1])

    def run(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [x for x, _ in lm_batches(ids, batch_size, context, generator=generator)]

    assert all(torch.equal(a, b) for a, b in zip(run(0), run(0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(run(0), run(1), strict=True))
    assert not torch.equal(torch.cat(run(0)), torch.cat([x for x, _ in batches]))
    generator = torch.Generator().manual_seed(0)
    shuffled = lm_batches(ids, batch_size, context, generator=generator, drop_last=False)
    rows = sorted(tuple(row.tolist()) for x, _ in shuffled for row in x)
    assert rows == sorted(tuple(row.tolist()) for x, _ in every for row in x)


def test_token_noise(train_ids: torch.Tensor) -> None:
    original = train_ids.clone()
    noisy = token_noise(train_ids, 0.15, VOCAB, seed=3)
    assert torch.equal(train_ids, original)  # a new tensor; the input is untouched
    changed = noisy != train_ids
    assert int(changed.sum()) == round(0.15 * len(train_ids))
    assert abs(float(changed.double().mean()) - 0.15) < 0.01
    assert noisy.dtype == torch.long and int(noisy.min()) >= 0 and int(noisy.max()) < VOCAB
    assert torch.equal(noisy, token_noise(train_ids, 0.15, VOCAB, seed=3))
    assert not torch.equal(noisy, token_noise(train_ids, 0.15, VOCAB, seed=4))
    assert torch.equal(token_noise(train_ids, 0.0, VOCAB, seed=3), train_ids)
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="`rate`"):
            token_noise(train_ids, rate, VOCAB, seed=0)


def test_unigram_perplexity_by_hand() -> None:
    train = torch.tensor([0, 0, 1])
    evaluation = torch.tensor([0, 2])
    # Add-one counts 3, 2, 1 over 3 + 3 = 6: p(0) = 1/2, p(2) = 1/6.
    expected = math.exp(-(math.log(1 / 2) + math.log(1 / 6)) / 2)
    assert unigram_perplexity(train, evaluation, 3) == pytest.approx(expected, rel=1e-12)
    assert unigram_perplexity(train, evaluation, 3) == pytest.approx(math.sqrt(12), rel=1e-12)
    with pytest.raises(ValueError):
        unigram_perplexity(train, torch.tensor([3]), 3)


def test_unigram_perplexity_on_real_data(tokenizer, train_ids, splits) -> None:
    valid_ids = encode(tokenizer, splits["valid"])
    ppl = unigram_perplexity(train_ids, valid_ids, tokenizer.get_vocab_size())
    assert 100 < ppl < tokenizer.get_vocab_size()


def test_a_damaged_text_file_is_named_with_both_checksums(tmp_path, monkeypatch) -> None:
    import hashlib

    from ohgw.datasets.wikitext import SHA256
    from ohgw.datasets.wikitext import check_wikitext
    from ohgw.paths import DataError

    good = find("wikitext-2/valid.txt").read_bytes()
    bad = tmp_path / "wikitext-2" / "valid.txt"
    bad.parent.mkdir()
    bad.write_bytes(good[: len(good) // 2])
    monkeypatch.setenv("OHGW_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as error:
        check_wikitext()
    message = str(error.value)
    assert str(bad) in message and SHA256["wikitext-2/valid.txt"] in message
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in message
    assert "wiki.valid.tokens" in message
