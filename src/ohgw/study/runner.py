"""The pair loop: one for every engine. It runs (or continues) a study's (variant, seed) pairs.

The loop, not the engine, decides which pairs run: seed-major (a study cut short holds whole
paired seeds), only the seeds of this shard (``shard=i/n`` runs ``seed_list[i::n]``, each
seed's pairs together), and none that is finished. It binds the directory to the study (a
directory holding other settings is refused), hands the pairs to the engine, marks each done
with its summary and exports the finished pairs' rows to ``results.csv``; the overview and the
report of them are the caller's (``ohgw study`` prints ``ohgw.analysis.summary`` and writes the
report), so that running a study needs nothing of the analysis.
Everything is validated before any file is written; a rerun of the same command continues an
interrupted study. A study that fails or is stopped (Ctrl-C, or SIGTERM: ``run_shards``'
deadline, ``timeout``, Slurm's time limit) still exports the pairs it finished, so that
``results.csv`` never lags behind the store's finished pairs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ohgw.store import FILENAME
from ohgw.store import Store
from ohgw.store.study_dir import CONFIG_KEY
from ohgw.store.study_dir import METRIC_KEY
from ohgw.store.study_dir import RESULTS_CSV
from ohgw.store.study_dir import identity_differences
from ohgw.store.study_dir import redacted_settings
from ohgw.store.study_dir import upgrade_settings
from ohgw.study.config import StudyConfig
from ohgw.study.engines import engine_names
from ohgw.study.engines import make_engine
from ohgw.study.engines.base import Engine
from ohgw.study.pair import MEASURED
from ohgw.study.pair import Pair
from ohgw.study.plan import Study
from ohgw.study.plan import validate
from ohgw.warmstart import HyperGradientWarning


def run_study(
    config: StudyConfig,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Run (or continue) a study; return, per variant, its finished seeds, trials and units.

    ``engine`` replaces the one ``config.engine`` names (e.g. an Optuna worker that starts no
    further workers). The warm start's warnings about uninformative hyper-gradients (momentum
    after one SGD step) are silenced here: they would repeat for every trial, and the docs state
    them once. The report is asked for by the caller (``ohgw study`` writes one at the end).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HyperGradientWarning)
        if str(config.device).startswith("cuda"):
            _deterministic_cuda()
        study, engine = prepare(config, engine)
        threads = torch.get_num_threads()
        if config.threads:  # restored afterwards: a caller's later float sums depend on it
            torch.set_num_threads(config.threads)
        try:
            with _sigterm_raises():
                table = run_pairs(study, engine, progress, echo)
        finally:
            torch.set_num_threads(threads)
    return table


def prepare(config: StudyConfig, engine: Engine | None = None) -> tuple[Study, Engine]:
    """The validated study and the engine that runs it (``config.engine``'s unless given),
    every setting checked, the engine's included, before any file is written."""
    if engine is None:
        if config.engine not in engine_names():
            raise ValueError(
                f"The value of `engine` is {config.engine!r}, but must be one of {engine_names()}."
            )
        engine = make_engine(config.engine)
    if config.scheduler not in engine.schedulers:
        raise ValueError(
            f"The value of `scheduler` is {config.scheduler!r}, but with engine="
            f"{config.engine} it must be one of {sorted(engine.schedulers)}."
        )
    study = validate(config)
    engine.check(study)
    return study, engine


def shard_pairs(study: Study) -> list[Pair]:
    """This shard's pairs, seed-major: its seeds (round-robin) with every variant each."""
    return [Pair(v, s) for s in study.config.shard_seeds for v in study.variants]


def dry_run(config: StudyConfig) -> list[Pair]:
    """Validate ``config`` and return the pairs it would run (finished ones left out where its
    directory holds the study already); writes nothing."""
    study, _ = prepare(config)
    done = refuse_other_study(study)
    return [p for p in shard_pairs(study) if p.key not in done]


def refuse_other_study(study: Study) -> set[tuple[str, int]]:
    """The finished pairs of the study in ``study.directory`` (none without a store), read
    without writing a byte; a ``StoreConflict`` (a ``ValueError``) if the directory holds a
    study with other settings, so that a refused study leaves the store as it was."""
    if not (study.directory / FILENAME).is_file():
        return set()
    with Store(study.directory, readonly=True) as store:
        identity = study.identity()
        store.claim(CONFIG_KEY, identity, identity_differences, upgrade_settings, check_only=True)
        return set(store.done())


def run_pairs(
    study: Study, engine: Engine, progress: bool, echo: Callable[[str], Any]
) -> dict[str, Any]:
    """The pair loop (see the module docstring); returns the tally per variant."""
    refuse_other_study(study)  # before the store is opened for writing: a refusal writes nothing
    with Store(study.directory) as store:
        claim_directory(store, study)
        pairs = shard_pairs(study)
        done = store.done()
        todo = [p for p in pairs if p.key not in done]
        bar = tqdm(total=len(pairs), desc="study", unit="pair", disable=not progress)
        bar.update(len(pairs) - len(todo))

        def on_done(pair: Pair, summary: dict[str, Any]) -> None:
            if not summary.get("units"):  # an empty run is never done: a rerun retries it
                cost = summary.get("first_unit_cost")
                costs = "more" if cost is None else f"{cost:.4g} seconds"
                raise ValueError(
                    f"{pair.label}, seed {pair.seed} finished no unit within the budget of "
                    f"{study.config.budget} seconds: a trial's first unit costs {costs}. Raise "
                    "`budget` (the report's cost column shows a unit's seconds); nothing was "
                    "marked done."
                )
            store.mark_done(pair.label, pair.seed, summary)
            bar.update(1)
            echo(_pair_line(engine.name, pair, summary, store.rows(pair.label, pair.seed)))

        try:
            if todo:
                with engine.session(study):
                    engine.run_pairs(study, todo, store, bar.set_postfix_str, on_done)
        except BaseException:  # failed or stopped: tidied up too, and its own error is raised
            _finish(study, store, failing=True)
            with contextlib.suppress(Exception):  # the study's own error is the one to see
                store.release(CONFIG_KEY)  # nothing ran: the directory pins no settings
            raise
        _finish(study, store)
        bar.close()
        table = _tally(store, study)
    return table


def _tally(store: Store, study: Study) -> dict[str, dict[str, int]]:
    """Per variant: its finished seeds and their trials and units (one row a unit)."""
    done = store.done()
    table = {}
    for variant in study.variants:
        seeds = [s for s in study.config.seed_list if (variant.label, s) in done]
        rows = [row for seed in seeds for row in store.rows(variant.label, seed)]
        trials = {(row["seed"], row["trial_id"]) for row in rows}
        table[variant.label] = {"seeds": len(seeds), "trials": len(trials), "units": len(rows)}
    return table


def _pair_line(
    engine: str, pair: Pair, summary: dict[str, Any], rows: list[dict[str, Any]]
) -> str:
    """A finished pair in one line: its trials and units counted from its rows, as the
    summary table counts them (an engine's own count may include trials that ended no unit),
    then the engine's other facts."""
    trials = len({row["trial_id"] for row in rows})
    facts = [f"{trials} trials", f"{len(rows)} units"]
    for key, value in summary.items():
        if key not in ("trials", "units"):
            facts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return f"{engine}: {pair.label}, seed {pair.seed}: {', '.join(facts)}"


def claim_directory(store: Store, study: Study) -> None:
    """Bind the directory to this study (atomically); refuse to mix a different one into it.

    The stored identity may be of an older version (renamed settings, settings added since):
    it is compared in today's names (:func:`ohgw.store.study_dir.identity_differences`). A storage
    password that an older version stored in it is masked now (nothing else is rewritten). The
    benchmark's metric and mode are recorded for the analysis."""
    store.claim(CONFIG_KEY, study.identity(), identity_differences, upgrade_settings)
    stored = store.get_meta(CONFIG_KEY)
    if isinstance(stored, dict) and redacted_settings(stored) != stored:
        store.update_meta(CONFIG_KEY, redacted_settings)
    metric = {"metric": study.benchmark.metric, "mode": study.benchmark.mode}
    if store.get_meta(METRIC_KEY) != metric:  # what the analysis reads instead of a benchmark
        store.put_meta(METRIC_KEY, metric)


def _finish(study: Study, store: Store, failing: bool = False) -> None:
    """Remove the empty checkpoint folders and export the finished pairs' rows. ``failing``:
    the study failed or was stopped, and an export that fails too is not raised (the study's
    own error is the one to see; ``results.csv`` is then as old as the export before)."""
    _remove_empty_folders(study.directory / "checkpoints")
    try:
        _export(store, study.directory / RESULTS_CSV)
    except Exception:
        if not failing:
            raise


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the pairs run, SIGTERM raises ``SystemExit(143)`` (as Ctrl-C raises
    ``KeyboardInterrupt``) instead of ending the process at once, so that a stopped study
    exports what it finished. A handler that the caller installed is left as it is."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _remove_empty_folders(root: Path) -> None:
    """Remove the empty folders under ``root`` (and ``root`` if it ends empty): finished trials
    delete their checkpoints, and engines may leave the per-variant folders behind. Another
    shard may be about to write a checkpoint into a folder removed here: it makes the folder
    again (``ohgw.trial.save_checkpoint``), and a folder with a file in it is never removed."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):  # not empty (a paused trial's checkpoint): kept
            folder.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


def _export(store: Store, path: Path) -> None:
    """The finished pairs' rows as a deterministic CSV, without the measured timings."""
    store.export_csv(path, exclude=MEASURED, done_only=True)


def _deterministic_cuda() -> None:
    """Ask CUDA for repeatable kernels. Not bit-exact: grid_sample's backward (the augmentation
    magnitude's hyper-gradient) accumulates with atomics and has no deterministic variant."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")
