"""The Optuna clock: two real worker processes share one study through the default journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest

from ohgw.analysis.report import write_report
from ohgw.benchmarks.base import make_benchmark
from ohgw.store import Store
from ohgw.study import optuna_worker
from ohgw.study.config import StudyConfig
from ohgw.study.engines import optuna_engine
from ohgw.study.engines import optuna_liveness as liveness
from ohgw.study.engines import optuna_pair
from ohgw.study.engines.optuna_pair import ROW
from ohgw.study.engines.optuna_pair import start_time
from ohgw.study.engines.optuna_paired import open_storage
from ohgw.study.engines.optuna_paired import study_name
from ohgw.study.pair import Pair
from ohgw.study.pair import trial_seed
from ohgw.study.plan import validate
from ohgw.study.runner import run_study
from problems import TINY_CIFAR

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = TINY_CIFAR
# Wall-clock seconds per (variant, seed): a cap that holds on a busy machine; a pair ends when
# its TRIALS trials have stopped (a unit takes a fraction of a second here).
BUDGET = {"asha": 300.0, "hyperband": 300.0}
TRIALS = 6
VARIANTS = {"asha": ["baseline", "ohgw"], "hyperband": ["baseline"]}
# ASHA: two commands of one worker each, as in two terminals; Hyperband: one command with two
# workers (itself and a child it starts, both ready before the pair's clock starts).
WORKERS = {"asha": 1, "hyperband": 2}
COMMANDS = {"asha": 2, "hyperband": 1}


def _config(directory: Path, scheduler: str) -> StudyConfig:
    return StudyConfig(
        directory=str(directory),
        benchmark="cifar10-mini",
        benchmark_options=dict(OPTIONS),
        scheduler=scheduler,
        variants=VARIANTS[scheduler],
        seeds=1,
        workers=WORKERS[scheduler],
        budget=BUDGET[scheduler],
        max_trials=TRIALS,
        max_resource=3,
        engine="optuna",
    )


# The same study settings as `ohgw study`, without the report at the end (a few seconds).
SCRIPT = """
import sys
from ohgw.study.config_files import load_study_config
from ohgw.study import optuna_worker
from ohgw.study.runner import run_study
run_study(load_study_config(sys.argv[1:]), progress=False)
"""


def _command(config: StudyConfig, cli: bool) -> list[str]:
    """``ohgw study`` with this config's settings, as one would type it in a terminal."""
    variants = ",".join(config.variants)
    options = ",".join(f"{k}:{v}" for k, v in config.benchmark_options.items())
    head = ["-m", "ohgw.cli", "study", "--no-progress"] if cli else ["-c", SCRIPT]
    return [
        sys.executable,
        *head,
        f"directory={config.directory}",
        f"benchmark={config.benchmark}",
        f"+benchmark_options={{{options}}}",
        f"scheduler={config.scheduler}",
        f"variants=[{variants}]",
        f"seeds={config.seeds}",
        f"workers={config.workers}",
        f"budget={config.budget}",
        f"max_trials={config.max_trials}",
        f"max_resource={config.max_resource}",
        "engine=optuna",
    ]


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per pruner: two worker processes at once, sharing the default storage.

    ASHA runs ``ohgw study`` itself twice (each writes the report at the end); Hyperband the
    same settings once through a script without the report, with ``workers=2``.
    """
    root = tmp_path_factory.mktemp("optuna")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out: dict[str, Any] = {}
    for scheduler in ("asha", "hyperband"):
        config = _config(root / scheduler, scheduler)
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                _command(config, cli=scheduler == "asha"),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(COMMANDS[scheduler])
        ]
        logs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0] * len(procs), logs
        storage = open_storage(config)
        trials = {
            label: optuna.load_study(
                study_name=study_name(label, 0, 0), storage=storage
            ).get_trials(deepcopy=False)
            for label in config.variants
        }
        with Store(config.directory) as store:
            rows, done = store.rows(), store.done()
        out[scheduler] = {
            "config": config,
            "trials": trials,
            "rows": rows,
            "done": done,
            "logs": logs,
            "pids": [p.pid for p in procs],
            "seconds": time.perf_counter() - start,
        }
    return out


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_two_processes_share_trials_none_lost_or_duplicated(
    studies: dict[str, Any], scheduler: str
) -> None:
    study = studies[scheduler]
    owners = set()
    for label, every in study["trials"].items():
        trials = ran(every)
        numbers = sorted(t.number for t in trials)
        assert numbers == list(range(TRIALS)), (label, numbers)  # max_trials, none lost
        assert all(t.state.is_finished() for t in trials)
        owners |= {t.user_attrs[liveness.WORKER] for t in trials}
        # Each trial number has exactly one configuration: the paired seed's.
        space = make_benchmark("cifar10-mini", **OPTIONS).space
        for t in trials:
            assert t.params == space.sample(trial_seed(0, t.number))
    pids = {int(o.rpartition(":")[2]) for o in owners}
    assert len(pids) == 2 and set(study["pids"]) <= pids  # every worker took trials


def ran(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that ran: not those that asks of two workers at once numbered past
    max_trials, which are closed untrained (checked here)."""
    over = [t for t in trials if t.user_attrs.get(liveness.END) == optuna_pair.OVER_LIMIT]
    for t in over:
        assert t.number >= TRIALS and not any(k.startswith(ROW) for k in t.user_attrs)
    return [t for t in trials if t not in over]


def test_a_trial_numbered_past_max_trials_is_closed_untrained(tmp_path: Path, monkeypatch) -> None:
    """Two workers that each saw max_trials - 1 trials both ask: the storage numbers the second
    ask max_trials. It used to train (5 trials of 4, seen on PostgreSQL); now it is closed."""
    config = replace(_config(tmp_path, "asha"), variants=["baseline"], max_trials=1)
    study = validate(config)
    pair = Pair(study.variants[0], 0)
    benchmark = study.benchmark_for(pair.variant)
    runner = optuna_pair.OptunaPair(study, pair, open_storage(config), benchmark)
    optuna_study = runner._study(0)
    optuna_study.ask()  # trial 0: the other worker's, running
    monkeypatch.setattr(optuna_pair, "run_trial", lambda *a, **k: pytest.fail("it trained"))
    runner._trial(optuna_study)
    extra = optuna_study.get_trials(deepcopy=False)[1]
    assert extra.number == 1 and extra.state == optuna.trial.TrialState.FAIL
    assert extra.user_attrs[liveness.END] == optuna_pair.OVER_LIMIT
    assert runner.finalise(optuna_study)[1]["trials"] == 0  # trial 0 has no rows yet either


def test_a_command_with_two_workers_runs_both_from_the_first_trial(
    studies: dict[str, Any],
) -> None:
    """The child worker imports the study and trains its throwaway unit before the pair's clock
    starts: it used to start late, find a short budget spent, and leave ``'workers': 1``."""
    study = studies["hyperband"]
    assert study["done"][("baseline", 0)]["workers"] == 2
    assert not list(Path(study["config"].directory).glob(".optuna-*"))  # ready and go removed


def test_a_ready_child_takes_no_trial_before_its_command_says_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that went on as soon as it was ready started the pair's clock and its trials
    alone while the command still waited for its other workers (tiny pairs ran on one)."""
    go = tmp_path / ".optuna-go-x"
    threading.Timer(0.5, go.touch).start()
    start = time.monotonic()
    optuna_engine._wait_for_go(go)
    assert time.monotonic() - start >= 0.5 and go.exists()
    optuna_engine._wait_for_go(None)  # not a child of a command (a Slurm job): no wait
    monkeypatch.setattr(optuna_engine.os, "getppid", iter([1000, 1]).__next__)  # parent gone
    with pytest.raises(RuntimeError, match=r"did not say go .* has ended; it took no trial"):
        optuna_engine._wait_for_go(tmp_path / ".optuna-go-never")


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_every_unit_of_every_trial_is_stored_once(studies: dict[str, Any], scheduler: str) -> None:
    study = studies[scheduler]
    config = study["config"]
    for label, trials in study["trials"].items():
        t0 = start_time(trials)
        expected = {
            (t.number, unit["resource"]): unit
            for t in trials
            for key, unit in t.user_attrs.items()
            if key.startswith(ROW)
        }
        rows = [r for r in study["rows"] if r["variant"] == label]
        stored = [(r["trial_id"], r["resource"]) for r in rows]
        assert len(stored) == len(set(stored))  # the store's key, but say it
        assert set(stored) == set(expected)
        for row in rows:
            unit = expected[(row["trial_id"], row["resource"])]
            assert row["val_metric"] == unit["val_metric"]
            assert row["time"] == pytest.approx(unit["t_end"] - t0)
            assert 0 <= row["start_time"] < row["time"] <= config.budget
        assert study["done"][(label, 0)]["units"] == len(rows)


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_the_pruner_prunes(studies: dict[str, Any], scheduler: str) -> None:
    trials = [t for ts in studies[scheduler]["trials"].values() for t in ts]
    pruned = [t for t in trials if t.user_attrs.get(liveness.END) == "pruned"]
    assert pruned
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in pruned)
    # Pruned at a rung below max_resource: the pruner's decision, not the end of the budget.
    assert all(max(t.intermediate_values) < 3 for t in pruned)
    assert all(
        t.user_attrs.get(liveness.END) == "completed" for t in trials if t.state.name == "COMPLETE"
    )


def test_trial_k_has_the_same_config_in_both_variants(studies: dict[str, Any]) -> None:
    trials = studies["asha"]["trials"]
    baseline = {t.number: t.params for t in trials["baseline"]}
    ohgw = {t.number: t.params for t in trials["ohgw"]}
    assert {0, 1} <= set(baseline) & set(ohgw)
    assert all(baseline[k] == ohgw[k] for k in set(baseline) & set(ohgw))
    rows = studies["asha"]["rows"]
    for row in rows:
        params = (baseline if row["variant"] == "baseline" else ohgw)[row["trial_id"]]
        assert {f"config.{k}": v for k, v in params.items()} == {
            k: v for k, v in row.items() if k.startswith("config.")
        }
    assert all(r["warm_flops"] > 0 for r in rows if r["variant"] == "ohgw")
    assert all(r["warm_flops"] == 0 for r in rows if r["variant"] == "baseline")


def test_rows_have_the_simulated_clocks_columns(studies: dict[str, Any], tmp_path: Path) -> None:
    simulated = replace(
        studies["hyperband"]["config"],
        directory=str(tmp_path),
        engine="simulated",
        budget=0.25,
        workers=1,
    )
    run_study(simulated, progress=False, echo=lambda _: None)
    with Store(tmp_path) as store:
        columns = {frozenset(r) for r in store.rows()}
    assert len(columns) == 1
    for study in studies.values():
        assert {frozenset(r) for r in study["rows"]} == columns
        assert {r["worker"] for r in study["rows"]} <= {0, 1}
        assert (Path(study["config"].directory) / "results.csv").is_file()


def test_write_report_works_on_the_result(studies: dict[str, Any]) -> None:
    config = studies["asha"]["config"]
    assert (Path(config.directory) / "report.md").is_file()  # written by `ohgw study`
    md, html = write_report(Path(config.directory), tau=0.3)
    text = md.read_text()
    assert "baseline" in text and "ohgw" in text
    assert "optuna" in text
    assert html.stat().st_size > 0


def test_rerun_of_a_finished_study_runs_no_trial(
    studies: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_trial(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished study ran a trial")

    monkeypatch.setattr(optuna_pair, "run_trial", no_trial)
    monkeypatch.setattr(optuna_engine, "run_trial", no_trial)
    config = studies["asha"]["config"]
    again = run_study(replace(config), progress=False, echo=lambda _: None)
    assert set(again) == {"baseline", "ohgw"}
    with Store(config.directory) as store:
        assert store.rows() == studies["asha"]["rows"]


def test_a_dead_workers_trial_is_failed_and_the_pair_starts_over(tmp_path: Path) -> None:
    """A running trial whose process is gone breaks the attempt; the next one starts clean."""
    config = replace(_config(tmp_path, "asha"), variants=["baseline"], budget=8.0)
    storage = open_storage(config)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study = optuna.create_study(
        storage=storage, study_name=study_name("baseline", 0, 0), direction="maximize"
    )
    trial = study.ask()
    trial.set_user_attr(liveness.WORKER, f"{liveness.socket.gethostname()}:{dead.pid}")
    run_study(config, progress=False, echo=lambda _: None)
    old = optuna.load_study(study_name=study_name("baseline", 0, 0), storage=storage)
    assert [t.user_attrs.get(liveness.END) for t in old.get_trials()] == ["stale"]
    with Store(tmp_path) as store:
        summary = store.done()[("baseline", 0)]
        assert summary["optuna_study"] == study_name("baseline", 0, 1)
        assert summary["units"] == len(store.rows()) > 0


def test_bad_settings_are_named() -> None:
    config = _config(Path("unused"), "asha")
    with pytest.raises(ValueError, match="`optuna_storage`"):
        optuna_engine.check_settings(replace(config, optuna_storage="not-a-url"))
    with pytest.raises(ValueError, match="`reduction_factor`"):
        optuna_engine.check_settings(replace(config, reduction_factor=1))
    with pytest.raises(ValueError, match="`grace_period`"):
        optuna_engine.check_settings(replace(config, grace_period=4))
    with pytest.raises(ValueError, match="`scheduler`"):
        optuna_engine.check_settings(replace(config, scheduler="pasha"))


def test_a_worker_names_a_bad_setting_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replace(_config(tmp_path, "asha"), scheduler="pasha")
    assert optuna_worker.main(["--one", json.dumps(config.to_dict())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ohgw optuna worker: error: The value of `scheduler` is 'pasha'")
    assert "Traceback" not in err and err.count("\n") == 1


def _running_trial(tmp_path: Path) -> tuple[optuna.Study, optuna.Trial]:
    storage = open_storage(_config(tmp_path, "asha"))
    study = optuna.create_study(storage=storage, study_name=study_name("baseline", 0, 0))
    return study, study.ask()


def _beat(study: optuna.Study, trial: optuna.Trial) -> float:
    return study._storage.get_trial(trial._trial_id).user_attrs[liveness.HEARTBEAT]


def test_a_heartbeat_that_fails_once_keeps_beating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One brief storage error (a journal lock, a busy database) used to end the heartbeat
    thread for good; GRACE_SECONDS later another worker failed the live trial as stale."""
    study, trial = _running_trial(tmp_path)
    write, written, failed = trial.set_user_attr, [], []

    def flaky(key: str, value: Any) -> None:
        if key == liveness.HEARTBEAT:
            if written and not failed:  # the first beat after the one on entering fails
                failed.append(value)
                raise OSError("the journal's lock file is busy")
            written.append(value)
        write(key, value)

    monkeypatch.setattr(trial, "set_user_attr", flaky)
    period = 0.05
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", period)
    with liveness.heartbeat(study, trial, liveness.token()):
        first = _beat(study, trial)
        deadline = time.monotonic() + 100 * period  # 2 periods, and room for a busy machine
        while not (failed and _beat(study, trial) > first) and time.monotonic() < deadline:
            time.sleep(period / 2)
        assert failed, "the injected failure never happened"
        assert _beat(study, trial) > first, "the heartbeat stopped after one failed beat"


def test_a_heartbeat_that_cannot_be_written_gives_up_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study, trial = _running_trial(tmp_path)
    write, written = trial.set_user_attr, []

    def down(key: str, value: Any) -> None:
        if key == liveness.HEARTBEAT:
            if written:  # every beat after the one on entering fails
                raise OSError("database is locked")
            written.append(value)
        write(key, value)

    monkeypatch.setattr(trial, "set_user_attr", down)
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 0.02)
    monkeypatch.setattr(liveness, "GRACE_SECONDS", 0.2)
    err = ""
    with liveness.heartbeat(study, trial, "host:1"):
        deadline = time.monotonic() + 10.0
        while "gave up" not in err and time.monotonic() < deadline:
            time.sleep(0.05)
            err += capsys.readouterr().err
    assert "ohgw optuna worker host:1: gave up the heartbeat of trial 0" in err, err
    assert "no beat could be written for 0.2 s" in err and "database is locked" in err


def test_a_pair_that_keeps_losing_workers_stops_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt broken (a worker lost each time): the worker used to start attempt
    after attempt without end, each one the pair's whole budget."""
    from ohgw.study.pair import Pair
    from ohgw.study.plan import validate

    config = replace(_config(tmp_path, "asha"), variants=["baseline"])
    study = validate(config)
    monkeypatch.setattr(optuna_pair, "broken", lambda trials: True)
    attempts: list[int] = []
    open_study = optuna_pair.OptunaPair._study

    def counted(self: optuna_pair.OptunaPair, attempt: int) -> optuna.Study:
        attempts.append(attempt)
        assert len(attempts) <= 20, f"attempts {attempts[0]}..{attempts[-1]} and no end"
        return open_study(self, attempt)

    monkeypatch.setattr(optuna_pair.OptunaPair, "_study", counted)
    variant = study.variants[0]
    runner = optuna_pair.OptunaPair(
        study, Pair(variant, 0), open_storage(config), study.benchmark_for(variant)
    )
    with pytest.raises(RuntimeError) as stopped:
        runner.run()
    assert attempts == [0, 1, 2] and optuna_pair.MAX_ATTEMPTS == 3
    message = str(stopped.value)
    assert message.startswith("baseline, seed 0: 3 attempts in a row lost a worker")
    assert "'ohgw|baseline|seed=0|attempt=0' to 'ohgw|baseline|seed=0|attempt=2'" in message
    assert "rerun the same command" in message


def test_a_worker_that_never_becomes_ready_is_stopped_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker used to wait for a hung child's readiness flag without end."""
    monkeypatch.setattr(optuna_engine, "READY_TIMEOUT_SECONDS", 0.5, raising=False)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            optuna_engine._wait_until_ready([hung], [tmp_path / ".optuna-ready-x-0"])
        except BaseException as error:
            errors.append(error)

    waiter = threading.Thread(target=wait, daemon=True)
    try:
        waiter.start()
        waiter.join(timeout=10)
        assert not waiter.is_alive(), "still waiting for the hung worker after 10 s"
        assert hung.wait(timeout=10) != 0  # stopped
    finally:
        hung.kill()
    (error,) = errors
    assert isinstance(error, RuntimeError)
    assert f"(pid [{hung.pid}]) did not become ready in 0.5 s" in str(error)
    assert ".optuna-ready-x-0" in str(error) and "were stopped" in str(error)
