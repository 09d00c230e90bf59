"""One (variant, seed) pair of a study: what its trials share, and the rows they leave.

For seed s every variant gets the same scheduler seed, and trial k of seed s starts from the same
theta_0 and data order (:func:`trial_seed`) in every variant and on every engine. A trial's
``TrialSpec`` is built in one place, :meth:`TrialTemplate.spec`, from the settings every trial of
the pair shares; the template travels to trial processes as JSON (:meth:`TrialTemplate.to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.variants import Variant

MEASURED = ("compute_seconds", "warm_seconds", "peak_memory_bytes")
"""Fields a trial measures rather than computes: they vary run to run and stay out of exports."""


def trial_seed(seed: int, trial_id: int) -> int:
    """theta_0 and data order of trial ``trial_id`` of study seed ``seed``, in every variant."""
    return seed * 100_003 + trial_id


@dataclass(frozen=True)
class Pair:
    """One arm of a study under one paired seed: the unit the pair loop hands to an engine."""

    variant: Variant
    seed: int

    @property
    def label(self) -> str:
        return self.variant.label

    @property
    def key(self) -> tuple[str, int]:
        """The store's key of the pair: ``(variant label, seed)``."""
        return (self.variant.label, self.seed)


@dataclass(frozen=True)
class TrialTemplate:
    """What every trial of one pair shares: benchmark, study seed, warm start, options, device."""

    benchmark: str
    seed: int
    warm_start: WarmStartSettings
    benchmark_options: Mapping[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def spec(
        self,
        trial_id: int,
        config: Mapping[str, Any],
        max_resource: int,
        checkpoint_dir: str | Path | None = None,
    ) -> TrialSpec:
        """Trial ``trial_id`` of the pair with ``config``, trained up to ``max_resource``."""
        return TrialSpec(
            benchmark=self.benchmark,
            config=dict(config),
            seed=trial_seed(self.seed, trial_id),
            max_resource=max_resource,
            warm_start=self.warm_start,
            benchmark_options=dict(self.benchmark_options),
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            device=self.device,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a trial process (:meth:`from_dict` reads it back)."""
        out = asdict(self)
        out["benchmark_options"] = dict(self.benchmark_options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialTemplate:
        warm = data["warm_start"]
        if isinstance(warm, Mapping):
            warm = WarmStartSettings(**warm)
        return cls(**{**data, "warm_start": warm})


def store_row(
    report: dict[str, Any],
    *,
    label: str,
    seed: int,
    trial_id: int,
    worker: int,
    start_time: float,
    time: float,
    config: dict[str, Any],
    cost: float | None = None,
) -> dict[str, Any]:
    """The store's row of one unit: the trial runner's report, where and when it ran, the
    config it trained. ``cost`` defaults to the unit's span (the wall-clock engines)."""
    return {
        **report,
        "status": "diverged" if report["status"] == "diverged" else "ok",
        "variant": label,
        "seed": seed,
        "trial_id": trial_id,
        "worker": worker,
        "start_time": start_time,
        "time": time,
        "cost": time - start_time if cost is None else cost,
        **{f"config.{k}": v for k, v in config.items()},
    }


def rows_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A finished pair's summary from its rows: trials, units, when its last unit ended."""
    return {
        "trials": len({r["trial_id"] for r in rows}),
        "units": len(rows),
        "end_time": max((r["time"] for r in rows), default=0.0),
    }


def safe_name(label: str) -> str:
    """A variant label as a file name part."""
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
