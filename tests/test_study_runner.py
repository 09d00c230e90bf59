"""The pair loop's papercuts (issue 16): no empty run marked done; no empty folders left."""

from __future__ import annotations

from ohgw.study.runner import _remove_empty_folders


def test_empty_checkpoint_folders_are_removed_and_kept_checkpoints_stay(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    (root / "baseline" / "0").mkdir(parents=True)
    (root / "ohgw" / "1" / "7").mkdir(parents=True)
    (root / "ohgw" / "1" / "7" / "state.pt").write_bytes(b"paused")
    _remove_empty_folders(root)
    assert not (root / "baseline").exists()
    assert (root / "ohgw" / "1" / "7" / "state.pt").exists()
    (root / "ohgw" / "1" / "7" / "state.pt").unlink()
    _remove_empty_folders(root)
    assert not root.exists()
