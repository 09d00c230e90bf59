"""The study store's failures: each a one-paragraph message naming the file and the way out.

:class:`StoreError` (the store cannot be used as it is: missing, empty, damaged rows or file,
no access, locked, disk full, a newer or a foreign schema) and :class:`StoreConflict` (content
other than what is stored); :func:`describe` sorts SQLite's and the file system's errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ohgw.store.rows import row_name

SHOWN = 5  # damaged rows named one by one; the rest counted
_DAMAGE = ("malformed", "not a database", "could not decode", "expecting", "delimiter")
_ACCESS = ("unable to open", "readonly", "read-only", "permission", "access")


class StoreConflict(ValueError):
    """The store holds other content than what is being written (see the module docstring)."""


def describe(error: BaseException) -> tuple[str, str]:
    """(kind, text) of an SQLite, file-system or JSON error: kind is one of ``damaged``,
    ``access``, ``locked``, ``full`` or ``other``."""
    text = str(error) or type(error).__name__
    low = text.lower()
    if isinstance(error, (PermissionError, IsADirectoryError, NotADirectoryError)):
        return "access", text
    if isinstance(error, ValueError) and not isinstance(error, sqlite3.Error):
        return "damaged", f"unreadable JSON: {text}"  # json.JSONDecodeError
    if "locked" in low or "busy" in low:
        return "locked", text
    if "full" in low or "no space" in low:
        return "full", text
    if any(word in low for word in _ACCESS):
        return "access", text
    if isinstance(error, sqlite3.DatabaseError) and (
        any(word in low for word in _DAMAGE) or not isinstance(error, sqlite3.OperationalError)
    ):
        return "damaged", text
    return "other", text


def _pairs(pairs: Sequence[tuple[str, int]] | None) -> str:
    if pairs is None:
        return "which (variant, seed) pairs it held cannot be read, so take all as affected"
    if not pairs:
        return "every pair's rows still read whole (the damage is in the file's structure)"
    named = ", ".join(f"({v!r}, seed {s})" for v, s in pairs)
    return f"the (variant, seed) pairs {named}; the rows of the other pairs read whole"


class StoreError(ValueError):
    """The store cannot be used as it is; the message says which file, why, and what to do."""

    def __init__(
        self,
        path: Path,
        kind: str,
        detail: object = None,
        pairs: Sequence[tuple[str, int]] | None = None,
        damaged: Sequence[tuple[object, ...]] = (),
    ) -> None:
        self.path = Path(path)
        self.damaged = [tuple(key) for key in damaged]
        if self.damaged:
            pairs = sorted({(str(k[0]), int(k[1])) for k in self.damaged})  # type: ignore[call-overload]
        self.pairs = None if pairs is None else list(pairs)
        self.kind = kind
        super().__init__(self._message(kind, detail))

    def _message(self, kind: str, detail: object) -> str:
        path, directory = self.path, self.path.parent
        nothing = "Nothing was written to it"
        rerun = (
            "Rerun the study into a new directory (the same command with directory=NEW_DIR) "
            "and keep this file for inspection"
        )
        if kind == "missing":
            return f"{directory} holds no study: {path.name} is missing."
        if kind == "empty":
            return (
                f"The study store {path} is empty (0 bytes). A store is created whole, so an "
                "empty one lost the study it held; it is not taken for a new study. "
                f"{nothing}. {rerun}, or delete the empty file if no study is to be kept there."
            )
        if kind == "rows":
            shown = "; ".join(row_name(key) for key in self.damaged[:SHOWN])
            more = len(self.damaged) - SHOWN
            shown += f"; and {more} more" if more > 0 else ""
            return (
                f"The study store {path} holds {len(self.damaged)} row(s) whose content no "
                f"longer matches the checksum written with it (damage, or an edit): {shown}. "
                f"Affected: {_pairs(self.pairs)}. {nothing}. {rerun}."
            )
        if kind == "version":
            return (
                f"The study store {path} has {detail}, newer than this code reads; update "
                f"ohgw to read it. {nothing}."
            )
        if kind == "foreign":
            return (
                f"{path} is an SQLite file but not a study store ({detail}). {nothing}. Give "
                "the study a new directory, or delete the file if it is not needed."
            )
        if not isinstance(detail, BaseException):
            raise TypeError(f"StoreError of kind {kind!r} needs the error as its detail.")
        what, text = describe(detail)
        action = kind  # open, read, write, export
        if what == "damaged":
            return (
                f"The study store {path} is damaged ({text}). Affected: {_pairs(self.pairs)}. "
                f"{nothing}, and what is intact stays in it (`sqlite3 {path} .recover` reads "
                f"it out). {rerun}."
            )
        if what == "access":
            return (
                f"The study store {path} cannot be {_PARTICIPLE.get(action, action)} ({text}): "
                f"`ohgw study` needs write access to {directory} (SQLite keeps its journal "
                "beside the file); `ohgw report` reads a finished store without it. Make the "
                "directory writable, or copy the study directory to a writable place and run "
                f"the command there. {nothing}."
            )
        if what == "locked":
            return (
                f"The study store {path} stayed locked by another process ({text}). Another "
                "process of the study holds it; rerun the same command when it has finished "
                "(nothing committed is lost). If none runs, copy the study directory and "
                "continue there."
            )
        if what == "full":
            return (
                f"The study store {path} could not be {_PARTICIPLE.get(action, action)} "
                f"({text}). Free disk space in {directory} and rerun the same command; nothing "
                "committed is lost."
            )
        return (
            f"The study store {path} could not be {_PARTICIPLE.get(action, action)} ({text}). "
            f"Rerun the same command; if it fails again, {rerun[0].lower()}{rerun[1:]}."
        )


_PARTICIPLE = {"open": "opened", "read": "read", "write": "written", "export": "exported"}
