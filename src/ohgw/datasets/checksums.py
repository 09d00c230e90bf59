"""Checksums of data files, and a record of the files already found good.

A data file is read (unpickled, or trusted as data) only once its checksum matches a published
one. Hashing the 161 MiB CIFAR-10 npz costs about half a second, so a file found good is
remembered in ``default_cache_dir()/verified-data.json`` by its path, size, modification time,
change time and inode: anyone who rewrites or replaces the file changes its change time (which
no one can set back), so a changed file is checked again. The record is written whole under a
name of this process's own (:func:`ohgw.store.files.write_whole`); a missing or damaged record,
or one that another process's write replaced, only costs a new check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ohgw.paths import default_cache_dir
from ohgw.store.files import write_whole

RECORD = "verified-data.json"
"""The record of files found good, in the cache folder."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (``"sha256"`` or ``"md5"``), read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    """What changes when a file is rewritten or replaced: size, mtime, ctime, inode."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _record_path() -> Path:
    return default_cache_dir() / RECORD


def _read_record() -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(_record_path().read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def _entry(record: dict[str, Any], key: str) -> dict[str, Any]:
    entry = record.get(key)
    return entry if isinstance(entry, dict) else {}


def verified_once(path: str | os.PathLike, check: Callable[[Path], None], what: str) -> None:
    """Run ``check(path)`` (it raises when the file is not good) unless this very file (same
    path, size, times and inode) passed the check named ``what`` before; remember a pass.

    ``what`` names the check and what it expects (e.g. ``"sha256:<digest>"``): a file found
    good for one expectation is not taken as good for another."""
    path = Path(path).resolve()
    key = str(path)
    stamp = _stamp(path)
    if _entry(_read_record(), key).get(what) == stamp:
        return
    check(path)
    if _stamp(path) != stamp:  # changed while it was checked: check it again next time
        return
    record = {k: v for k, v in _read_record().items() if Path(k).exists()}  # gone: dropped
    entry = _entry(record, key)
    record[key] = {k: v for k, v in entry.items() if v == stamp} | {what: stamp}
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    with contextlib.suppress(OSError):  # a read-only cache: the check runs again next time
        write_whole(_record_path(), text.encode("utf-8"), make_folder=True)
