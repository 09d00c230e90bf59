"""Where ohgw reads data and keeps caches: one place for every loader.

Data roots, in order: ``$OHGW_DATA_DIR``, then a ``shared/data`` folder beside the repository
(the project's machines), then ``~/.cache/ohgw``. Downloads and derived files (a trained
tokenizer) go to :func:`default_cache_dir`. This module imports nothing of ohgw.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$OHGW_CACHE_DIR`` if set, else ``~/.cache/ohgw``: where downloads are kept."""
    return Path(os.environ.get("OHGW_CACHE_DIR") or Path.home() / ".cache" / "ohgw")


def data_dirs() -> list[Path]:
    """Candidate data roots that exist, most specific first."""
    candidates = []
    if os.environ.get("OHGW_DATA_DIR"):
        candidates.append(Path(os.environ["OHGW_DATA_DIR"]))
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in (start, *start.parents):
            candidates.append(parent / "shared" / "data")
            candidates.append(parent.parent / "shared" / "data")
    candidates.append(Path.home() / ".cache" / "ohgw")
    seen, unique = set(), []
    for path in candidates:
        if path not in seen and path.is_dir():
            seen.add(path)
            unique.append(path)
    return unique


def find(relative: str) -> Path:
    """The first data root holding ``relative``; a ``FileNotFoundError`` naming where it looked."""
    for root in data_dirs():
        if (root / relative).exists():
            return root / relative
    raise FileNotFoundError(
        f"{relative} was not found in {[str(p) for p in data_dirs()] or 'any data folder'}; "
        "set OHGW_DATA_DIR to a folder that holds it."
    )
