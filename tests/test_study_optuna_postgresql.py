"""The Optuna engine on a real PostgreSQL server with a user and a password (issue 28).

The test starts its own server on loopback (Debian's postgresql: initdb and pg_ctl, as the
``postgres`` user when the tests run as root), runs a tiny study with two worker processes,
publishes it, changes the password and resumes it. The password is in no file of the study
directory or of its published copy, in no output, and on no process's command line; the trials
are none lost or duplicated. `.ci/run` installs the server programs, so CI never skips this.
"""

from __future__ import annotations

import concurrent.futures
import glob
import gzip
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest

from ohgw.analysis.published import write_published
from ohgw.analysis.report import main as report_main
from ohgw.storage_url import PASSWORD_ENV
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.engines import optuna_liveness as liveness
from ohgw.study.engines.optuna_pair import OVER_LIMIT
from ohgw.study.engines.optuna_pair import ROW
from ohgw.study.engines.optuna_paired import open_storage
from ohgw.study.engines.optuna_paired import study_name
from problems import TINY_CIFAR

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 4
# `ohgw study --config FILE OVERRIDES...` without the report at the end (a few seconds less)
SCRIPT = """
import sys
from ohgw.study.config_files import load_study_config
from ohgw.study.runner import run_study
assert sys.argv[1] == "--config"
run_study(load_study_config(sys.argv[3:], sys.argv[2]), progress=False)
"""


def _server_programs() -> Path | None:
    """The folder of initdb and pg_ctl (the newest PostgreSQL installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """A PostgreSQL server on 127.0.0.1 with the role ``ohgw`` (a password) and its database."""
    bindir = _server_programs()
    if bindir is None:
        why = "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: .ci/run installs Debian's postgresql")
        pytest.skip(f"{why} (Debian: apt-get install postgresql)")
    psycopg2 = pytest.importorskip("psycopg2", reason="needs ohgw[postgresql]")
    root = Path(tempfile.mkdtemp(prefix="ohgw-pg-"))  # in /tmp: the server's user reaches it
    as_server: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as Debian's postgres user
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_server = ["runuser", "-u", "postgres", "--"]
    admin = secrets.token_hex(8)
    (root / "pw").write_text(admin)
    shutil.chown(root / "pw", *(("postgres", "postgres") if as_server else (None, None)))
    port = _free_port()
    data, log = root / "data", root / "log"
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "admin", "--pwfile", str(root / "pw")]
    subprocess.run([*as_server, *initdb, "-A", "scram-sha-256", "--no-sync"], check=True,
                   capture_output=True)  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    pg_ctl = [*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)]
    subprocess.run([*pg_ctl, "-w", "-o", options, "start"], check=True, capture_output=True)
    try:
        password = f"first-{secrets.token_hex(8)}"
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user="admin", password=admin, dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE ohgw LOGIN PASSWORD %s", (password,))
            cursor.execute("CREATE DATABASE ohgw OWNER ohgw")
        yield {"port": port, "password": password, "admin": connection, "admin_password": admin}
        connection.close()
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


class CommandLines:
    """Every process's command lines, read from /proc every 50 ms while running."""

    def __init__(self) -> None:
        self.seen: dict[int, set[bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        line = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if line:  # a pid between fork and exec shows its parent's line first
                        self.seen.setdefault(int(entry.name), set()).add(line)

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def _study(directory: Path, url: str, **changes: Any) -> StudyConfig:
    return StudyConfig(
        **{
            "directory": str(directory),
            "benchmark": "cifar10-mini",
            "benchmark_options": dict(TINY_CIFAR),
            "engine": "optuna",
            "scheduler": "asha",
            "variants": ["baseline"],
            "seeds": 2,
            "workers": 2,
            "budget": 300.0,
            "max_trials": TRIALS,
            "max_resource": 2,
            "optuna_storage": url,
            **changes,
        }
    )


def _yaml(config: StudyConfig, path: Path) -> Path:
    """The settings as a --config file (a file: no password on the command line)."""
    import yaml

    path.write_text(yaml.safe_dump({k: v for k, v in config.to_dict().items() if v is not None}))
    return path


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _files(*folders: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file's bytes under ``folders`` (a gzipped file also uncompressed)."""
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            yield path, data
            if path.suffix == ".gz":
                yield path, gzip.decompress(data)


def _assert_nowhere(
    secrets_: list[str], folders: list[Path], outputs: list[subprocess.CompletedProcess]
) -> None:
    """No password in a file under ``folders`` nor in the commands' output."""
    for path, data in _files(*folders):
        for secret in secrets_:
            assert secret.encode() not in data, f"the password is in {path}"
    for done in outputs:
        for secret in secrets_:
            assert secret not in done.stdout + done.stderr, "the password is in the output"


def test_a_study_on_postgresql_never_writes_or_shows_its_password(
    server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, port = server["password"], server["port"]
    directory, published = tmp_path / "study", tmp_path / "published"
    base = f"postgresql://ohgw@127.0.0.1:{port}/ohgw"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop(PASSWORD_ENV, None)
    cli = [sys.executable, "-m", "ohgw.cli", "study", "--no-progress"]
    script = [sys.executable, "-c", SCRIPT]
    # 1. seed 0 (shard 0/2), the password in the URL of a --config file
    with_password = base.replace("ohgw@", f"ohgw:{first}@")
    settings = _yaml(_study(directory, with_password), tmp_path / "study.yaml")
    with CommandLines() as lines:
        outputs = [_run([*script, "--config", str(settings), "shard=0/2"], env)]
        with Store(directory) as store:
            seed0 = store.rows(seed=0)
        # 2. published, as scripts/publish_results.sh does it
        published.mkdir()
        write_published(directory, published)
        subprocess.run(["gzip", "-n", "-f", str(published / "results.csv")], check=True)
        assert report_main([str(published)]) == 0
        _assert_nowhere([first], [directory, published], outputs)
        # 3. the password changed; the same study resumed with the new one from the environment
        second = f"n3w@pa/ss:{secrets.token_hex(8)}"  # characters a URL must escape
        with server["admin"].cursor() as cursor:
            cursor.execute("ALTER ROLE ohgw PASSWORD %s", (second,))
        with pytest.raises(ValueError, match="could not be opened") as refused:
            open_storage(_study(directory, with_password))  # the old password: one line
        assert first not in str(refused.value) and "\n" not in str(refused.value)
        resumed = [f"optuna_storage={base}", "shard=0/1"]
        outputs.append(
            _run([*cli, "--config", str(settings), *resumed], {**env, PASSWORD_ENV: second})
        )
    secrets_ = [first, second, second.replace("@", "%40").replace("/", "%2F").replace(":", "%3A")]
    _assert_nowhere(secrets_, [directory, published], outputs)
    assert len(lines.seen) > 10  # the watcher read the process table
    every = [line for seen in lines.seen.values() for line in seen]
    workers = [pid for pid, seen in lines.seen.items() if any(b"optuna_worker" in s for s in seen)]
    assert len(workers) == 2  # each run's second worker process, seen while it ran
    for line in every:
        for secret in secrets_:
            assert secret.encode() not in line, line
    # what the study is bound to, and what was published: the URL with its password masked
    masked = base.replace("ohgw@", "ohgw:***@")
    with Store(directory) as store:
        assert store.get_meta("config")["optuna_storage"] == masked
        rows, done = store.rows(), store.done()
    assert f'"optuna_storage": "{masked}"' in (published / "study.json").read_text()
    # the trials: none lost or duplicated; seed 0 kept as it was, seed 1 run by the resume
    assert set(done) == {("baseline", 0), ("baseline", 1)}
    assert [r for r in rows if r["seed"] == 0] == seed0
    monkeypatch.setenv(PASSWORD_ENV, second)
    storage = open_storage(_study(directory, base))
    owners = set()
    for seed in (0, 1):
        every = optuna.load_study(
            study_name=study_name("baseline", seed, 0), storage=storage
        ).get_trials(deepcopy=False)
        trials = [t for t in every if t.user_attrs.get(liveness.END) != OVER_LIMIT]
        assert sorted(t.number for t in trials) == list(range(TRIALS))  # the rest: never ran
        assert all(t.state.is_finished() for t in trials)
        owners |= {t.user_attrs[liveness.WORKER] for t in trials}
        units = {
            (t.number, unit["resource"])
            for t in trials
            for key, unit in t.user_attrs.items()
            if key.startswith(ROW)
        }
        stored = [(r["trial_id"], r["resource"]) for r in rows if r["seed"] == seed]
        assert sorted(stored) == sorted(units) and len(stored) == len(set(stored))
        assert done[("baseline", seed)]["units"] == len(stored)
    assert len({o.rpartition(":")[2] for o in owners}) == 4  # two workers in each run


def test_a_missing_driver_and_an_unreachable_server_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The failure the issue saw: a traceback about a missing module, and the password left in
    the study directory after a failed connection."""
    from ohgw.cli import main

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    secret = f"s3cret-{secrets.token_hex(4)}"
    url = f"postgresql://ohgw:{secret}@127.0.0.1:1/ohgw"  # port 1: nothing listens
    config = replace(_study(tmp_path, url), workers=1, seeds=1)
    settings = _yaml(config, tmp_path.parent / f"{tmp_path.name}.yaml")
    for driver in ("psycopg", "psycopg2"):  # as if ohgw[postgresql] were not installed
        monkeypatch.setitem(sys.modules, driver, None)
    with pytest.raises(SystemExit) as stopped:
        main(["study", "--no-progress", "--config", str(settings)])
    err = _error_line(capsys.readouterr().err)
    assert stopped.value.code == 2
    assert "needs the database driver `psycopg" in err and "install `ohgw[postgresql]`" in err
    assert secret not in err and not tmp_path.joinpath("results.sqlite").exists()
    for driver in ("psycopg", "psycopg2"):
        monkeypatch.delitem(sys.modules, driver)
    with pytest.raises(SystemExit) as stopped:
        main(["study", "--no-progress", "--config", str(settings)])
    err = _error_line(capsys.readouterr().err)
    assert stopped.value.code == 2
    assert "postgresql://ohgw:***@127.0.0.1:1/ohgw could not be opened" in err
    assert secret not in err
    for path, data in _files(tmp_path):
        assert secret.encode() not in data, path


def _error_line(err: str) -> str:
    """The one line ``ohgw study`` says an error in (no traceback)."""
    assert "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("ohgw study: error:")]
    return line


def test_workers_opening_a_new_database_at_once_all_get_it(
    server: dict[str, Any], tmp_path: Path
) -> None:
    """Optuna's tables made by several workers at once: all but one used to fail with
    "duplicate key value violates unique constraint pg_type_typname_nsp_index" (seen in this
    module's study; Optuna issue 1092). Four at once, three times; each time all get it."""
    for attempt in range(3):
        name = f"fresh{attempt}"
        with server["admin"].cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        url = f"postgresql://admin:{server['admin_password']}@127.0.0.1:{server['port']}/{name}"
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            opened = [pool.submit(open_storage, _study(tmp_path, url)) for _ in range(4)]
            assert [future.exception() for future in opened] == [None] * 4
