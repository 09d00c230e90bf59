"""CIFAR-10 data module: shared npz, a real HTTP download of a small tarball, splits, noise."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ohgw.datasets.checksums import file_digest
from ohgw.datasets.cifar10 import ARCHIVE_NAME
from ohgw.datasets.cifar10 import BATCHES_DIR
from ohgw.datasets.cifar10 import TEST_BATCH
from ohgw.datasets.cifar10 import TRAIN_BATCHES
from ohgw.datasets.cifar10 import load_cifar10_arrays
from ohgw.datasets.cifar10 import stratified_split
from ohgw.datasets.cifar10 import symmetric_label_noise
from ohgw.datasets.cifar10 import to_tensor
from ohgw.paths import find


@pytest.fixture(scope="module")
def shared() -> dict[str, np.ndarray]:
    """The full CIFAR-10 arrays from the project's shared npz."""
    try:
        find("cifar10/cifar10.npz")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return load_cifar10_arrays(download=False)


@pytest.fixture(scope="module")
def small(shared: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A few real images: 2 per training batch (10 in all, one per class), 3 for the test batch."""
    train_idx = np.arange(10) * 5000 + np.arange(10)
    test_idx = np.array([1000 * 3, 1000 * 7 + 5, 1000 * 9 + 2])
    return {
        "x_train": shared["x_train"][train_idx],
        "y_train": shared["y_train"][train_idx],
        "x_test": shared["x_test"][test_idx],
        "y_test": shared["y_test"][test_idx],
    }


def _batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A pickled batch in the canonical layout: channel-major rows of 3072 bytes."""
    batch = {
        b"batch_label": b"test batch",
        b"labels": [int(label) for label in labels],
        b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072).copy(),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=2)


def _batches(arrays: dict[str, np.ndarray]) -> list[tuple[str, bytes]]:
    """Two training images per ``data_batch_i``, all test images in ``test_batch``."""
    parts = [(name, "train", slice(2 * i, 2 * i + 2)) for i, name in enumerate(TRAIN_BATCHES)]
    return [
        (name, _batch_bytes(arrays[f"x_{split}"][rows], arrays[f"y_{split}"][rows]))
        for name, split, rows in [*parts, (TEST_BATCH, "test", slice(None))]
    ]


def _write_tarball(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as a canonical CIFAR-10 python tarball; return its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in _batches(arrays):
            info = tarfile.TarInfo(f"{BATCHES_DIR}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yield the base URL and the requested paths."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reach the local server directly even where an HTTP proxy is configured."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert got[key].dtype == (np.uint8 if key.startswith("x") else np.int64), key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_shared_npz_shapes_and_classes(shared: dict[str, np.ndarray]) -> None:
    assert shared["x_train"].shape == (50000, 32, 32, 3)
    assert shared["x_test"].shape == (10000, 32, 32, 3)
    assert shared["x_train"].dtype == shared["x_test"].dtype == np.uint8
    assert shared["y_train"].shape == (50000,)
    assert shared["y_test"].shape == (10000,)
    for split, per_class in (("train", 5000), ("test", 1000)):
        labels = shared[f"y_{split}"]
        assert labels.dtype == np.int64
        assert labels.min() == 0
        assert labels.max() == 9
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


@pytest.mark.usefixtures("no_proxy")
def test_download_round_trip_then_cache(tmp_path: Path, small: dict[str, np.ndarray]) -> None:
    served, cache, empty = tmp_path / "served", tmp_path / "cache", tmp_path / "empty"
    for folder in (served, empty):
        folder.mkdir()
    md5 = _write_tarball(served / ARCHIVE_NAME, small)
    kwargs = dict(root=empty, cache_dir=cache, md5=md5, use_shared=False, progress=False)
    with _serve(served) as (base, requests):
        url = f"{base}/{ARCHIVE_NAME}"
        got = load_cifar10_arrays(url=url, **kwargs)
        assert requests == [f"/{ARCHIVE_NAME}"]
    _assert_same(got, small)
    # Equal to the NHWC source although the tarball stores channel-major rows.
    assert got["x_train"].shape == (10, 32, 32, 3)
    assert got["x_test"].shape == (3, 32, 32, 3)
    assert sorted(p.name for p in cache.iterdir()) == [ARCHIVE_NAME]
    # The server is gone: the second call must come from the cache.
    _assert_same(load_cifar10_arrays(url=url, **kwargs), small)
    _assert_same(load_cifar10_arrays(url=url, download=False, **kwargs), small)


@pytest.mark.usefixtures("no_proxy")
def test_corrupt_download_raises_and_leaves_nothing(
    tmp_path: Path, small: dict[str, np.ndarray]
) -> None:
    served, cache = tmp_path / "served", tmp_path / "cache"
    served.mkdir()
    md5 = _write_tarball(tmp_path / "good.tar.gz", small)
    bad = b"not a tarball at all" * 100
    (served / ARCHIVE_NAME).write_bytes(bad)
    with _serve(served) as (base, _), pytest.raises(ValueError) as caught:
        load_cifar10_arrays(
            cache_dir=cache, url=f"{base}/{ARCHIVE_NAME}", md5=md5, use_shared=False
        )
    message = str(caught.value)
    assert "MD5 checksum" in message
    assert md5 in message
    assert hashlib.md5(bad).hexdigest() in message
    assert ARCHIVE_NAME in message
    assert "run again" in message
    assert list(cache.iterdir()) == []


def test_root_tarball_folder_and_npz(tmp_path: Path, small: dict[str, np.ndarray]) -> None:
    md5 = _write_tarball(tmp_path / ARCHIVE_NAME, small)
    _assert_same(load_cifar10_arrays(root=tmp_path, md5=md5, download=False), small)
    (tmp_path / BATCHES_DIR).mkdir()
    for name, data in _batches(small):
        (tmp_path / BATCHES_DIR / name).write_bytes(data)
    # Files of these few images: checked against their own checksums, as a caller gives them.
    sums = {name: hashlib.md5(data).hexdigest() for name, data in _batches(small)}
    _assert_same(load_cifar10_arrays(root=tmp_path, batch_md5=sums, download=False), small)
    (tmp_path / "cifar10").mkdir()
    npz = tmp_path / "cifar10" / "cifar10.npz"
    np.savez(npz, **{k: v.astype(np.uint8) for k, v in small.items()})
    sha = file_digest(npz)
    _assert_same(load_cifar10_arrays(root=tmp_path, npz_sha256=sha, download=False), small)


def test_an_npz_is_read_once_then_memory_mapped_from_the_cache(
    tmp_path: Path, small: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OHGW_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cifar10").mkdir()
    npz = tmp_path / "cifar10" / "cifar10.npz"
    np.savez_compressed(npz, **{k: v.astype(np.uint8) for k, v in small.items()})
    load = functools.partial(
        load_cifar10_arrays, root=tmp_path, npz_sha256=file_digest(npz), download=False
    )
    first = load()
    assert not any(isinstance(a, np.memmap) for a in first.values())
    (copy,) = (tmp_path / "cache" / "cifar10-npy").iterdir()
    second = load()
    assert all(isinstance(a, np.memmap) for a in second.values())
    _assert_same(second, small)
    assert second["y_train"].dtype == np.int64
    # A damaged copy is read afresh from the npz and replaced.
    (copy / "x_train.npy").write_bytes(b"not an array")
    _assert_same(load(), small)
    _assert_same(load(), small)
    assert isinstance(load()["x_train"], np.memmap)
    # A changed npz (new size and time) gets a copy of its own.
    np.savez_compressed(npz, **{k: v[:10].astype(np.uint8) for k, v in small.items()})
    assert len(load(npz_sha256=file_digest(npz))["x_train"]) == 10
    assert len(list((tmp_path / "cache" / "cifar10-npy").iterdir())) == 2


def test_nothing_found_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OHGW_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as caught:
        load_cifar10_arrays(root=tmp_path / "root", download=False, use_shared=False)
    message = str(caught.value)
    assert str(tmp_path / "root" / ARCHIVE_NAME) in message
    assert str(tmp_path / "cache" / ARCHIVE_NAME) in message


def test_stratified_split(shared: dict[str, np.ndarray]) -> None:
    labels = shared["y_train"]
    train_idx, val_idx = stratified_split(labels, val_size=5000, seed=0)
    assert len(train_idx) == 45000
    assert len(val_idx) == 5000
    assert np.bincount(labels[val_idx], minlength=10).tolist() == [500] * 10
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.union1d(train_idx, val_idx), np.arange(50000))
    again_train, again_val = stratified_split(labels, val_size=5000, seed=0)
    np.testing.assert_array_equal(again_train, train_idx)
    np.testing.assert_array_equal(again_val, val_idx)
    assert not np.array_equal(stratified_split(labels, val_size=5000, seed=1)[1], val_idx)
    with pytest.raises(ValueError, match="`val_size`"):
        stratified_split(labels, val_size=0)


def test_symmetric_label_noise(shared: dict[str, np.ndarray]) -> None:
    labels = shared["y_train"]
    original = labels.copy()
    noisy = symmetric_label_noise(labels, rate=0.15, seed=0)
    np.testing.assert_array_equal(labels, original)
    flipped = noisy != labels
    assert flipped.sum() == 7500
    assert abs(flipped.mean() - 0.15) < 0.01
    assert noisy.min() >= 0
    assert noisy.max() <= 9
    assert set(np.unique(noisy[flipped & (labels == 3)])) == set(range(10)) - {3}
    np.testing.assert_array_equal(symmetric_label_noise(labels, rate=0.15, seed=0), noisy)
    assert not np.array_equal(symmetric_label_noise(labels, rate=0.15, seed=1), noisy)
    np.testing.assert_array_equal(symmetric_label_noise(labels, rate=0.0), labels)
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="`rate`"):
            symmetric_label_noise(labels, rate=rate)


def test_to_tensor_normalises_training_set(shared: dict[str, np.ndarray]) -> None:
    x = to_tensor(shared["x_train"])
    assert x.shape == (50000, 3, 32, 32)
    assert x.dtype == torch.float32
    assert x.is_contiguous()
    for channel in range(3):
        std, mean = torch.std_mean(x[:, channel])
        assert abs(mean.item()) < 0.01, (channel, mean.item())
        assert abs(std.item() - 1) < 0.01, (channel, std.item())
    # Channel c of pixel (h, w) comes from the NHWC source at [..., h, w, c].
    first = shared["x_train"][0, 5, 7].astype(np.float32) / 255
    expected = (first - np.array([0.4914, 0.4822, 0.4465])) / np.array([0.2470, 0.2435, 0.2616])
    np.testing.assert_allclose(x[0, :, 5, 7].numpy(), expected, atol=1e-5)


def test_bad_cached_tarball_is_deleted(tmp_path: Path) -> None:
    (tmp_path / ARCHIVE_NAME).write_bytes(b"truncated")
    with pytest.raises(ValueError, match=r"MD5 checksum.*deleted"):
        load_cifar10_arrays(cache_dir=tmp_path, download=False, use_shared=False)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_npz_is_named_with_its_checksum_and_the_good_one(tmp_path) -> None:
    from ohgw.datasets.cifar10 import NPZ_SHA256
    from ohgw.datasets.cifar10 import check_cifar10
    from ohgw.paths import DataError

    bad = tmp_path / "cifar10" / "cifar10.npz"
    bad.parent.mkdir()
    arrays = {k: np.zeros(3, dtype=np.uint8) for k in ("x_train", "y_train", "x_test", "y_test")}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    bad.write_bytes(buffer.getvalue()[:200])  # cut short, as `head -c` would
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    for call in (check_cifar10, lambda root: load_cifar10_arrays(root=root, download=False)):
        with pytest.raises(DataError) as error:
            call(tmp_path)
        message = str(error.value)
        assert str(bad) in message and "BadZipFile" in message
        assert actual in message and NPZ_SHA256 in message and "sha256sum -c" in message


def test_no_data_and_no_network_says_where_it_looked(tmp_path, monkeypatch) -> None:
    import ohgw.datasets.cifar10 as module
    from ohgw.paths import DataError

    def nowhere(relative: str):
        raise FileNotFoundError(f"{relative} was not found in any data folder")

    monkeypatch.setattr(module, "find", nowhere)
    monkeypatch.setattr(module, "CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setenv("OHGW_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError) as error:
        module.check_cifar10()
    message = str(error.value)
    assert "looked in: shared data (cifar10/cifar10.npz was not found" in message
    assert str(tmp_path / "cache" / ARCHIVE_NAME) in message
    assert "The download of http://127.0.0.1:9/" in message and "failed" in message
    assert not (tmp_path / "cache" / ARCHIVE_NAME).exists()


# -- issue 28: nothing read can run code or plant data ------------------------------------------


def _code_running_pickle(marker: Path) -> bytes:
    """A pickle whose unpickling creates ``marker`` (it calls ``open(marker, "w")``)."""

    class Planted:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps({b"data": Planted(), b"labels": [0]}, protocol=2)


def test_the_crafted_pickle_would_run_code(tmp_path: Path) -> None:
    """The file the next test plants is effective: unpickled, it creates its marker."""
    marker = tmp_path / "ran"
    pickle.loads(_code_running_pickle(marker)).get(b"data").close()
    assert marker.exists()


def test_a_batch_file_that_would_run_code_is_refused_unread(
    tmp_path: Path, small: dict[str, np.ndarray]
) -> None:
    from ohgw.datasets.cifar10 import check_cifar10
    from ohgw.paths import DataError
    from ohgw.study.config import StudyConfig
    from ohgw.study.runner import run_study
    from problems import TINY_CIFAR

    root, marker = tmp_path / "data", tmp_path / "ran"
    (root / BATCHES_DIR).mkdir(parents=True)
    for name, data in _batches(small):
        (root / BATCHES_DIR / name).write_bytes(data)
    planted = root / BATCHES_DIR / "data_batch_1"
    planted.write_bytes(_code_running_pickle(marker))
    study = StudyConfig(
        directory=str(tmp_path / "study"),
        benchmark_options={**TINY_CIFAR, "data_root": str(root)},
        seeds=1,
        budget=1.0,
    )
    calls = [
        lambda: load_cifar10_arrays(root=root, download=False),
        lambda: check_cifar10(root),
        lambda: run_study(study, progress=False, echo=lambda _: None),  # what a study file does
    ]
    for call in calls:
        with pytest.raises(Exception) as error:  # which one: checked below, after the marker
            call()
        assert not marker.exists(), "the planted batch file ran its code when it was read"
        assert isinstance(error.value, DataError), error.value
        message = str(error.value)
        assert str(planted) in message and "MD5" in message, message
        assert "c99cafc152244af753f735de768cd75f" in message and "not read" in message
    assert not (tmp_path / "study").exists()  # refused before anything was written


def _planted_npz(path: Path, shared: dict[str, np.ndarray]) -> np.ndarray:
    """Real images with shuffled labels at ``path``; returns the planted training labels."""
    rng = np.random.default_rng(0)
    arrays = {k: shared[k][:200].astype(np.uint8) for k in ("x_train", "y_train")}
    arrays |= {k: shared[k][:50].astype(np.uint8) for k in ("x_test", "y_test")}
    arrays["y_train"] = rng.permutation(arrays["y_train"])
    path.parent.mkdir(parents=True)
    np.savez(path, **arrays)
    return arrays["y_train"]


def test_a_planted_npz_under_an_ancestor_shared_data_is_not_used(
    tmp_path: Path, shared: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from /tmp/x, the loader used to take /tmp/shared/data (anyone can write /tmp)."""
    planted = tmp_path / "shared" / "data" / "cifar10" / "cifar10.npz"
    _planted_npz(planted, shared)
    (tmp_path / "x" / "y").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "x" / "y")
    monkeypatch.delenv("OHGW_DATA_DIR", raising=False)
    assert find("cifar10/cifar10.npz") != planted
    got = load_cifar10_arrays(download=False)
    assert len(got["y_train"]) == 50000
    np.testing.assert_array_equal(got["y_train"], shared["y_train"])


def test_a_planted_npz_in_the_data_dir_is_refused(
    tmp_path: Path, shared: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ohgw.datasets.cifar10 import NPZ_SHA256
    from ohgw.datasets.cifar10 import check_cifar10
    from ohgw.paths import DataError

    planted = tmp_path / "data" / "cifar10" / "cifar10.npz"
    _planted_npz(planted, shared)
    monkeypatch.setenv("OHGW_DATA_DIR", str(tmp_path / "data"))
    for call in (lambda: load_cifar10_arrays(download=False), check_cifar10):
        with pytest.raises(DataError) as error:
            call()
        message = str(error.value)
        assert str(planted) in message and "it was not used" in message
        assert file_digest(planted) in message and NPZ_SHA256 in message


def test_a_copy_written_anew_is_taken_by_its_arrays_and_shuffled_labels_are_not(
    tmp_path: Path, small: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scripts/gpu_bundle.py unpack`` writes the arrays into a new npz (another SHA-256): it is
    checked by the arrays' digests. Here the canonical arrays are a few images (digests
    patched), so that the real check runs on a small file."""
    import ohgw.datasets.cifar10 as module
    from ohgw.paths import DataError

    arrays = {k: v.astype(np.uint8) for k, v in small.items()}
    digests = {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in arrays.items()}
    monkeypatch.setattr(module, "NPZ_ARRAY_SHA256", digests)
    copy = tmp_path / "copy" / "cifar10" / "cifar10.npz"
    copy.parent.mkdir(parents=True)
    np.savez(copy, **arrays)
    _assert_same(load_cifar10_arrays(root=tmp_path / "copy", download=False), small)
    shuffled = tmp_path / "shuffled" / "cifar10" / "cifar10.npz"
    shuffled.parent.mkdir(parents=True)
    np.savez(shuffled, **{**arrays, "y_train": arrays["y_train"][::-1].copy()})
    with pytest.raises(DataError, match="its y_train differs from CIFAR-10's"):
        load_cifar10_arrays(root=tmp_path / "shuffled", download=False)


def test_the_array_digests_are_those_of_the_project_npz(shared: dict[str, np.ndarray]) -> None:
    from ohgw.datasets.cifar10 import NPZ_ARRAY_SHA256

    for name, digest in NPZ_ARRAY_SHA256.items():
        stored = np.ascontiguousarray(shared[name].astype(np.uint8))  # y_ is read as int64
        assert hashlib.sha256(stored.tobytes()).hexdigest() == digest, name
