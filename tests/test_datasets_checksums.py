"""A data file's checksum, checked once and remembered by path, size, times and inode."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ohgw.datasets.checksums import RECORD
from ohgw.datasets.checksums import file_digest
from ohgw.datasets.checksums import verified_once


def test_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1_000_000)  # several chunks
    assert file_digest(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(b"abc" * 1_000_000).hexdigest()


def test_a_good_file_is_checked_once_and_a_rewritten_one_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OHGW_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "data.bin"
    path.write_bytes(b"good")
    checked: list[bytes] = []

    def check(file: Path) -> None:
        checked.append(file.read_bytes())
        if checked[-1] != b"good":
            raise ValueError(f"{file} is not good")

    verified_once(path, check, "sha256:good")
    verified_once(path, check, "sha256:good")
    assert checked == [b"good"]  # remembered
    verified_once(path, check, "sha256:other")  # another expectation is checked afresh
    assert len(checked) == 2
    record = json.loads((tmp_path / "cache" / RECORD).read_text())
    assert set(record[str(path.resolve())]) == {"sha256:good", "sha256:other"}
    # Rewritten with the same size, its modification time set back: the change time differs.
    before = path.stat()
    path.write_bytes(b"evil")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    for _ in range(2):  # a file that fails is never remembered
        with pytest.raises(ValueError, match="not good"):
            verified_once(path, check, "sha256:good")
    assert checked[-2:] == [b"evil", b"evil"]
    # A damaged record costs a check, nothing else; the good file is remembered again.
    (tmp_path / "cache" / RECORD).write_text("{not json")
    path.write_bytes(b"good")
    verified_once(path, check, "sha256:good")
    verified_once(path, check, "sha256:good")
    assert checked[-1] == b"good" and len(checked) == 5
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name != RECORD]  # no partials
