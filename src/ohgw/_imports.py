"""Optional dependencies (pip extras): an import that fails says which extra to install."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

EXTRAS = {
    "ray": ("ray",),
    "optuna": ("optuna",),
    "postgresql": ("psycopg", "psycopg2"),
    "slurm": ("submitit", "hydra_plugins"),
}
"""pip extra -> the top-level modules it installs."""


@contextlib.contextmanager
def try_import(extra: str | None, what: str) -> Iterator[None]:
    """Run imports; a module of ``extra`` that is missing raises an ``ImportError`` naming
    ``what`` needs it and the extra that installs it (``pip install 'ohgw[ray]'``)."""
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if extra is None or missing not in EXTRAS.get(extra, (extra,)):
            raise
        raise ImportError(
            f"{what} needs `{missing}`, which is not installed: install `ohgw[{extra}]` "
            f"(pip install 'ohgw[{extra}]')."
        ) from error
