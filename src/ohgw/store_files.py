"""Files that another process (or a later run) trusts: the store's and the study's.

Temporary names only one process uses, stale ones recognised, whole files written under them
and renamed into place (:func:`write_whole`), directory entries made durable, a folder locked
while one process writes into it (:func:`folder_lock`). Used by the store, its export and the
report; imports nothing of ohgw.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

STALE_PARTIAL_S = 3600.0  # a partial export of another host older than this is abandoned
PARTIAL = ".partial"  # the tag of write_whole's temporary files


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


def write_whole(path: str | Path, write: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` whole or not at all: ``write`` (bytes, or a function writing into a binary
    file) goes to a file of this process's own beside it, which is flushed to disk and renamed
    over ``path``. Readers see the old file or the new one, never a part; a failure removes the
    temporary file, and those of dead processes are removed first.
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*{PARTIAL}"):
        if abandoned(stale):
            stale.unlink(missing_ok=True)
    partial = temporary_name(path, PARTIAL)
    try:
        with open(partial, "xb") as handle:
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
