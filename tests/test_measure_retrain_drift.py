"""ohgw.measure.retrain_drift: a bad run is refused before anything is trained or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohgw.measure import retrain_drift as drift

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("baseline112", "write VARIANT:SEED"),
        ("baseline:9999", "has no rows of that variant and seed"),
        ("nope:112", "has no rows of that variant and seed"),
    ],
)
def test_a_bad_run_is_refused_naming_it_and_writes_nothing(
    run: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "drift.txt"
    with pytest.raises(SystemExit) as stop:
        drift.main(["--runs", "baseline:112", run, "--out", str(out)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert run in error
    assert message in error
    assert not out.exists()
