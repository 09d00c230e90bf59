"""What a study directory holds, read the same way by the study harness and by the analysis.

A study directory's store (:mod:`ohgw.store`) keeps the study's settings (its identity, under the
metadata key ``config``) and the rows of its (variant, seed) pairs. Settings were renamed over
time; :func:`upgrade_settings` reads a stored identity of any version in today's names (the
renames and the values older stores ran with are in :data:`ohgw.settings.SETTINGS`), so that a
study begun before a rename can be continued and reported. Below both ``ohgw.study`` and
``ohgw.analysis``; imports neither.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ohgw.settings import LEGACY_DEFAULTS
from ohgw.settings import NOT_IDENTITY
from ohgw.settings import RENAMED
from ohgw.settings import SECRET_SETTINGS
from ohgw.storage_url import redact
from ohgw.storage_url import without_password
from ohgw.store.database import FILENAME
from ohgw.store.database import Store

RESULTS_CSV = "results.csv"
CONFIG_KEY = "config"  # the store's metadata key of the study's identity
METRIC_KEY = "metric"
"""The store's metadata key of the benchmark's metric: ``{"metric": name, "mode": "max"|"min"}``,
recorded by the study so that the analysis never builds a benchmark to learn it."""
MODES = {"accuracy": "max", "perplexity": "min"}
"""The modes of the metrics that stores written before ``METRIC_KEY`` existed can hold."""
Runs = dict[str, dict[int, list[dict[str, Any]]]]


def split_address(settings: dict[str, Any]) -> dict[str, Any]:
    """The old ``address`` as the engine's own key: ``ray_address`` (engine ray) or
    ``optuna_storage`` (engine optuna); other engines never read it, so it is dropped."""
    out = dict(settings)
    address = out.pop("address", None)
    target = {"ray": "ray_address", "optuna": "optuna_storage"}.get(out.get("engine", ""))
    if address is not None and target is not None and out.get(target) is None:
        out[target] = address
    return out


def redacted_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the password of each URL among them masked (``user:***@host``)."""
    return {k: redact(v) if k in SECRET_SETTINGS else v for k, v in settings.items()}


def upgrade_settings(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored identity in today's names: renamed keys moved, ``address`` split, the keys
    that are no longer part of an identity dropped, absent newer keys at their legacy value,
    a password that an older version stored masked."""
    out = {k: v for k, v in redacted_settings(stored).items() if k not in NOT_IDENTITY}
    for old, new in RENAMED.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    out = split_address(out)
    for key, value in LEGACY_DEFAULTS.items():
        out.setdefault(key, value)
    return out


def identity_differences(stored: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    """The names of the settings in which a stored identity (any version) and ``identity``
    differ; empty when the directory holds this study. A storage URL's password is no part of
    a study: the same study continues after it changed."""
    old = upgrade_settings(stored)
    missing = object()

    def value(settings: dict[str, Any], key: str) -> Any:
        found = settings.get(key, missing)
        return without_password(found) if key in SECRET_SETTINGS else found

    keys = set(old) | set(identity)
    return sorted(k for k in keys if value(old, k) != value(identity, k))


@dataclass
class StudyData:
    """A study's finished runs: ``runs[variant][seed]`` are that run's rows, by time."""

    directory: Path
    config: dict[str, Any]  # the stored identity, in today's names (``upgrade_settings``)
    runs: Runs
    metric: str
    mode: str
    left_out: list[tuple[str, int]]  # unfinished (variant, seed) runs, not analysed


def group_runs(
    rows: list[dict[str, Any]],
    variants: list[str],
    finished: Collection[tuple[str, int]],
    missing: str = "The finished pairs {pairs} have no rows.",
) -> tuple[Runs, set[tuple[str, int]]]:
    """The finished pairs' rows as variant -> seed -> rows in time order, and the (variant,
    seed) keys of the rows left out (an unfinished pair, a variant the study does not name).

    A finished pair of the study's variants without any row is a ``ValueError``, ``missing``
    with the pairs in place of ``{pairs}`` (say where the rows came from and what to do):
    dropping it would shrink the study without a word (rows exported before it finished)."""
    runs: Runs = {label: {} for label in variants}
    left_out = set()
    for row in rows:
        key = (row["variant"], row["seed"])
        if key in finished and row["variant"] in runs:
            runs[row["variant"]].setdefault(row["seed"], []).append(row)
        else:
            left_out.add(key)
    empty = sorted((v, s) for v, s in finished if v in runs and s not in runs[v])
    if empty:
        raise ValueError(missing.replace("{pairs}", str(empty)))
    for by_seed in runs.values():
        for seed in by_seed:
            by_seed[seed].sort(key=lambda r: r["time"])
    return runs, left_out


def load_study(study_dir: str | Path) -> StudyData:
    """Read a study directory's settings and the rows of its finished (variant, seed) runs."""
    directory = Path(study_dir)
    if not (directory / FILENAME).is_file():
        raise ValueError(f"{directory} holds no study: {FILENAME} is missing.")
    with Store(directory, readonly=True) as store:
        config = store.get_meta(CONFIG_KEY)
        recorded = store.get_meta(METRIC_KEY)
        done = store.done()
        rows = store.rows()
    if config is None:
        raise ValueError(f"{directory / FILENAME} has no study config.")
    config = upgrade_settings(config)
    missing = (
        f"{directory / FILENAME} marks {{pairs}} finished but holds none of their rows (a "
        "damaged or edited store, or pairs that finished no unit, which versions before issue "
        "16 marked done). Their seeds cannot be analysed: run the study again in a new directory."
    )
    runs, left_out = group_runs(rows, config["variants"], done, missing)
    metric = rows[0]["metric"] if rows else "accuracy"
    mode = (recorded or {}).get("mode") or MODES.get(metric)
    if mode is None:
        raise ValueError(
            f"{directory / FILENAME} does not say whether its metric {metric!r} is better "
            f"higher or lower: it records no `{METRIC_KEY}` (stores before it was recorded knew "
            f"only {sorted(MODES)}); continue the study with `ohgw study` to record it."
        )
    return StudyData(directory, config, runs, metric, mode, sorted(left_out))
