"""What defines a trial: its warm-start settings and its spec (the trial loop runs a spec).

Both are frozen dataclasses that check their values when built, so a study refuses a bad
variant before it writes anything; a spec round-trips through JSON (``ohgw trial SPEC.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from typing import Any

from ohgw.benchmarks.base import Benchmark
from ohgw.hypergrad import Forward
from ohgw.hypergrad import Lookahead
from ohgw.hypergrad import Objective
from ohgw.warmstart import check_step_settings


@dataclass(frozen=True)
class WarmStartSettings:
    """How a trial warm-starts; ``mode="none"`` is the baseline."""

    mode: str = "none"
    eta_h: float = 1e-3
    steps: int = 1
    objective: str = "lookahead"  # or "forward"
    inner_steps: int = 1
    held_out: bool = False
    first_order: bool = False
    grad_batches: int = 1
    hypergrad: str = "auto"  # Lookahead's method: "auto" (lean for K=1), "lean" or "graph"

    def __post_init__(self) -> None:
        # Checked here, not only when a trial runs: a study must refuse them before it writes.
        check_step_settings(self.mode, self.eta_h, self.steps, self.grad_batches)
        if self.objective == "lookahead":  # refuses inner_steps < 1, an unknown hypergrad
            Lookahead(inner_steps=self.inner_steps, method=self.hypergrad)  # type: ignore[arg-type]
        if self.objective not in ("lookahead", "forward"):
            raise ValueError(
                f"The value of `objective` is {self.objective!r}, "
                "but must be 'lookahead' or 'forward'."
            )

    def objective_for(self, benchmark: Benchmark) -> Objective:
        if self.objective == "forward":
            return Forward()
        return Lookahead(
            inner_steps=self.inner_steps,
            held_out=self.held_out,
            outer_loss=benchmark.eval_loss if self.held_out else None,
            first_order=self.first_order,
            method=self.hypergrad,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class TrialSpec:
    """Everything that defines a trial. ``max_resource`` may grow between resumptions."""

    benchmark: str
    config: Mapping[str, Any]
    seed: int
    max_resource: int
    warm_start: WarmStartSettings = field(default_factory=WarmStartSettings)
    benchmark_options: Mapping[str, Any] = field(default_factory=dict)
    checkpoint_dir: str | None = None
    device: str = "cpu"
    report_test: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"The value of `seed` is {self.seed!r}, but must be an int >= 0.")
        if not isinstance(self.max_resource, int) or self.max_resource < 1:
            raise ValueError(
                f"The value of `max_resource` is {self.max_resource!r}, but must be an int >= 1."
            )
        if isinstance(self.warm_start, Mapping):
            object.__setattr__(self, "warm_start", WarmStartSettings(**self.warm_start))

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this spec."""
        out = self.to_dict()
        for key in ("max_resource", "checkpoint_dir", "device", "report_test"):
            out.pop(key)
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["config"], out["benchmark_options"] = dict(self.config), dict(self.benchmark_options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown trial spec field(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)
