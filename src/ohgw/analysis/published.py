"""A published study (``docs/results/<study>/``) read back without its store.

``scripts/publish_results.sh`` writes, from one reading of a study's store
(:func:`write_published`), its finished pairs' rows (``results.csv``, gzipped by the script to
``results.csv.gz``: deterministic columns only) and ``study.json`` beside them: the study's
settings, its finished (variant, seed) pairs, and per variant the measured quantities that the
rows leave out (the warm start's share of measured compute time, peak memory), plus the Slurm
GPU-seconds when the study ran as Slurm jobs. A finished pair without rows is refused when read
back (rows older than ``study.json``). :func:`load_published` turns the two files into the
``StudyData`` that the figures and the report read, so both can be rebuilt from what is
committed: ``ohgw report docs/results/<study>``.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from ohgw.analysis import metrics as me
from ohgw.store import MEASURED as MEASURED_COLUMNS
from ohgw.store import ROW_KEY
from ohgw.store import write_csv
from ohgw.store.study_dir import MODES
from ohgw.store.study_dir import StudyData
from ohgw.store.study_dir import group_runs
from ohgw.store.study_dir import load_study
from ohgw.store.study_dir import upgrade_settings

ROWS = "results.csv.gz"
PLAIN_ROWS = "results.csv"  # what write_published writes; the publish script gzips it
SETTINGS = "study.json"
MEASURED = ("warm_seconds_share", "peak_memory_bytes", "memory_measure")


@dataclass
class PublishedStudy(StudyData):
    """A ``StudyData`` read from published files; ``measured[variant]`` fills what the rows
    lack (``MEASURED``), ``slurm`` the Slurm accounting when recorded."""

    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    slurm: dict[str, Any] | None = None
    source: str = ""


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "": None}.get(text, text)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv`` or ``results.csv.gz``, numbers and booleans parsed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def is_published(directory: str | Path) -> bool:
    """Whether ``directory`` holds a published study (rows and ``study.json``)."""
    return (Path(directory) / ROWS).is_file() and (Path(directory) / SETTINGS).is_file()


def load_published(directory: str | Path) -> PublishedStudy:
    """The finished runs of a published study, as ``load_study`` reads a store."""
    directory = Path(directory)
    if not is_published(directory):
        raise ValueError(f"{directory} holds no published study: needs {ROWS} and {SETTINGS}.")
    meta = json.loads((directory / SETTINGS).read_text(encoding="utf-8"))
    config = upgrade_settings(meta["config"])
    finished = {(str(v), int(s)) for v, s in meta["finished"]}
    rows = read_rows(directory / ROWS)
    missing = (
        f"{directory / SETTINGS} lists {{pairs}} as finished, but {directory / ROWS} holds none "
        "of their rows: the rows were exported before those pairs finished. Publish the study "
        "again (scripts/publish_results.sh writes both from its store)."
    )
    runs, left_out = group_runs(rows, config["variants"], finished, missing)
    metric = rows[0]["metric"] if rows else "accuracy"
    return PublishedStudy(
        directory, config, runs, metric, MODES[metric], sorted(left_out),
        measured=meta.get("measured", {}), slurm=meta.get("slurm"),
        source=meta.get("source", ""),
    )  # fmt: skip


def measured_by_variant(study: StudyData) -> dict[str, dict[str, Any]]:
    """Per variant, the measured quantities of its finished runs that the export leaves out."""
    out = {}
    for label, by_seed in study.runs.items():
        rows = [row for run in by_seed.values() for row in run]
        if rows:
            overhead = me.overhead(rows)
            out[label] = {k: overhead[k] for k in MEASURED}
    return out


def write_published(study_dir: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``out_dir/results.csv`` (the finished pairs' rows without the measured columns)
    and ``out_dir/study.json`` from one reading of a study directory's store: every pair that
    study.json calls finished has its rows in the CSV (the publish step)."""
    study = load_study(study_dir)
    rows = [row for by_seed in study.runs.values() for run in by_seed.values() for row in run]
    rows.sort(key=lambda row: tuple(row[k] for k in ROW_KEY))  # as the store's export
    path = write_csv(Path(out_dir) / PLAIN_ROWS, rows, exclude=MEASURED_COLUMNS)
    return path, _write_settings(study, study_dir, out_dir)


def write_settings(study_dir: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/study.json`` from a study directory's store."""
    return _write_settings(load_study(study_dir), study_dir, out_dir)


def _write_settings(study: StudyData, study_dir: str | Path, out_dir: str | Path) -> Path:
    from ohgw.slurm_accounting import SLURM_KEY
    from ohgw.store import Store

    with Store(study_dir, readonly=True) as store:
        slurm = store.get_meta(SLURM_KEY)
    meta = {
        "config": study.config,
        "finished": sorted([v, s] for v, by_seed in study.runs.items() for s in by_seed),
        "measured": measured_by_variant(study),
        "slurm": slurm,
        "source": f"written by ohgw.analysis.published from {Path(study_dir).name}'s store",
    }
    path = Path(out_dir) / SETTINGS
    text = json.dumps(meta, indent=1, sort_keys=True, default=_finite)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def main(argv: list[str] | None = None) -> int:
    """``python -m ohgw.analysis.published STUDY_DIR OUT_DIR``: write OUT_DIR/results.csv and
    OUT_DIR/study.json."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    print("\n".join(str(path) for path in write_published(*args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
