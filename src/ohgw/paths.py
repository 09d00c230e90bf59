"""Where ohgw reads data and keeps caches: one place for every loader.

Data roots, in order: ``$OHGW_DATA_DIR``, then the project's own ``../shared/data`` (beside the
source checkout ohgw runs from: the project's machines), and nowhere else. Never a folder found
from the working directory: a ``shared/data`` in any of its parents (a world-writable
``/tmp/shared/data`` when run from ``/tmp/x``) could plant data. Every file read from a root is
checked against its published checksum by its loader. Downloads and derived files (a trained
tokenizer, an uncompressed copy, verified checksums) go to :func:`default_cache_dir`. This module
imports nothing of ohgw.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "OHGW_DATA_DIR"


class DataError(ValueError):
    """A data file is missing, damaged or not where a setting says; the message names it and
    how to get a good copy (a ``ValueError``, so ``ohgw study`` reports it in one paragraph)."""


def default_cache_dir() -> Path:
    """``$OHGW_CACHE_DIR`` if set, else ``~/.cache/ohgw``: where downloads are kept."""
    return Path(os.environ.get("OHGW_CACHE_DIR") or Path.home() / ".cache" / "ohgw")


def project_data_dir() -> Path | None:
    """``../shared/data`` beside the source checkout this module is part of (its root holds
    ``pyproject.toml``); None for an installed copy, which has no project beside it."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        return None
    return root.parent / "shared" / "data"


def data_dirs() -> list[Path]:
    """The data roots that exist, in the order they are searched.

    A set ``OHGW_DATA_DIR`` that is not a folder is a :class:`DataError` naming it: falling back
    to another folder would train on data the user did not ask for."""
    candidates = []
    if os.environ.get(DATA_DIR_ENV):
        chosen = Path(os.environ[DATA_DIR_ENV])
        if not chosen.is_dir():
            raise DataError(
                f"{DATA_DIR_ENV} is {str(chosen)!r}, which is not a folder; set it to a folder "
                "holding the data (e.g. cifar10/cifar10.npz, wikitext-2/valid.txt), or unset it "
                "to use the project's ../shared/data."
            )
        candidates.append(chosen)
    project = project_data_dir()
    if project is not None and project.is_dir():
        candidates.append(project)
    return list(dict.fromkeys(candidates))


def find(relative: str) -> Path:
    """The first data root holding ``relative``; a ``FileNotFoundError`` naming where it looked."""
    roots = data_dirs()
    for root in roots:
        if (root / relative).exists():
            return root / relative
    where = [str(p) for p in roots] or [f"${DATA_DIR_ENV} (unset)", "../shared/data (none)"]
    raise FileNotFoundError(
        f"{relative} was not found in {where}; set {DATA_DIR_ENV} to a folder that holds it."
    )
