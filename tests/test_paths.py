"""Data roots: a wrong OHGW_DATA_DIR is refused, naming it (issue 16)."""

from __future__ import annotations

import pytest

from ohgw.paths import DataError
from ohgw.paths import data_dirs
from ohgw.paths import find


def test_a_data_dir_that_is_no_folder_is_refused_naming_it(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("OHGW_DATA_DIR", str(missing))
    with pytest.raises(DataError, match=r"OHGW_DATA_DIR is '.*no-such-folder', which is not"):
        find("cifar10/cifar10.npz")
    assert isinstance(DataError("x"), ValueError)  # `ohgw study` exits 2 with the message


def test_an_existing_data_dir_comes_first(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OHGW_DATA_DIR", str(tmp_path))
    assert data_dirs()[0] == tmp_path
