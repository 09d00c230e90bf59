"""GPU-seconds of Slurm jobs from ``sacct``, recorded in the study's store.

The paper reads GPU-hours from Slurm's accounting. A job of ``python -m ohgw.slurm`` (worker or
shard) asks ``sacct`` for its own allocation when its work is done
(``sacct -j ID --format=JobID,Elapsed,AllocTRES --parsable2 --noheader``: ``|``-separated, no
header) and records ``elapsed x allocated GPUs`` under the store's metadata key ``SLURM_KEY``.
``ohgw report`` then shows T@tau in GPU-hours: T@tau x the GPUs the study's jobs held together.

Only the allocation's line counts (``123`` or an array task ``123_4``); its steps
(``123.batch``, ``123.extern``, ``123.0``) run inside the same allocation and would count it
twice. Allocated GPUs are ``gres/gpu=N`` in ``AllocTRES`` (typed entries such as
``gres/gpu:a100=N`` are summed when the plain one is absent).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

SLURM_KEY = "slurm_gpu_seconds"
FORMAT = "JobID,Elapsed,AllocTRES"


def sacct_command(job_id: str) -> list[str]:
    """The ``sacct`` call whose output :func:`parse_sacct` reads."""
    return ["sacct", "-j", str(job_id), f"--format={FORMAT}", "--parsable2", "--noheader"]


def parse_elapsed(text: str) -> float:
    """Seconds of Slurm's ``[DD-][HH:]MM:SS[.mmm]`` (``Elapsed``)."""
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if not 2 <= len(parts) <= 3 or (days and not days.isdigit()):
        raise ValueError(f"The Elapsed value {text!r} is not [DD-][HH:]MM:SS.")
    seconds = 0.0
    for part in parts:
        seconds = 60 * seconds + float(part)
    return seconds + 86400 * int(days or 0)


def gpus_in_tres(tres: str) -> int:
    """Allocated GPUs of an ``AllocTRES`` value (0 when it holds none)."""
    entries = dict(item.split("=", 1) for item in tres.split(",") if "=" in item)
    if "gres/gpu" in entries:
        return int(entries["gres/gpu"])
    return sum(int(v) for k, v in entries.items() if k.startswith("gres/gpu:"))


def parse_sacct(text: str) -> dict[str, dict[str, float]]:
    """Per allocation (job id): elapsed seconds, allocated GPUs and their product."""
    jobs = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3:
            raise ValueError(f"The sacct line {line!r} does not hold the 3 fields {FORMAT}.")
        job_id, elapsed, tres = fields
        if "." in job_id:  # a step of an allocation counted already
            continue
        seconds, gpus = parse_elapsed(elapsed), gpus_in_tres(tres)
        jobs[job_id] = {"elapsed_seconds": seconds, "gpus": gpus, "gpu_seconds": seconds * gpus}
    return jobs


def summarise(jobs: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The store's record: the jobs, the GPUs they held together (their jobs ran side by side:
    the workers or shards of one study) and the GPU-seconds in all."""
    return {
        "jobs": jobs,
        "gpus": int(sum(j["gpus"] for j in jobs.values())),
        "total": float(sum(j["gpu_seconds"] for j in jobs.values())),
    }


def _sacct(job_id: str) -> str:
    return subprocess.run(
        sacct_command(job_id), capture_output=True, text=True, check=True, timeout=60
    ).stdout


def record_job(
    directory: str | Path, job_id: str, sacct: Callable[[str], str] = _sacct
) -> dict[str, Any] | None:
    """Add job ``job_id``'s GPU-seconds to the store of ``directory``; the new record.

    Jobs of one study finish at about the same time: the record is read, merged and written in
    one transaction (:meth:`ohgw.store.Store.update_meta`), so that no job's write erases
    another's. A failing ``sacct`` is printed and records nothing (never fails a job).
    """
    from ohgw.store import Store

    try:
        jobs = parse_sacct(sacct(job_id))
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        print(f"ohgw: no GPU-seconds recorded for Slurm job {job_id}: {error}", flush=True)
        return None

    def merged(record: dict[str, Any] | None) -> dict[str, Any]:
        return summarise({**(record or {}).get("jobs", {}), **jobs})

    with Store(directory) as store:
        return store.update_meta(SLURM_KEY, merged)
