"""Liveness of the Optuna engine's workers: heartbeats, and the trials of dead workers failed.

A worker writes a heartbeat into its running trial every ``HEARTBEAT_SECONDS``. A running trial
whose heartbeat is older than ``GRACE_SECONDS`` (or whose process is gone, on the same host) is
failed as ``stale`` by the next worker that looks; the pair's attempt is then broken and starts
over (:mod:`ohgw.study.engines.optuna_pair`). A beat that fails (a busy database, a journal's
file lock) is retried at the next period: one brief storage error must not cost a pair its
budget.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

HEARTBEAT_SECONDS = 5.0
GRACE_SECONDS = 60.0  # a running trial without a heartbeat this long belongs to a dead worker
# User attributes of an Optuna trial.
WORKER = "ohgw.worker"  # "host:pid" of the process that runs it
HEARTBEAT = "ohgw.heartbeat"
END = "ohgw.end"  # why it ended: completed, pruned, budget, diverged, abandoned, stale, error


def token() -> str:
    """This worker process as ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def broken(trials: list[FrozenTrial]) -> bool:
    """Whether a worker died in this attempt (one of its trials was failed as stale)."""
    return any(t.user_attrs.get(END) == "stale" for t in trials)


def alive(token: str) -> bool:
    """Whether the worker ``host:pid`` may still run (only checkable on this host)."""
    host, _, pid = token.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def fail_stale(study: optuna.Study, trials: list[FrozenTrial]) -> None:
    """Fail running trials of dead workers: no heartbeat for GRACE_SECONDS, or no process."""
    now = time.time()
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        beat = trial.user_attrs.get(HEARTBEAT)
        if beat is None and trial.datetime_start is not None:
            beat = trial.datetime_start.timestamp()
        owner = trial.user_attrs.get(WORKER)
        dead = owner is not None and not alive(owner)
        if dead or (beat is not None and now - beat > GRACE_SECONDS):
            with contextlib.suppress(UpdateFinishedTrialError):
                study._storage.set_trial_user_attr(trial._trial_id, END, "stale")
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


@contextlib.contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial, token: str) -> Iterator[None]:
    """Mark the trial as this process's, and keep its heartbeat fresh while it runs.

    A failed beat is retried at the next period. The beats end when the trial has ended (told,
    or failed as stale by another worker), or when none succeeded for ``GRACE_SECONDS``: the
    other workers take the trial for a dead one by then, and this is said on stderr.
    """
    period, grace = HEARTBEAT_SECONDS, GRACE_SECONDS
    trial.set_user_attr(WORKER, token)
    trial.set_user_attr(HEARTBEAT, time.time())
    stop = threading.Event()

    def beat() -> None:
        last = time.monotonic()
        while not stop.wait(period):
            try:
                trial.set_user_attr(HEARTBEAT, time.time())
                last = time.monotonic()
            except UpdateFinishedTrialError:
                return  # told, or failed as stale by another worker: nothing to keep alive
            except Exception as error:
                if time.monotonic() - last > grace:
                    print(
                        f"ohgw optuna worker {token}: gave up the heartbeat of trial "
                        f"{trial.number} of {study.study_name}: no beat could be written for "
                        f"{grace:g} s (last error: {error!r}). The other workers will fail the "
                        "trial as stale and start the pair over; check the Optuna storage "
                        "(`optuna_storage`, or optuna.journal in the study directory).",
                        file=sys.stderr,
                        flush=True,
                    )
                    return

    thread = threading.Thread(target=beat, name="ohgw-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
