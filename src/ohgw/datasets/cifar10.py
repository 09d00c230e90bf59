"""CIFAR-10 for the ResNet-20 benchmark: loading, a stratified validation split, label noise.

Arrays come from (in order) an explicit folder, the project's shared ``cifar10/cifar10.npz``, a
cached canonical tarball, or a download of that tarball checked against its MD5 checksum.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np
import torch
from tqdm import tqdm

from ohgw.paths import DataError
from ohgw.paths import default_cache_dir
from ohgw.paths import find

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
NPZ_NAME = "cifar10/cifar10.npz"
NPZ_SHA256 = "517a8c7cec195e54cbef476290a0b3f33e7277409689d6f360271a5039dec1d1"
"""The SHA-256 of the project's shared ``cifar10/cifar10.npz`` (its ``SHA256SUMS``)."""
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def load_cifar10_arrays(
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    url: str = CIFAR10_URL,
    progress: bool = True,
    md5: str = CIFAR10_MD5,
    use_shared: bool = True,
) -> dict[str, np.ndarray]:
    """CIFAR-10 as ``x_train`` (uint8 NHWC), ``y_train`` (int64), ``x_test``, ``y_test``.

    Looks in ``root`` (``cifar10/cifar10.npz``, the tarball or its extracted folder), then the
    shared data (unless ``use_shared`` is false), then the tarball cached in ``cache_dir``, and
    finally downloads ``url`` into ``cache_dir``, keeping it only if its MD5 equals ``md5``.
    """
    looked: list[str] = []
    if root is not None:
        root = Path(root)
        for candidate in (root / NPZ_NAME, root / BATCHES_DIR, root / ARCHIVE_NAME):
            if candidate.exists():
                return _load_path(candidate, md5)
            looked.append(str(candidate))
    if use_shared:
        try:
            return _load_npz(find(NPZ_NAME))
        except FileNotFoundError as error:
            looked.append(f"shared data ({error})")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    archive = cache_dir / ARCHIVE_NAME
    if archive.exists():
        advice = "The cached copy was deleted; run again to download it afresh."
        _check_md5(archive, md5, delete=True, name=str(archive), advice=advice)
        return _load_tarball(archive)
    looked.append(str(archive))
    if not download:
        raise FileNotFoundError(
            "CIFAR-10 was not found; looked in: " + "; ".join(looked) + ". Pass `download=True`, "
            f"or place {ARCHIVE_NAME} in one of these places."
        )
    _fetch(url, archive, md5, progress, looked)
    return _load_tarball(archive)


def check_cifar10(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Find the CIFAR-10 file :func:`load_cifar10_arrays` would read, without loading it.

    An npz is opened as a zip and must list the four arrays (a truncated file fails here); a
    missing file is downloaded now (as the loader would). A :class:`DataError` says what is
    wrong, where it looked and how to get a good copy; a study calls this before it writes.
    """
    looked: list[str] = []
    if root is not None:
        root = Path(root)
        for candidate in (root / NPZ_NAME, root / BATCHES_DIR, root / ARCHIVE_NAME):
            if candidate.exists():
                if candidate.suffix == ".npz":
                    _check_npz(candidate)
                return candidate
            looked.append(str(candidate))
    try:
        shared = find(NPZ_NAME)
    except FileNotFoundError as error:
        looked.append(f"shared data ({error})")
    else:
        _check_npz(shared)
        return shared
    archive = default_cache_dir() / ARCHIVE_NAME
    if archive.exists():
        return archive
    looked.append(str(archive))
    if not download:
        raise DataError(_not_found(looked, None))
    _fetch(CIFAR10_URL, archive, CIFAR10_MD5, False, looked)
    return archive


def _check_npz(path: Path) -> None:
    """Open ``path`` as the zip an npz is and check that it lists the arrays (cheap)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged(path, error) from None
    missing = [name for name in NPZ_ARRAYS if f"{name}.npy" not in names]
    if missing:
        raise _damaged(path, KeyError(f"no array {', '.join(missing)}"))


def _damaged(path: Path, error: BaseException) -> DataError:
    """The error of a damaged npz: the file, what failed, its checksum and the good one's."""
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        actual = "unreadable"
    return DataError(
        f"The CIFAR-10 file {path} is damaged or no CIFAR-10 npz ({type(error).__name__}: "
        f"{error}). Its SHA-256 is {actual}; the project's copy's is {NPZ_SHA256}. Replace it "
        "with a good copy (`sha256sum -c SHA256SUMS` in the shared data folder checks one), or "
        f"remove it (or point OHGW_DATA_DIR elsewhere) and ohgw downloads the canonical tarball "
        f"{CIFAR10_URL} (MD5 {CIFAR10_MD5}) into {default_cache_dir()}."
    )


def _not_found(looked: list[str], error: BaseException | None) -> str:
    failed = "" if error is None else f" The download of {CIFAR10_URL} failed: {error}."
    return (
        "CIFAR-10 was not found; looked in: " + "; ".join(looked) + "." + failed + " Set "
        "OHGW_DATA_DIR to a folder holding cifar10/cifar10.npz (SHA-256 "
        f"{NPZ_SHA256}), or fetch {CIFAR10_URL} (MD5 {CIFAR10_MD5}) by hand and place it at "
        f"{default_cache_dir() / ARCHIVE_NAME}."
    )


def _fetch(url: str, archive: Path, md5: str, progress: bool, looked: list[str]) -> None:
    """:func:`_download`, a failed connection becoming a :class:`DataError` naming where the
    loader looked (the download is the last place)."""
    try:
        _download(url, archive, md5, progress)
    except OSError as error:  # URLError, timeouts, refused connections
        raise DataError(_not_found(looked, getattr(error, "reason", error))) from None


def _load_path(path: Path, md5: str) -> dict[str, np.ndarray]:
    """Read an npz, an extracted batches folder or a tarball (checked against ``md5``)."""
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.is_dir():
        return _from_batches(lambda name: (path / name).open("rb"))
    advice = "Replace it with an intact copy of the CIFAR-10 python tarball."
    _check_md5(path, md5, delete=False, name=str(path), advice=advice)
    return _load_tarball(path)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``path``, memory-mapped from an uncompressed copy in the cache.

    Decompressing the shared npz costs seconds of CPU in every process that loads it (each
    real-clock trial, each test run) while a mini preset reads a few hundred rows of it; the
    copy is keyed by the npz's path, size and modification time and written atomically.
    """
    stat = path.resolve().stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    copy = default_cache_dir() / "cifar10-npy" / key.hexdigest()[:16]
    try:
        return {name: np.load(copy / f"{name}.npy", mmap_mode="r") for name in NPZ_ARRAYS}
    except (OSError, ValueError):
        pass  # no copy yet (or a damaged one): read the npz and write it afresh
    arrays = _read_npz(path)
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=copy.parent, ignore_cleanup_errors=True) as scratch:
            for name, array in arrays.items():
                np.save(Path(scratch) / f"{name}.npy", array)
            shutil.rmtree(copy, ignore_errors=True)
            os.replace(scratch, copy)
    except OSError:
        pass  # a read-only cache, or another process won the race: the arrays are in memory
    return arrays


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as archive:
            return {
                "x_train": archive["x_train"],
                "y_train": archive["y_train"].astype(np.int64),
                "x_test": archive["x_test"],
                "y_test": archive["y_test"].astype(np.int64),
            }
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        raise _damaged(path, error) from None


def _load_tarball(path: Path) -> dict[str, np.ndarray]:
    with tarfile.open(path, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

        def opener(name: str) -> IO[bytes]:
            if name not in members:
                raise ValueError(f"{path} holds no {name}; it is not a CIFAR-10 python tarball.")
            return tar.extractfile(members[name])

        return _from_batches(opener)


def _from_batches(opener: Callable[[str], IO[bytes]]) -> dict[str, np.ndarray]:
    """Stack the pickled batches (channel-major rows of 3072 bytes) into NHWC uint8 arrays."""
    x_train, y_train = _read_batches(opener, TRAIN_BATCHES)
    x_test, y_test = _read_batches(opener, (TEST_BATCH,))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _read_batches(
    opener: Callable[[str], IO[bytes]], names: Iterable[str]
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        with opener(name) as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(path: Path, expected: str, delete: bool, name: str, advice: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and both checksums (deleting ``path`` if asked)."""
    actual = _md5(path)
    if actual != expected:
        if delete:
            path.unlink(missing_ok=True)
        raise ValueError(
            f"The MD5 checksum of {name} is {actual}, but must be {expected}. {advice}"
        )


def _download(url: str, dest: Path, md5: str, progress: bool) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``; rename it only if the MD5 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        advice = (
            "The download is corrupt or incomplete and was deleted; run again, or fetch the "
            f"file by hand and place it at {dest}."
        )
        _check_md5(tmp, md5, delete=True, name=f"{url} (downloaded for {dest})", advice=advice)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def stratified_split(
    labels: np.ndarray, val_size: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (train_idx, val_idx), sorted, with every class's share of ``val_size``.

    Each class gives ``val_size * class_count / N`` images (rounded by largest remainder), so
    CIFAR-10's 50k training images split 45k/5k with 500 of each class held out.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 < val_size < n:
        raise ValueError(f"The value of `val_size` is {val_size}, but must be in (0, {n}).")
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = val_size * counts / n
    take = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: val_size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    val = [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(n, dtype=np.int64), val_idx)
    return train_idx, val_idx


def symmetric_label_noise(
    labels: np.ndarray, rate: float, num_classes: int = 10, seed: int = 0
) -> np.ndarray:
    """A copy of ``labels`` with exactly ``round(rate * N)`` of them flipped to another class.

    The flipped positions are drawn without replacement and each new class uniformly among the
    other ``num_classes - 1``, so the realised noise rate equals ``rate`` (up to rounding).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"The value of `rate` is {rate}, but must be in [0, 1).")
    if num_classes < 2:
        raise ValueError(f"The value of `num_classes` is {num_classes}, but must be at least 2.")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"The labels must be in [0, {num_classes}), but span [{labels.min()}, {labels.max()}]."
        )
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    shift = rng.integers(1, num_classes, size=len(flip))
    noisy = labels.copy()
    noisy[flip] = (labels[flip].astype(np.int64) + shift) % num_classes
    return noisy


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC images as float32 NCHW, scaled to [0, 1] and normalised per channel."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"The images are {images.dtype} of shape {images.shape}, "
            "but must be uint8 of shape (N, H, W, 3)."
        )
    if not images.flags.writeable:  # a memory-mapped cache: torch wants memory it may write
        images = np.array(images)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float().div_(255)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def balanced_prefix(index: np.ndarray, labels: np.ndarray, size: int | None) -> np.ndarray:
    """The first ``size`` of ``index`` taking classes in turn (a class-balanced subset)."""
    if size is None or size >= len(index):
        return np.asarray(index)
    classes = labels[index]
    rank = np.zeros(len(index), dtype=np.int64)
    for c in np.unique(classes):
        rank[classes == c] = np.arange(int((classes == c).sum()))
    order = np.lexsort((classes, rank))
    return np.asarray(index)[order[:size]]
