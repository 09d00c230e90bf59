"""Claiming a study directory: two processes forced to interleave (issue 17.1).

A hook pauses each process between reading the stored settings and writing its own, until the
other process has read too (or a few seconds passed). With a read and a write in separate
transactions both processes read "nothing stored" and both are accepted; with
:meth:`Store.claim` the second cannot read before the first committed, and is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ohgw.store import Store
from ohgw.store import database as store_module
from problems import TINY_CIFAR_OVERRIDE
from problems import TINY_FLOPS

ROOT = Path(__file__).resolve().parents[1]
PAUSE = """
import os, time
from pathlib import Path


def pause():
    flags = Path(os.environ["CLAIM_FLAGS"])
    (flags / f"read-{os.getpid()}").touch()
    deadline = time.monotonic() + float(os.environ["CLAIM_PAUSE_S"])
    while time.monotonic() < deadline and len(list(flags.glob("read-*"))) < 2:
        time.sleep(0.02)
"""
CLAIMER = (
    """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])  # the store module, by name
directory, mode, budget = sys.argv[2], sys.argv[3], int(sys.argv[4])
"""
    + PAUSE
    + """
module._after_claim_read = pause
config = {"benchmark": "tiny", "budget": budget}
store = module.Store(directory)
try:
    if mode == "claim":
        store.claim("config", config, lambda old, new: [k for k in old if old[k] != new[k]])
    else:  # the read and the write of e5c84bf's claim_directory, in separate transactions
        stored = store.get_meta("config")
        pause()
        if stored not in (None, config):
            raise ValueError(f"other settings: {stored} != {config}")
        if stored is None:
            store.put_meta("config", config)
    store.add_rows([{"variant": "v", "seed": 0, "trial_id": budget, "resource": 1}])
except ValueError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
finally:
    store.close()
"""
)


def _race(tmp_path: Path, script: str, argvs: list[list[str]], pause_s: float) -> list[tuple]:
    (tmp_path / "flags").mkdir()
    path = tmp_path / "race.py"
    path.write_text(script)
    env = {**os.environ, "CLAIM_FLAGS": str(tmp_path / "flags"), "CLAIM_PAUSE_S": str(pause_s)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(path), *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    outputs = [p.communicate(timeout=3600) for p in processes]  # a loaded machine: slow studies
    return [(p.returncode, *out) for p, out in zip(processes, outputs, strict=True)]


@pytest.mark.parametrize("mode", ["claim", "read-then-write"])
def test_two_processes_claiming_one_directory_at_once(tmp_path: Path, mode: str) -> None:
    directory = tmp_path / "study"
    Store(directory).close()  # the store exists; both claim its (absent) settings
    argvs = [[store_module.__name__, str(directory), mode, str(budget)] for budget in (2, 3)]
    results = _race(tmp_path, CLAIMER, argvs, pause_s=3.0)
    codes = sorted(code for code, _, _ in results)
    assert len(list((tmp_path / "flags").iterdir())) == 2  # both reached the pause
    with Store(directory) as store:
        stored = store.get_meta("config")
        budgets = [row["trial_id"] for row in store.rows()]
    if mode == "read-then-write":
        # The race of issue 17.1 reproduced: both read "nothing", both were accepted, and the
        # store mixes one study's settings with both studies' rows.
        assert codes == [0, 0] and budgets == [2, 3]
        return
    assert codes == [0, 2], results
    assert budgets == [stored["budget"]]  # the winner's settings, the winner's rows only
    (refused,) = [err for code, _, err in results if code == 2]
    loser = 5 - stored["budget"]
    assert f"budget: stored {stored['budget']}, now {loser}" in refused
    assert "use a new directory, or the same settings to continue it" in refused


STUDY = (
    PAUSE
    + """
import sys
import ohgw.store.database as store

store._after_claim_read = pause  # inside Store.claim's transaction
if not hasattr(store.Store, "claim"):  # e5c84bf: claim_directory's get_meta, then put_meta
    get_meta = store.Store.get_meta

    def paused_get_meta(self, key, default=None):
        value = get_meta(self, key, default)
        if key == "config":
            pause()
        return value

    store.Store.get_meta = paused_get_meta
from ohgw.cli import main

sys.exit(main(sys.argv[1:]))
"""
)
TINY = [
    "benchmark=cifar10-mini",
    TINY_CIFAR_OVERRIDE,
    "variants=[baseline]",
    "seeds=1",
    "workers=2",
    "max_resource=3",
    f"flops_per_second={TINY_FLOPS}",
    "--no-progress",
]


@pytest.mark.slow
def test_two_studies_with_other_budgets_started_at_once_one_is_refused(tmp_path: Path) -> None:
    # Issue 17.1 end to end: `ohgw study` twice on one new directory, budgets 2 and 3, each
    # paused after reading the stored settings. Slow (two study processes); the store-level
    # test above covers the same claim.
    directory = tmp_path / "study"
    argvs = [["study", f"directory={directory}", f"budget={b}", *TINY] for b in (2, 3)]
    results = _race(tmp_path, STUDY, argvs, pause_s=20.0)
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (refused,) = [err for code, _, err in results if code == 2]
    assert "holds a study with other settings" in refused and "budget" in refused
    with Store(directory, readonly=True) as store:
        stored = store.get_meta("config")
        rows = store.rows()
    (won,) = [b for (code, _, _), b in zip(results, (2, 3), strict=True) if code == 0]
    assert stored["budget"] == won
    assert rows and max(r["time"] for r in rows) <= won


def test_a_refusal_names_an_older_stores_settings_in_todays_names(tmp_path: Path) -> None:
    from ohgw.store.study_dir import identity_differences
    from ohgw.store.study_dir import upgrade_settings

    with Store(tmp_path) as store:
        store.put_meta("config", {"clock": "real", "budget": 10.0})  # as an older version wrote
        now = upgrade_settings({"engine": "simulated", "budget": 10.0})
        with pytest.raises(ValueError) as refused:
            store.claim("config", now, identity_differences, upgrade_settings)
        assert "engine: stored 'real', now 'simulated'" in str(refused.value)
        store.claim(
            "config",
            upgrade_settings({"engine": "real", "budget": 10.0}),
            identity_differences,
            upgrade_settings,
        )  # the same study, in today's names
