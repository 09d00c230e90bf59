"""Data roots: a wrong OHGW_DATA_DIR is refused, naming it (issue 16); data are looked up only
in OHGW_DATA_DIR and the project's own ../shared/data, never from the working directory up
(issue 28)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohgw.paths import DataError
from ohgw.paths import data_dirs
from ohgw.paths import find
from ohgw.paths import project_data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_a_data_dir_that_is_no_folder_is_refused_naming_it(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("OHGW_DATA_DIR", str(missing))
    with pytest.raises(DataError, match=r"OHGW_DATA_DIR is '.*no-such-folder', which is not"):
        find("cifar10/cifar10.npz")
    assert isinstance(DataError("x"), ValueError)  # `ohgw study` exits 2 with the message


def test_an_existing_data_dir_comes_first(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OHGW_DATA_DIR", str(tmp_path))
    assert data_dirs()[0] == tmp_path


def test_only_the_data_dir_and_the_projects_own_shared_data_are_searched(
    tmp_path, monkeypatch
) -> None:
    assert project_data_dir() == ROOT.parent / "shared" / "data"  # beside this checkout
    for ancestor in (tmp_path, tmp_path / "a"):  # shared/data and ../shared/data of the cwd
        (ancestor / "shared" / "data" / "wikitext-2").mkdir(parents=True)
        (ancestor / "shared" / "data" / "wikitext-2" / "valid.txt").write_text("planted")
    (tmp_path / "a" / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.delenv("OHGW_DATA_DIR", raising=False)
    expected = [project_data_dir()] if project_data_dir().is_dir() else []
    assert data_dirs() == expected
    if expected:
        assert find("wikitext-2/valid.txt") == expected[0] / "wikitext-2" / "valid.txt"
    else:
        with pytest.raises(FileNotFoundError):
            find("wikitext-2/valid.txt")
    monkeypatch.setenv("OHGW_DATA_DIR", str(tmp_path / "a" / "shared" / "data"))
    assert data_dirs() == [tmp_path / "a" / "shared" / "data", *expected]  # asked for: first
