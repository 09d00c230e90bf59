"""GPU-seconds from sacct output, recorded in a study's store (ohgw.slurm_accounting).

``tests/data/sacct_parsable2.txt`` is HAND-WRITTEN, not recorded on a cluster (none is reachable
here): it follows sacct's documented output of ``sacct -j ID
--format=JobID,Elapsed,AllocTRES --parsable2 --noheader`` (``|``-separated, no trailing ``|``,
Elapsed as ``[DD-]HH:MM:SS``, AllocTRES as ``billing=..,cpu=..,gres/gpu=N,mem=..,node=..``,
one line per allocation and one per step: ``.batch``, ``.extern``, ``.0``; an array task as
``ID_TASK``; a job that never ran with an empty AllocTRES).
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ohgw.slurm_accounting import SLURM_KEY
from ohgw.slurm_accounting import parse_elapsed
from ohgw.slurm_accounting import parse_sacct
from ohgw.slurm_accounting import record_job
from ohgw.slurm_accounting import sacct_command
from ohgw.store import Store

FIXTURE = Path(__file__).parent / "data" / "sacct_parsable2.txt"


def test_sacct_output_gives_gpu_seconds_per_allocation() -> None:
    jobs = parse_sacct(FIXTURE.read_text())
    assert sorted(jobs) == ["4242001", "4242002_3", "4242003", "4242004", "4242005"]  # no steps
    assert jobs["4242001"] == {"elapsed_seconds": 3723.0, "gpus": 4, "gpu_seconds": 14892.0}
    assert jobs["4242002_3"]["elapsed_seconds"] == 26 * 3600  # 1-02:00:00
    assert jobs["4242002_3"]["gpus"] == 2  # the plain gres/gpu, not plus the typed one
    assert jobs["4242003"]["gpus"] == 2  # typed entries only: summed
    assert jobs["4242004"]["gpu_seconds"] == 0 and jobs["4242005"]["gpus"] == 0


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:00:07", 7), ("12:34", 754), ("2-00:00:01", 172801)]
)
def test_elapsed_formats(text: str, seconds: float) -> None:
    assert parse_elapsed(text) == seconds


def test_bad_sacct_output_is_refused_naming_the_line() -> None:
    with pytest.raises(ValueError, match=re.escape("'4242001|01:02:03' does not hold the 3")):
        parse_sacct("4242001|01:02:03\n")
    with pytest.raises(ValueError, match=re.escape("not [DD-][HH:]MM:SS")):
        parse_elapsed("soon")
    assert sacct_command("77")[:3] == ["sacct", "-j", "77"]


def test_jobs_add_their_gpu_seconds_to_the_store(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    first = "\n".join(x for x in lines if x.startswith("4242001"))
    second = "\n".join(x for x in lines if x.startswith("4242002_3"))
    record_job(tmp_path, "4242001", sacct=lambda job: first)
    record = record_job(tmp_path, "4242002_3", sacct=lambda job: second)
    assert record["gpus"] == 6 and record["total"] == 14892.0 + 26 * 3600 * 2
    with Store(tmp_path) as store:
        assert store.get_meta(SLURM_KEY) == record


def test_two_jobs_recording_at_once_are_both_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs forced into the order A reads, B reads, A writes, A reads its entry back, B
    writes: B's write, merged with what it read before A wrote, used to erase A's job. Each job
    is a thread with its own connection to the real store; a step waits for the step before it
    at most ``WAIT`` seconds (it never comes where the read and the write are one transaction:
    B cannot read before A has written)."""
    wait = 1.0
    lines = FIXTURE.read_text().splitlines()
    outputs = {j: "\n".join(x for x in lines if x.startswith(j)) for j in ("4242001", "4242002_3")}
    Store(tmp_path).close()
    steps = {name: threading.Event() for name in ("A read", "B read", "A read back")}
    first: list[str] = []  # the thread that read first is A
    reads: dict[str, int] = {}
    get_meta, put_meta = Store.get_meta, Store.put_meta

    def role() -> str:
        return "A" if first[0] == threading.current_thread().name else "B"

    def paused_get_meta(self: Store, key: str, default: Any = None) -> Any:
        value = get_meta(self, key, default)
        if key == SLURM_KEY:
            me = threading.current_thread().name
            first[:] = first or [me]
            reads[me] = reads.get(me, 0) + 1
            if reads[me] == 1:
                steps[f"{role()} read"].set()
                if role() == "A":
                    steps["B read"].wait(wait)
            elif role() == "A":
                steps["A read back"].set()
        return value

    def paused_put_meta(self: Store, key: str, value: Any) -> None:
        if key == SLURM_KEY and role() == "B":
            steps["A read back"].wait(wait)
        put_meta(self, key, value)

    monkeypatch.setattr(Store, "get_meta", paused_get_meta)
    monkeypatch.setattr(Store, "put_meta", paused_put_meta)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(record_job, tmp_path, j, lambda j: outputs[j]) for j in outputs]
        for job in jobs:
            job.result()
    assert steps["A read"].is_set() and steps["B read"].is_set()
    monkeypatch.undo()
    with Store(tmp_path) as store:
        record = store.get_meta(SLURM_KEY)
    assert sorted(record["jobs"]) == ["4242001", "4242002_3"], record
    assert record["gpus"] == 6 and record["total"] == 14892.0 + 26 * 3600 * 2


def test_a_failing_sacct_records_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def broken(job: str) -> str:
        raise FileNotFoundError("sacct")

    assert record_job(tmp_path, "9", sacct=broken) is None
    assert "no GPU-seconds recorded for Slurm job 9" in capsys.readouterr().out


def test_a_slurm_job_records_its_allocation(tmp_path: Path, monkeypatch) -> None:
    """``ohgw.slurm``'s job end: an ``sacct`` on PATH (here a script printing the fixture's
    lines of job 4242001) gives the store its GPU-seconds; outside Slurm nothing is recorded."""
    from ohgw.slurm import record_accounting

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lines = [x for x in FIXTURE.read_text().splitlines() if x.startswith("4242001")]
    sacct = bin_dir / "sacct"
    sacct.write_text("#!/bin/sh\nprintf '%s\\n' " + " ".join(f"'{x}'" for x in lines) + "\n")
    sacct.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    study = {"directory": str(tmp_path / "study")}
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    record_accounting({"job": "shard", "study": study})
    assert not (tmp_path / "study").exists()
    monkeypatch.setenv("SLURM_JOB_ID", "4242001")
    record_accounting({"job": "shard", "study": study})
    with Store(tmp_path / "study") as store:
        assert store.get_meta(SLURM_KEY)["total"] == 14892.0
