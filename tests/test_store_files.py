"""Files other processes trust (ohgw.store.files): folders that vanish under a writer, folders
that cannot be removed."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path

import pytest

from ohgw.store import files as store_files
from ohgw.store.files import remove_tree
from ohgw.store.files import write_whole


def _open_after_removal(monkeypatch: pytest.MonkeyPatch, root: Path, times: int) -> list[str]:
    """``open`` in store_files removes the empty folders up to ``root`` first, ``times``
    times: another process tidying up between ``mkdir`` and the file's creation."""
    calls: list[str] = []

    def racing_open(path, *args, **kwargs):
        calls.append(str(path))
        if len(calls) <= times:
            folder = Path(path).parent
            while folder != root.parent and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(store_files, "open", racing_open, raising=False)
    return calls


def test_a_folder_removed_before_the_file_is_in_it_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "checkpoints"
    target = root / "v" / "0" / "7" / "checkpoint.pt"
    calls = _open_after_removal(monkeypatch, root, times=2)
    write_whole(target, b"state", make_folder=True)
    assert target.read_bytes() == b"state" and len(calls) == 3
    assert [p.name for p in target.parent.iterdir()] == ["checkpoint.pt"]


def test_a_writer_gives_up_on_a_folder_that_keeps_vanishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "checkpoints"
    _open_after_removal(monkeypatch, root, times=10**6)
    with pytest.raises(FileNotFoundError, match="was removed 100 times while a file"):
        write_whole(root / "v" / "checkpoint.pt", b"state", make_folder=True)
    with pytest.raises(FileNotFoundError):  # without make_folder: no folder is made
        write_whole(tmp_path / "absent" / "file", b"state")


def test_a_folder_that_cannot_be_removed_is_an_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, undeletable: Callable[[str], None]
) -> None:
    stale = tmp_path / "run" / "0" / "checkpoints"
    stale.mkdir(parents=True)
    (stale / "checkpoint.pt").write_bytes(b"old")
    (stale / "other").write_bytes(b"")
    undeletable("checkpoint.pt")
    with pytest.raises(OSError) as refused:
        remove_tree(tmp_path / "run", "a stale checkpoint in it would be resumed")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'run'} could not be removed, but must be: a stale")
    assert "checkpoint.pt ([Errno 13] Permission denied" in message
    assert "Directory not empty" not in message  # only the cause, not the folders above it
    assert not (stale / "other").exists()  # what could go, went
    monkeypatch.undo()
    remove_tree(tmp_path / "run", "now it can")
    remove_tree(tmp_path / "run", "absent: nothing to do")
    assert not (tmp_path / "run").exists()
