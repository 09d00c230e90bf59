"""The header of a committed measurement: date, machine, versions and commit, command.

Every timing or retrained number quoted in README.md, RESULTS.md or docs/ points at a file that
starts with these four comment lines, written here and nowhere else:

    # date: 2026-12-06 00:15 UTC
    # machine: x86_64, Intel(R) Xeon(R) Processor, 2 cores, 23 GiB, load average 1.49 1.58 1.60
    # versions: python 3.11.7 torch 2.13.0+cpu, ohgw at d68365e
    # command: .venv/bin/python perf/presets.py

``python -m ohgw.measure.header COMMAND...`` prints them for COMMAND (``perf/measure.sh`` runs it
with the Python being measured, so the versions are that interpreter's). torch's version is read
from its metadata: importing torch would cost seconds before every measurement.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _memory_gib() -> str:
    """Total memory in whole GiB, rounded down as ``free -g`` prints it ("?" when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return str(int(line.split()[1]) // 2**20)
    except OSError:
        pass
    return "?"


def machine() -> str:
    """Architecture, CPU model, cores, memory and the load average now."""
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return (
        f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} GiB, "
        f"load average {load}"
    )


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        import torch

        return torch.__version__


def commit(root: Path | None = None) -> str:
    """The ohgw commit the tree at ``root`` (default: the working directory) is at, marked when
    ``src`` has uncommitted changes; a tree without git says so."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )

    try:
        head = git("rev-parse", "--short", "HEAD")
    except OSError:  # no git program
        return "a tree without git"
    if head.returncode != 0 or not head.stdout.strip():
        return "a tree without git"
    dirty = git("diff", "--quiet", "HEAD", "--", "src").returncode != 0
    return head.stdout.strip() + (" (+ uncommitted changes in src)" if dirty else "")


def header_lines(command: str | Sequence[str], root: Path | None = None) -> list[str]:
    """The four header lines (without newlines) of a measurement made by ``command``."""
    if not isinstance(command, str):
        command = " ".join(command)
    now = datetime.datetime.now(datetime.timezone.utc)
    versions = f"python {platform.python_version()} torch {_torch_version()}"
    return [
        f"# date: {now:%Y-%m-%d %H:%M} UTC",
        f"# machine: {machine()}",
        f"# versions: {versions}, ohgw at {commit(root)}",
        f"# command: {command}",
    ]


def this_command() -> str:
    """How this process was started, as a header's command: ``python ARGV...``."""
    return "python " + " ".join(sys.argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the header of a measurement of the command in ``argv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m ohgw.measure.header COMMAND...", file=sys.stderr)
        return 2
    print("\n".join(header_lines(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
