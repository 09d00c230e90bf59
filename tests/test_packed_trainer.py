"""Packed trials: transparency (a trial's numbers do not depend on its pack-mates or slot),
agreement with the unpacked trial runner, checkpoints either way, NaN containment."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG as CIFAR_CONFIG
from ohgw.benchmarks.cifar10 import Cifar10Benchmark
from ohgw.benchmarks.wikitext import DEFAULT_CONFIG as LM_CONFIG
from ohgw.benchmarks.wikitext import WikiTextBenchmark
from ohgw.packed import PackedTrainer
from ohgw.packed import evaluation
from ohgw.trial import CHECKPOINT_FILE
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial

CIFAR = {"train_size": 64, "val_size": 50, "test_size": 50, "width": 4, "blocks_per_stage": 1}
CIFAR = {**CIFAR, "batch_size": 16}
LM = {"n_layer": 1, "n_head": 2, "n_embd": 16, "context": 8, "vocab_size": 300}
LM = {**LM, "batch_size": 4, "batches_per_unit": 3, "eval_tokens": 256}
TIMING = {"compute_seconds", "warm_seconds", "peak_memory_bytes"}


class Cifar64(Cifar10Benchmark):
    """The CIFAR benchmark in float64 (model and images)."""

    def build_model(self):
        return super().build_model().double()

    def _load(self):  # the float32 benchmark's images, loaded once
        return {k: (x.double(), y) for k, (x, y) in bench("cifar10", torch.float32).data.items()}


class WikiText64(WikiTextBenchmark):
    def build_model(self):
        return super().build_model().double()


BENCHMARKS = {
    ("cifar10", torch.float32): lambda: Cifar10Benchmark("mini", **CIFAR),
    ("cifar10", torch.float64): lambda: Cifar64("mini", **CIFAR),
    ("wikitext", torch.float32): lambda: WikiTextBenchmark("mini", **LM),
    ("wikitext", torch.float64): lambda: WikiText64("mini", **LM),
}
_BUILT: dict = {}


def bench(name: str, dtype: torch.dtype):
    if (name, dtype) not in _BUILT:
        _BUILT[name, dtype] = BENCHMARKS[name, dtype]()
    return _BUILT[name, dtype]


NO_WARM = WarmStartSettings(mode="none")  # packing does not touch the warm start: faster tests


def spec(name: str, seed: int, tmp_path=None, **kwargs) -> TrialSpec:
    config = dict(CIFAR_CONFIG if name == "cifar10" else LM_CONFIG)
    config.update(kwargs.pop("config", {}))
    base = {
        "benchmark": f"{name}-mini",
        "config": config,
        "seed": seed,
        "max_resource": 2,
        "warm_start": WarmStartSettings(mode="gradient", eta_h=0.05),
        "benchmark_options": CIFAR if name == "cifar10" else LM,
        "checkpoint_dir": None if tmp_path is None else str(tmp_path / f"{name}-{seed}"),
    }
    return TrialSpec(**{**base, **kwargs})


def deterministic(rows):
    """Rows without their measured fields; NaN as a string, so that equal rows compare equal."""
    nan = lambda v: "nan" if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [{k: nan(v) for k, v in row.items() if k not in TIMING} for row in rows]


def checkpoint(spec: TrialSpec) -> dict:
    return torch.load(f"{spec.checkpoint_dir}/{CHECKPOINT_FILE}", weights_only=False)


def tensors(payload: dict) -> dict[str, torch.Tensor]:
    """The model's tensors and the optimizer's state tensors of a checkpoint, by name."""
    out = {f"model.{k}": v for k, v in payload["model"].items()}
    for index, state in payload["optimizer"]["state"].items():
        out.update({f"opt.{index}.{k}": torch.as_tensor(v) for k, v in state.items()})
    return out


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("name", ["cifar10", "wikitext"])
def test_a_trial_does_not_depend_on_its_pack_mates_or_slot(name, dtype, tmp_path) -> None:
    benchmark = bench(name, dtype)
    mates = {"lr": 0.5} if name == "cifar10" else {"lr": 0.02}
    # Trial 7 in slot 0 next to two others, then in slot 2 next to one other (one pad slot).
    first = PackedTrainer(benchmark, 3).run(
        [
            spec(name, 7, tmp_path / "a"),
            spec(name, 8, tmp_path / "a", warm_start=NO_WARM),
            spec(name, 9, tmp_path / "a", config=mates, warm_start=NO_WARM),
        ]
    )
    second = PackedTrainer(benchmark, 3).run(
        [
            spec(name, 11, tmp_path / "b", config=mates, warm_start=NO_WARM),
            spec(name, 8, tmp_path / "c", warm_start=NO_WARM),
            spec(name, 7, tmp_path / "b"),
        ]
    )
    assert deterministic(first[0]) == deterministic(second[2])
    assert deterministic(first[1]) == deterministic(second[1])
    a, b = (
        tensors(checkpoint(spec(name, 7, tmp_path / "a"))),
        tensors(checkpoint(spec(name, 7, tmp_path / "b"))),
    )
    assert a.keys() == b.keys() and any(k.startswith("opt.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert first[0] != first[1]  # the pack-mates really differ


def _assert_close_rows(packed, unpacked, rtol) -> None:
    assert len(packed) == len(unpacked)
    for p, u in zip(deterministic(packed), deterministic(unpacked), strict=True):
        assert p.keys() == u.keys()
        for key, value in u.items():
            if isinstance(value, float):
                assert p[key] == pytest.approx(value, rel=rtol, abs=1e-12), key
            elif not isinstance(value, float):
                assert p[key] == value, key


@pytest.mark.parametrize("name", ["cifar10", "wikitext"])
def test_packed_agrees_with_unpacked_in_float64(name, tmp_path) -> None:
    benchmark = bench(name, torch.float64)
    specs = [spec(name, s, tmp_path / "packed") for s in (1, 2)]
    packed = PackedTrainer(benchmark, 4).run(specs)
    for s, rows in zip((1, 2), packed, strict=True):
        unpacked_spec = spec(name, s, tmp_path / "unpacked")
        unpacked = run_trial(unpacked_spec, benchmark=benchmark)
        _assert_close_rows(rows, unpacked, 1e-9)
        # the warm start is the same call: its record is identical
        assert rows[0]["warm_flops"] == unpacked[0]["warm_flops"] > 0
        assert {k: v for k, v in rows[0].items() if k.startswith(("psi", "hp."))} == {
            k: v for k, v in unpacked[0].items() if k.startswith(("psi", "hp."))
        }
        a, b = tensors(checkpoint(specs[s - 1])), tensors(checkpoint(unpacked_spec))
        assert a.keys() == b.keys()
        for key in a:
            if a[key].is_floating_point():
                torch.testing.assert_close(a[key], b[key], rtol=1e-9, atol=1e-12)
            else:
                assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", ["cifar10", "wikitext"])
def test_a_unit_resumes_packed_or_unpacked_either_way(name, tmp_path) -> None:
    benchmark = bench(name, torch.float64)
    straight = run_trial(spec(name, 4, max_resource=3), benchmark=benchmark)
    mixed = spec(name, 4, tmp_path, max_resource=1)
    PackedTrainer(benchmark, 2).run([mixed])  # unit 1 packed
    run_trial(spec(name, 4, tmp_path, max_resource=2), benchmark=benchmark)  # unit 2 unpacked
    rows = PackedTrainer(benchmark, 2).run([spec(name, 4, tmp_path, max_resource=3)])[0]
    # a run to max_resource=1 stored its row 1 as "completed", as run_trial does
    assert [r["status"] for r in rows] == ["completed", "completed", "completed"]
    _assert_close_rows(
        [{**r, "status": "-"} for r in rows], [{**r, "status": "-"} for r in straight], 1e-9
    )
    assert rows[-1]["train_flops"] > 0


def test_a_diverged_trial_is_reported_as_unpacked_and_spares_its_mates(tmp_path) -> None:
    benchmark = bench("cifar10", torch.float64)
    poisoned = spec("cifar10", 5, tmp_path / "p", max_resource=1, warm_start=NO_WARM)
    run_trial(poisoned, benchmark=benchmark)
    payload = checkpoint(poisoned)
    payload["model"]["fc.weight"][0, 0] = math.nan
    torch.save(payload, f"{poisoned.checkpoint_dir}/{CHECKPOINT_FILE}")
    path = tmp_path / "p" / "cifar10-5"
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "cifar10-5").mkdir()
    (tmp_path / "u" / "cifar10-5" / CHECKPOINT_FILE).write_bytes(
        (path / CHECKPOINT_FILE).read_bytes()
    )
    alone = PackedTrainer(benchmark, 2).run(
        [spec("cifar10", 6, tmp_path / "alone", max_resource=3, warm_start=NO_WARM)]
    )
    packed = PackedTrainer(benchmark, 2).run(
        [
            spec("cifar10", 5, tmp_path / "p", max_resource=3, warm_start=NO_WARM),
            spec("cifar10", 6, tmp_path / "m", max_resource=3, warm_start=NO_WARM),
        ]
    )
    unpacked = run_trial(
        spec("cifar10", 5, tmp_path / "u", max_resource=3, warm_start=NO_WARM), benchmark=benchmark
    )
    assert [r["status"] for r in packed[0]] == ["completed", "diverged"]
    assert deterministic(packed[0]) == deterministic(unpacked)
    assert deterministic(packed[1]) == deterministic(alone[0])  # the mate is untouched
    assert packed[1][-1]["status"] == "completed"


def test_bad_width_and_shared_folders_are_refused(tmp_path) -> None:
    benchmark = bench("cifar10", torch.float32)
    with pytest.raises(ValueError, match="`width` is 0"):
        PackedTrainer(benchmark, 0)
    with pytest.raises(ValueError, match="share a `checkpoint_dir`"):
        PackedTrainer(benchmark, 2).run([spec("cifar10", 1, tmp_path)] * 2)


def _suggests_channels_last(x: torch.Tensor) -> bool:
    """c10's ``is_channels_last_strides_2d_s4``: whether ``suggest_memory_format`` says
    channels_last for a 4-D tensor's (under vmap: its per-slot) sizes and strides."""
    sizes, strides = x.shape, x.stride()
    if x.dim() != 4 or strides[1] == 0:
        return False
    smallest = 0
    for d in (1, 3, 2, 0):
        if sizes[d] == 0 or strides[d] < smallest or (d == 0 and smallest == strides[1]):
            return False
        smallest = strides[d] * (sizes[d] if sizes[d] > 1 else 1)
    return True


def _cudnn_batch_norm(batch_norm):
    """``F.batch_norm`` as it runs on CUDA: cuDNN's entry (``_batch_norm_impl_index``) first
    makes the input contiguous in the memory format that its strides suggest. Under ``vmap`` a
    channels_last clone is not implemented ("NYI: Tensor.clone(memory_format) inside vmap ..."):
    the packed path's crash on an H200 (2026-12-04). The CPU kernel skips that step, so on a CPU
    the crash shows only with this step run in front of it."""

    def cuda_like(input, *args, **kwargs):
        if _suggests_channels_last(input):
            input = input.contiguous(memory_format=torch.channels_last)
        return batch_norm(input, *args, **kwargs)

    return cuda_like


def test_a_channels_last_benchmark_packs_as_cuda_runs_batch_norm(monkeypatch) -> None:
    options = {**CIFAR, "channels_last": True}  # the CUDA branch of the benchmark, on the CPU
    benchmark = Cifar10Benchmark("mini", **options)
    assert benchmark.data["train"][0].is_contiguous(memory_format=torch.channels_last)
    assert benchmark.build_model().conv.weight.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(torch.nn.functional, "batch_norm", _cudnn_batch_norm(F.batch_norm))
    specs = [spec("cifar10", s, warm_start=NO_WARM, benchmark_options=options) for s in (1, 2)]
    rows = PackedTrainer(benchmark, 3).run(specs)
    plain = PackedTrainer(bench("cifar10", torch.float32), 3).run(
        [spec("cifar10", s, warm_start=NO_WARM) for s in (1, 2)]
    )
    for got, want in zip(rows, plain, strict=True):
        assert deterministic(got) == deterministic(want)


@pytest.mark.parametrize("device_items", [256, 8192], ids=["cpu-chunks", "gpu-chunks"])
def test_the_pack_evaluator_scores_each_slot_as_evaluate_does(device_items, monkeypatch) -> None:
    monkeypatch.setitem(evaluation.EVAL_ITEMS, "cpu", device_items)
    benchmark = bench("cifar10", torch.float32)
    models = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        models.append(benchmark.build_model().eval())
    with torch.no_grad():  # running statistics away from their initial values
        for model in models:
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
    params, buffers = torch.func.stack_module_state([*models, models[0]])
    forward = torch.func.vmap(
        lambda p, b, x: torch.func.functional_call(models[0], (p, b), (x,)), in_dims=(0, 0, None)
    )
    evaluator = evaluation.pack_evaluator(benchmark)
    for split in ("val", "test"):
        with torch.no_grad():
            scores = evaluator(benchmark, lambda x: forward(params, buffers, x), split, 4)
        expected = [benchmark.evaluate(model, split) for model in models]
        assert scores == [*expected, expected[0]]
    assert len(set(expected)) > 1  # the models really differ
