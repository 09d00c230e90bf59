"""CIFAR-10 for the ResNet-20 benchmark: finding, checking and loading its files.

Arrays come from (in order) an explicit folder, the project's shared ``cifar10/cifar10.npz``, a
cached canonical tarball, or a download of that tarball checked against its MD5 checksum. Every
file is checked before it is read: the tarball and each extracted batch file (a pickle, which can
run code) against their published MD5s, the npz against its SHA-256 (or, for a re-encoded copy,
its arrays against the canonical arrays' digests; a file once found good is remembered:
:mod:`ohgw.datasets.checksums`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np

from ohgw.datasets.checksums import file_digest
from ohgw.datasets.checksums import verified_once
from ohgw.datasets.cifar10_splits import CIFAR10_MEAN
from ohgw.datasets.cifar10_splits import CIFAR10_STD
from ohgw.datasets.cifar10_splits import balanced_prefix
from ohgw.datasets.cifar10_splits import stratified_split
from ohgw.datasets.cifar10_splits import symmetric_label_noise
from ohgw.datasets.cifar10_splits import to_tensor
from ohgw.datasets.download import check_md5
from ohgw.datasets.download import download as download_checked
from ohgw.paths import DataError
from ohgw.paths import default_cache_dir
from ohgw.paths import find

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "balanced_prefix",
    "check_cifar10",
    "load_cifar10_arrays",
    "stratified_split",
    "symmetric_label_noise",
    "to_tensor",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
NPZ_NAME = "cifar10/cifar10.npz"
NPZ_SHA256 = "517a8c7cec195e54cbef476290a0b3f33e7277409689d6f360271a5039dec1d1"
"""The SHA-256 of the project's shared ``cifar10/cifar10.npz`` (its ``SHA256SUMS``)."""
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_ARRAY_SHA256 = {
    "x_train": "ce26e867c2db0b262b99ecaa6fcf762ac50c54e53681fb79bf9133e0672e9cf7",
    "y_train": "a29f2a5ffc141bb1c9e1af453e9a5ef8c316b2f675f8cea1d849d220d33a14fb",
    "x_test": "5ea660756ad2c7b374df635d170d31d08fa9c5c2dc94c2b4e11ccf814604b2ac",
    "y_test": "a054c239a40ee7f2a5745e7e4bc11a51e9cb40c98134b602c1068e6a207487c6",
}
"""The SHA-256 of each array's bytes (uint8, as stored) in the project's npz: a copy written
anew from the same arrays (``scripts/gpu_bundle.py unpack``) has another file checksum."""
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
"""The MD5 of each file of the extracted tarball, as published with it (torchvision's list)."""


def load_cifar10_arrays(
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    url: str = CIFAR10_URL,
    progress: bool = True,
    md5: str = CIFAR10_MD5,
    use_shared: bool = True,
    batch_md5: Mapping[str, str] = BATCH_MD5,
    npz_sha256: str = NPZ_SHA256,
) -> dict[str, np.ndarray]:
    """CIFAR-10 as ``x_train`` (uint8 NHWC), ``y_train`` (int64), ``x_test``, ``y_test``.

    Looks in ``root`` (``cifar10/cifar10.npz``, the tarball or its extracted folder), then the
    shared data (unless ``use_shared`` is false), then the tarball cached in ``cache_dir``, and
    finally downloads ``url`` into ``cache_dir``, keeping it only if its MD5 equals ``md5``.
    A file whose checksum differs from the published one (``md5``, ``batch_md5``,
    ``npz_sha256``) is a :class:`DataError` naming it, and is never read.
    """
    looked: list[str] = []
    if root is not None:
        root = Path(root)
        for candidate in (root / NPZ_NAME, root / BATCHES_DIR, root / ARCHIVE_NAME):
            if candidate.exists():
                return _load_path(candidate, md5, batch_md5, npz_sha256)
            looked.append(str(candidate))
    if use_shared:
        try:
            shared = find(NPZ_NAME)
        except FileNotFoundError as error:
            looked.append(f"shared data ({error})")
        else:
            verify_npz(shared, npz_sha256)
            return _load_npz(shared)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    archive = cache_dir / ARCHIVE_NAME
    if archive.exists():
        advice = "The cached copy was deleted; run again to download it afresh."
        check_md5(archive, md5, delete=True, name=str(archive), advice=advice)
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

    Each file is checked as the loader checks it (an npz by its SHA-256, batch files and a
    tarball by their MD5s); a missing file is downloaded now (as the loader would). A
    :class:`DataError` says what is wrong, where it looked and how to get a good copy; a study
    calls this before it writes.
    """
    looked: list[str] = []
    if root is not None:
        root = Path(root)
        for candidate in (root / NPZ_NAME, root / BATCHES_DIR, root / ARCHIVE_NAME):
            if candidate.exists():
                _check_path(candidate, CIFAR10_MD5, BATCH_MD5, NPZ_SHA256)
                return candidate
            looked.append(str(candidate))
    try:
        shared = find(NPZ_NAME)
    except FileNotFoundError as error:
        looked.append(f"shared data ({error})")
    else:
        verify_npz(shared)
        return shared
    archive = default_cache_dir() / ARCHIVE_NAME
    if archive.exists():
        return archive
    looked.append(str(archive))
    if not download:
        raise DataError(_not_found(looked, None))
    _fetch(CIFAR10_URL, archive, CIFAR10_MD5, False, looked)
    return archive


def verify_npz(path: Path, expected: str = NPZ_SHA256) -> None:
    """Check an npz before it is used: its SHA-256 must be ``expected``, or (for the project's
    npz) its four arrays those of CIFAR-10 (a copy written anew). A :class:`DataError` names the
    file, both checksums and the fix; a file found good is remembered (checked once)."""
    verified_once(path, functools.partial(_check_npz, expected=expected), f"sha256:{expected}")


def _check_npz(path: Path, expected: str) -> None:
    actual = file_digest(path)
    if actual == expected:
        return
    problem = "its SHA-256 differs"
    if expected == NPZ_SHA256:
        problem = _differing_arrays(path)
        if problem is None:
            return
    raise _damaged(path, problem, actual)


def _differing_arrays(path: Path) -> str | None:
    """What differs between an npz's arrays and CIFAR-10's (None: nothing)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in NPZ_ARRAYS:
                array = np.ascontiguousarray(archive[name])
                digest = hashlib.sha256(array.tobytes()).hexdigest()
                if array.dtype != np.uint8 or digest != NPZ_ARRAY_SHA256[name]:
                    return f"its {name} differs from CIFAR-10's"
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _damaged(path: Path, problem: str, actual: str | None = None) -> DataError:
    """The error of a damaged or foreign npz: the file, what is wrong, its checksum and the good
    one's, and that it was not used."""
    if actual is None:
        try:
            actual = file_digest(path)
        except OSError:
            actual = "unreadable"
    return DataError(
        f"The CIFAR-10 file {path} is damaged or no CIFAR-10 npz ({problem}); it was not used. "
        f"Its SHA-256 is {actual}; the project's copy's is {NPZ_SHA256}. Replace it with a good "
        "copy (`sha256sum -c SHA256SUMS` in the shared data folder checks one), or remove it (or "
        "point OHGW_DATA_DIR elsewhere) and ohgw downloads the canonical tarball "
        f"{CIFAR10_URL} (MD5 {CIFAR10_MD5}) into {default_cache_dir()}."
    )


def verify_batches(folder: Path, md5s: Mapping[str, str] = BATCH_MD5) -> None:
    """Check every file of an extracted ``cifar-10-batches-py`` folder against its published MD5
    before any is unpickled (a pickle can run code): a :class:`DataError` names the first that
    is missing or differs, and none is read."""
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        path = folder / name
        if not path.is_file():
            raise DataError(
                f"The CIFAR-10 batch file {path} is missing. Extract {ARCHIVE_NAME} "
                f"({CIFAR10_URL}, MD5 {CIFAR10_MD5}) into {folder.parent}, or remove {folder}."
            )
        check = functools.partial(_check_batch, expected=md5s[name])
        verified_once(path, check, f"md5:{md5s[name]}")


def _check_batch(path: Path, expected: str) -> None:
    actual = file_digest(path, "md5")
    if actual != expected:
        raise DataError(
            f"The CIFAR-10 batch file {path} is not the published one: its MD5 is {actual}, but "
            f"must be {expected}. It was not read (a batch file is a pickle, which can run code). "
            f"Replace {path.parent} with the folder extracted from {CIFAR10_URL} (MD5 "
            f"{CIFAR10_MD5}), or remove it: ohgw then reads the shared data or the tarball."
        )


def _tarball_check(md5: str) -> Callable[[Path], None]:
    """A check that a tarball's MD5 is ``md5`` (:func:`check_md5`, the file kept)."""
    advice = "Replace it with an intact copy of the CIFAR-10 python tarball."
    return lambda path: check_md5(path, md5, delete=False, name=str(path), advice=advice)


def _not_found(looked: list[str], error: BaseException | None) -> str:
    failed = "" if error is None else f" The download of {CIFAR10_URL} failed: {error}."
    return (
        "CIFAR-10 was not found; looked in: " + "; ".join(looked) + "." + failed + " Set "
        "OHGW_DATA_DIR to a folder holding cifar10/cifar10.npz (SHA-256 "
        f"{NPZ_SHA256}), or fetch {CIFAR10_URL} (MD5 {CIFAR10_MD5}) by hand and place it at "
        f"{default_cache_dir() / ARCHIVE_NAME}."
    )


def _fetch(url: str, archive: Path, md5: str, progress: bool, looked: list[str]) -> None:
    """:func:`ohgw.datasets.download.download`, a failed connection becoming a
    :class:`DataError` naming where the loader looked (the download is the last place)."""
    try:
        download_checked(url, archive, md5, progress)
    except OSError as error:  # URLError, timeouts, refused connections
        raise DataError(_not_found(looked, getattr(error, "reason", error))) from None


def _load_path(
    path: Path, md5: str, batch_md5: Mapping[str, str], npz_sha256: str
) -> dict[str, np.ndarray]:
    """Read an npz, an extracted batches folder or a tarball, each checked first."""
    _check_path(path, md5, batch_md5, npz_sha256)
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.is_dir():
        return _from_batches(lambda name: (path / name).open("rb"))
    return _load_tarball(path)


def _check_path(path: Path, md5: str, batch_md5: Mapping[str, str], npz_sha256: str) -> None:
    """Check an npz, an extracted batches folder or a tarball against its checksums."""
    if path.suffix == ".npz":
        verify_npz(path, npz_sha256)
    elif path.is_dir():
        verify_batches(path, batch_md5)
    else:
        verified_once(path, _tarball_check(md5), f"md5:{md5}")


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
        raise _damaged(path, f"{type(error).__name__}: {error}") from None


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
