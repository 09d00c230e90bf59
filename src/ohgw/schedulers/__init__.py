"""Schedulers behind one small interface, driven by our simulated-clock study loop.

The syne-tune adapters live in :mod:`ohgw.schedulers.synetune` (imported on demand: it needs
the ``syne`` extra).
"""

from __future__ import annotations

from ohgw.schedulers.base import Decision
from ohgw.schedulers.base import Scheduler
from ohgw.schedulers.base import Suggestion

__all__ = ["Decision", "Scheduler", "Suggestion"]
