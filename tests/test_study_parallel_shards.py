"""ohgw.study.parallel_shards (scripts/run_shards.py): each job's shards as processes, stopped at
a deadline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ohgw.study import parallel_shards


def test_a_job_names_its_file_shards_and_niceness(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("seeds: 1\n")
    assert parallel_shards.parse_job(f"{config}:3") == (str(config), 3, "")
    assert parallel_shards.parse_job(f"{config}:2:10") == (str(config), 2, "10")
    for bad, why in [
        (f"{config}:0", "must be CONFIG.yaml:SHARDS"),
        (f"{config}:x", "must be CONFIG.yaml:SHARDS"),
        (f"{tmp_path / 'none.yaml'}:2", "with an existing file"),
        (f"{config}:2:20", "NICE must be a whole number of 0 to 19"),
    ]:
        with pytest.raises(ValueError, match=why):
            parallel_shards.parse_job(bad)


def test_each_shard_is_one_study_command_with_the_overrides() -> None:
    commands = parallel_shards.shard_commands("studies/a.yaml", 2, "5", ["device=cuda"])
    assert list(commands) == ["a.0of2", "a.1of2"]
    assert commands["a.1of2"] == [
        "nice", "-n", "5", sys.executable, "-m", "ohgw.cli", "study", "--config",
        "studies/a.yaml", "shard=1/2", "device=cuda", "--no-progress",
    ]  # fmt: skip
    assert parallel_shards.shard_commands("a.yaml", 1, "", [])["a.0of1"][0] == sys.executable


def test_the_deadline_stops_what_still_runs_and_keeps_what_ended(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def start(code: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)

    running = {"quick": start("pass"), "slow": start("import time; time.sleep(60)")}
    slow = running["slow"]
    parallel_shards.run_until(running, deadline=1.5, poll=0.5)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "started 2 processes"
    assert out[1].endswith("quick exit 0")
    assert out[2] == "deadline: stopped slow"
    assert slow.returncode == -15  # SIGTERM


def test_the_command_logs_each_shard_and_refuses_a_bad_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("no_such_setting: 1\n")  # the study refuses it at once
    logs = tmp_path / "logs"
    argv = [f"{config}:1", "--deadline", "60", "--logs", str(logs)]
    assert parallel_shards.main(argv) == 0
    out = capsys.readouterr().out
    assert "broken.0of1 exit " in out and "broken.0of1 exit 0" not in out
    assert "no_such_setting" in (logs / "broken.0of1.log").read_text()
    with pytest.raises(SystemExit) as stop:
        parallel_shards.main([f"{config}:0", "--deadline", "1", "--logs", str(logs)])
    assert stop.value.code == 2
    assert "must be CONFIG.yaml:SHARDS" in capsys.readouterr().err
