"""Files that another process (or a later run) trusts: the store's and the study's.

Temporary names only one process uses, stale ones recognised, whole files written under them
and renamed into place (:func:`write_whole`), directory entries made durable, a folder locked
while one process writes into it (:func:`folder_lock`), folders removed loudly
(:func:`remove_tree`). Used by the store, its export, the report and the trial checkpoints;
imports nothing of ohgw.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

STALE_PARTIAL_S = 3600.0  # a partial export of another host older than this is abandoned
PARTIAL = ".partial"  # the tag of write_whole's temporary files
_FOLDER_TRIES = 100  # write_whole(make_folder=True): how often its folder may vanish under it


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def abandoned(path: Path) -> bool:
    """Whether a temporary file was left by a process that is gone: ours are named
    ``.<name>.<host>.<pid>.<hex>.<tag>`` (gone: a dead pid on this host, or over an hour old);
    any other name is an older version's (``results.csv<random>.partial``), never in use now."""
    parts = path.name.split(".")
    if len(parts) < 5 or not parts[-3].isdigit():
        return True
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > STALE_PARTIAL_S:
            return True
    return parts[-4] == socket.gethostname().replace(".", "_") and not _pid_alive(int(parts[-3]))


def temporary_name(path: Path, tag: str) -> Path:
    """A file name beside ``path`` that only this process uses (see :func:`abandoned`)."""
    host = socket.gethostname().replace(".", "_")
    return path.with_name(f".{path.name}.{host}.{os.getpid()}.{os.urandom(4).hex()}{tag}")


def fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (where the platform allows opening a directory)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_whole(
    path: str | Path, write: bytes | Callable[[BinaryIO], object], make_folder: bool = False
) -> Path:
    """Write ``path`` whole or not at all: ``write`` (bytes, or a function writing into a binary
    file) goes to a file of this process's own beside it, which is flushed to disk and renamed
    over ``path``. Readers see the old file or the new one, never a part; a failure removes the
    temporary file, and those of dead processes are removed first.

    ``make_folder``: create the folder, again if another process removes it (empty) before the
    temporary file is in it; once the file is there, the folder is not empty and stays.
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*{PARTIAL}"):
        if abandoned(stale):
            stale.unlink(missing_ok=True)
    partial = temporary_name(path, PARTIAL)
    try:
        with _create(partial, make_folder) as handle:
            if isinstance(write, bytes):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def _create(path: Path, make_folder: bool) -> BinaryIO:
    """``open(path, "xb")``; with ``make_folder``, its folder created (again) as needed."""
    for _ in range(_FOLDER_TRIES if make_folder else 1):
        try:
            if make_folder:  # a parent removed while mkdir climbs back down: FileNotFoundError
                path.parent.mkdir(parents=True, exist_ok=True)
            return open(path, "xb")  # the caller closes it
        except FileNotFoundError:
            if not make_folder:
                raise
    raise FileNotFoundError(
        f"{path.parent} was removed {_FOLDER_TRIES} times while a file was being created in it."
    )


def remove_tree(folder: str | Path, why: str) -> None:
    """Remove ``folder`` and everything in it (absent already: nothing to do); whatever cannot
    be removed raises an ``OSError`` naming it and ``why`` it must go."""
    folder = Path(folder)
    failed: list[tuple[str, BaseException]] = []

    def note(function: object, name: str, error: object) -> None:
        error = error[1] if isinstance(error, tuple) else error  # onerror's exc_info, onexc's
        if not isinstance(error, FileNotFoundError):  # removed meanwhile: gone is what we want
            failed.append((name, error))

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=note)
    else:  # onexc is new in 3.12, where onerror is deprecated
        shutil.rmtree(folder, onerror=note)
    if failed or folder.exists():
        # the folders above a file that stayed are not empty: name only the causes
        causes = [(n, e) for n, e in failed if getattr(e, "errno", None) != errno.ENOTEMPTY]
        named = "; ".join(f"{n} ({e})" for n, e in causes or failed) or str(folder)
        raise OSError(
            f"{folder} could not be removed, but must be: {why}. Not removed: {named}. Remove "
            "it by hand (check its permissions and whether a process still writes into it), "
            "then run the command again."
        )


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while the block runs; other processes asking for
    it wait. The lock is on the folder itself (``flock``), so no lock file is left in it."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock
