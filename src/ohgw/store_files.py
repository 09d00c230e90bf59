"""The study store's file handling: temporary names only one process uses, stale ones
recognised, directory entries made durable."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

STALE_PARTIAL_S = 3600.0  # a partial export of another host older than this is abandoned


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
