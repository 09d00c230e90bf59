"""``ohgw study`` and ``ohgw report`` on a damaged store of a real tiny study: exit status 2,
one paragraph naming the file and the way out, and the file left as it was (issue 17.2).

It runs a tiny study once (seconds), with ``--no-report``, which a test here checks too. The
same store failures are covered without commands by ``tests/test_store_damage.py``; this test adds
the commands' exit path.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path

import pytest

from ohgw.cli import main
from ohgw.store import FILENAME
from problems import TINY_CIFAR_OVERRIDE
from problems import TINY_FLOPS
from test_store_damage import DAMAGE

TINY = [
    "benchmark=cifar10-mini",
    TINY_CIFAR_OVERRIDE,
    "variants=[baseline]",
    "seeds=2",
    "workers=2",
    "budget=1.5",
    "max_resource=3",
    f"flops_per_second={TINY_FLOPS}",
    "--no-progress",
]


def _exit(argv: list[str]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return main(argv)
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny") / "study"
    assert _exit(["study", f"directory={directory}", *TINY, "--no-report"]) == 0
    return directory


def test_no_report_writes_the_rows_and_ohgw_report_the_report_later(
    study: Path, tmp_path: Path
) -> None:
    """``ohgw study --no-report`` (the GPU runbook's studies, whose reports are written where
    their stores land) keeps the rows and skips report.md, report.html and the figures."""
    assert (study / "results.csv").is_file()
    assert not any((study / name).exists() for name in ("report.md", "report.html", "figures"))
    directory = tmp_path / "copy"
    shutil.copytree(study, directory)
    assert _exit(["report", str(directory)]) == 0
    assert (directory / "report.md").is_file() and (directory / "report.html").is_file()


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_study_and_report_exit_2_with_one_paragraph(
    study: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "copy"
    shutil.copytree(study, directory, ignore=shutil.ignore_patterns("report.*", "figures"))
    path = directory / FILENAME
    damage, says = DAMAGE[kind]
    if kind == "garbage page":  # the tiny study's rows: noise over the second page of rows
        data = bytearray(path.read_bytes())
        data[4096 * 3 : 4096 * 4] = bytes((i * 37 + 11) % 251 for i in range(4096))
        path.write_bytes(bytes(data))
    elif kind == "changed digit":  # one digit of a stored val_metric
        data = path.read_bytes()
        at = data.index(b",", data.index(b'"val_metric":', 4096)) - 1
        path.write_bytes(
            data[:at] + (b"7" if data[at : at + 1] != b"7" else b"3") + data[at + 1 :]
        )
    else:
        damage(path)
    before = hashlib.sha256(path.read_bytes()[100:]).hexdigest()
    capsys.readouterr()
    for argv in (["report", str(directory)], ["study", f"directory={directory}", *TINY]):
        assert _exit(argv) == 2, (argv[0], capsys.readouterr())
        err = capsys.readouterr().err.strip()
        print(f"ohgw {argv[0]} [{kind}]: exit 2: {err}")
        assert err.startswith(f"ohgw {argv[0]}: error: ") and "\n" not in err, err
        assert str(path) in err and (says in err or kind == "garbage page"), err
        assert hashlib.sha256(path.read_bytes()[100:]).hexdigest() == before
        assert not (directory / "report.md").exists()
