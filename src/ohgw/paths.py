"""Where ohgw reads data and keeps caches: one place for every loader.

Data roots, in order: ``$OHGW_DATA_DIR``, then a ``shared/data`` folder beside the repository
(the project's machines), then ``~/.cache/ohgw``. Downloads and derived files (a trained
tokenizer) go to :func:`default_cache_dir`. This module imports nothing of ohgw.
"""

from __future__ import annotations

import os
from pathlib import Path


class DataError(ValueError):
    """A data file is missing, damaged or not where a setting says; the message names it and
    how to get a good copy (a ``ValueError``, so ``ohgw study`` reports it in one paragraph)."""


def default_cache_dir() -> Path:
    """``$OHGW_CACHE_DIR`` if set, else ``~/.cache/ohgw``: where downloads are kept."""
    return Path(os.environ.get("OHGW_CACHE_DIR") or Path.home() / ".cache" / "ohgw")


def data_dirs() -> list[Path]:
    """Candidate data roots that exist, most specific first.

    A set ``OHGW_DATA_DIR`` that is not a folder is a :class:`DataError` naming it: falling back
    to another folder would train on data the user did not ask for."""
    candidates = []
    if os.environ.get("OHGW_DATA_DIR"):
        chosen = Path(os.environ["OHGW_DATA_DIR"])
        if not chosen.is_dir():
            raise DataError(
                f"OHGW_DATA_DIR is {str(chosen)!r}, which is not a folder; set it to a folder "
                "holding the data (e.g. cifar10/cifar10.npz, wikitext-2/valid.txt), or unset it "
                "to use ../shared/data or ~/.cache/ohgw."
            )
        candidates.append(chosen)
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
