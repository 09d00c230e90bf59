"""ohgw.datasets.cifar10_bundle (scripts/gpu_bundle.py): the GPU data bundle is lossless and
refuses a damaged part."""

from __future__ import annotations

import lzma
from pathlib import Path

import numpy as np
import pytest

from ohgw.datasets import cifar10_bundle as gpu_bundle


def _source(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 7).astype(np.uint8),
        "y_test": rng.integers(0, 10, 5).astype(np.uint8),
        "exact_train": np.array([True] * 6 + [False]),
        "exact_test": np.ones(5, bool),
    }
    path = tmp_path / "src.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_residual_round_trip_is_exact_at_the_extremes() -> None:
    images = np.array([[[[0, 255, 7]] * 32] * 32, [[[255, 0, 128]] * 32] * 32], dtype=np.uint8)
    images[0, 5, 9] = [255, 255, 255]
    assert np.array_equal(gpu_bundle.undo_residual(gpu_bundle.residual(images)), images)


def test_pack_then_unpack_gives_the_source_arrays(tmp_path: Path) -> None:
    source, arrays = _source(tmp_path)
    gpu_bundle.pack(source, tmp_path / "b", parts=3, images=None)
    rebuilt = np.load(gpu_bundle.unpack(tmp_path / "b"))
    for key, value in arrays.items():
        assert rebuilt[key].dtype == value.dtype
        assert np.array_equal(rebuilt[key], value), key


def test_a_changed_part_is_refused(tmp_path: Path) -> None:
    source, _ = _source(tmp_path)
    gpu_bundle.pack(source, tmp_path / "b", parts=2, images=None)
    part = tmp_path / "b" / "part-1.xz"
    data = bytearray(lzma.decompress(part.read_bytes()))
    data[3] ^= 1
    part.write_bytes(lzma.compress(bytes(data)))
    with pytest.raises(SystemExit, match="differ from the source"):
        gpu_bundle.unpack(tmp_path / "b")
    (tmp_path / "b" / "part-0.xz").unlink()
    with pytest.raises(SystemExit, match=r"parts \[0\] are not in"):
        gpu_bundle.unpack(tmp_path / "b")


def test_a_part_over_the_limit_is_refused_with_a_count_that_fits(tmp_path, monkeypatch) -> None:
    source, arrays = _source(tmp_path)
    monkeypatch.setattr(gpu_bundle, "MAX_PART_MIB", 1e-3)  # about 1 KiB
    with pytest.raises(SystemExit, match=r"part-0.xz would be .* MiB, over .*--parts \d+"):
        gpu_bundle.pack(source, tmp_path / "b", parts=1, images=None)
    monkeypatch.undo()
    gpu_bundle.pack(source, tmp_path / "c", parts=1, images=5, test_images=2, level=0)
    rebuilt = np.load(gpu_bundle.unpack(tmp_path / "c"))
    assert rebuilt["x_train"].shape[0] == 5 and rebuilt["x_test"].shape[0] == 2
    assert np.array_equal(rebuilt["y_train"], arrays["y_train"][:5])
