"""What the wall-clock engines (real clock, Ray) share: a pair's rows stored at once, and
worker slots numbered from when each trial process ran.

Such an engine runs a whole pair (a tuner for ``budget`` wall-clock seconds), then stores its
rows in one transaction. A wall-clock run cannot be replayed: a pair cut off before its rows
were stored starts over (its old folder, checkpoints included, removed first; one that cannot
be removed stops the study: :data:`STALE_CHECKPOINTS`), and one whose rows were stored but not
yet marked done is not run again.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from ohgw.store import Store
from ohgw.study.engines.base import Engine
from ohgw.study.engines.base import Progress
from ohgw.study.pair import Pair
from ohgw.study.pair import rows_summary
from ohgw.study.plan import Study

STALE_CHECKPOINTS = (
    "it holds an earlier run's trial checkpoints, and a trial of the new run would resume one "
    "and report only the units after it"
)
"""Why a pair's old folder must go before it starts over (``ohgw.store.files.remove_tree``)."""


class WallClockEngine(Engine):
    """An engine whose :meth:`tune` runs one pair and returns all its rows."""

    def run_pair(
        self, study: Study, pair: Pair, store: Store, progress: Progress
    ) -> dict[str, Any]:
        rows = store.rows(pair.label, pair.seed)
        if not rows:
            progress(f"{pair.label}, seed {pair.seed}: {self.name}")
            rows = self.tune(study, pair)
            store.add_rows(rows)
        return rows_summary(rows)

    @abstractmethod
    def tune(self, study: Study, pair: Pair) -> list[dict[str, Any]]:
        """Run the pair for ``budget`` wall-clock seconds; its rows (times since its start)."""


def assign_workers(rows: dict[Any, dict[str, Any]], process: dict[Any, Any]) -> None:
    """Number worker slots: each trial process (from its start or resume to its last unit)
    takes the lowest slot free when it starts. The engines have no slots, but run at most
    ``workers`` processes at once, so the numbers stay below ``workers``."""
    spans: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for key, row in rows.items():
        spans.setdefault(process[key], []).append(row)
    free_at: list[float] = []
    for (_, start), members in sorted(spans.items(), key=lambda item: item[0][::-1]):
        slot = next((i for i, t in enumerate(free_at) if t <= start), len(free_at))
        free_at[slot : slot + 1] = [max(r["time"] for r in members)]
        for row in members:
            row["worker"] = slot
