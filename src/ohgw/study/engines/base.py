"""The engine interface: what a study engine must do, and what the pair loop does for it.

An engine runs (variant, seed) pairs into the study's store. It does not choose which pairs:
the pair loop (:mod:`ohgw.study.runner`) orders them seed-major, keeps the shard's seeds, skips
finished pairs, shows progress, marks each pair done, exports and summarises, once for every
engine. An engine says which schedulers it runs, checks its own settings, and runs one pair
(:meth:`Engine.run_pair`); one that can run many pairs at once (packed trials on a GPU)
overrides :meth:`Engine.run_pairs`.
"""

from __future__ import annotations

import contextlib
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import ClassVar

from ohgw.store import Store
from ohgw.study.pair import Pair
from ohgw.study.plan import Study

Progress = Callable[[str], Any]
"""Where an engine says what it is doing (the progress bar's text)."""
OnDone = Callable[[Pair, dict[str, Any]], Any]
"""Called with a pair and its summary once all its rows are in the store."""


class Engine(ABC):
    """Runs a study's (variant, seed) pairs into its store."""

    name: ClassVar[str]
    """The value of the study setting ``engine``."""
    schedulers: ClassVar[tuple[str, ...]]
    """The values of the study setting ``scheduler`` this engine runs."""

    def check(self, study: Study) -> None:  # noqa: B027 - an optional hook
        """Refuse settings this engine cannot run (a ``ValueError`` naming one), before any
        file is written. The default accepts all."""

    @contextlib.contextmanager
    def session(self, study: Study) -> Iterator[None]:
        """Entered around the pairs to run, only when there are some (connect to a cluster,
        start worker processes). The default does nothing."""
        yield

    @abstractmethod
    def run_pair(
        self, study: Study, pair: Pair, store: Store, progress: Progress
    ) -> dict[str, Any]:
        """Run one pair to its budget, its rows into ``store``; return its summary
        (``trials``, ``units``, ``end_time`` and whatever the engine adds). A rerun after a
        crash must continue or restart the pair without mixing two runs' rows."""

    def run_pairs(
        self,
        study: Study,
        pairs: Sequence[Pair],
        store: Store,
        progress: Progress,
        on_done: OnDone,
    ) -> None:
        """Run unfinished pairs (seed-major, this shard's); call ``on_done`` for each as it
        finishes. The default runs them one by one."""
        for pair in pairs:
            on_done(pair, self.run_pair(study, pair, store, progress))
