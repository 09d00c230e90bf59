"""ohgw.measure.header: the one header of every committed measurement, and perf/measure.sh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ohgw.measure import header

ROOT = Path(__file__).resolve().parents[1]


def test_the_header_says_date_machine_versions_commit_and_command() -> None:
    lines = header.header_lines(["python", "perf/presets.py", "--units", "3"], root=ROOT)
    assert len(lines) == 4
    assert re.fullmatch(r"# date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[0])
    assert re.fullmatch(r"# machine: .+, \d+ cores, (\d+|\?) GiB, load average .+", lines[1])
    assert re.fullmatch(r"# versions: python [\d.]+ torch \S+, ohgw at [0-9a-f]{4,}.*", lines[2])
    assert lines[3] == "# command: python perf/presets.py --units 3"
    assert header.header_lines("bash -c 'x'", root=ROOT)[3] == "# command: bash -c 'x'"


def test_a_tree_without_git_is_named(tmp_path: Path) -> None:
    assert header.commit(tmp_path) == "a tree without git"


def test_the_command_line_prints_the_header_and_needs_a_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert header.main(["echo", "hi"]) == 0
    assert capsys.readouterr().out.splitlines()[3] == "# command: echo hi"
    assert header.main([]) == 2


def test_measure_sh_heads_the_output_and_keeps_it(tmp_path: Path) -> None:
    env = {**os.environ, "MEASURE_DIR": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "perf" / "measure.sh"), "probe", "echo", "measured"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == f"{tmp_path}/probe.txt"
    lines = (tmp_path / "probe.txt").read_text().splitlines()
    assert lines[0].startswith("# date: ") and lines[3] == "# command: echo measured"
    assert lines[4:] == ["measured"]
    assert not (tmp_path / "probe.txt.partial").exists()
