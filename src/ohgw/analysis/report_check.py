"""Render a study's ``report.html`` in headless Chromium and check that every figure loaded.

Usage: ``python scripts/check_report.py STUDY_DIR [--chromium PATH]``. Two browser runs:
``--dump-dom`` (after a virtual-time budget, so the page's load handler has run) to read
``body[data-figures]`` ("<loaded>/<total>", set by the report's inline script), and
``--screenshot`` to ``STUDY_DIR/report.png`` at 1280 x 4000. Exits 0 only if every ``img``
loaded, there is at least one, the count matches the ``<img`` tags in the file, and the
screenshot exists and is non-empty. Prints each check.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
TIMEOUT_S = 120


def browse(chromium: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on ``url`` with a fresh, empty profile directory."""
    with tempfile.TemporaryDirectory(prefix="ohgw-chromium-") as profile:
        command = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, url]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )


def check(study_dir: Path, chromium: str) -> list[tuple[bool, str]]:
    """The checks, each (passed, what was checked)."""
    page = study_dir / "report.html"
    if not page.is_file():
        return [(False, f"{page} exists")]
    url = page.resolve().as_uri()
    expected = page.read_text(encoding="utf-8").count("<img ")
    results = [(expected > 0, f"report.html has {expected} <img> tags (need at least one)")]
    dom = browse(chromium, url, "--virtual-time-budget=10000", "--dump-dom")
    found = re.search(r'<body[^>]*\sdata-figures="(\d+)/(\d+)"', dom.stdout)
    if found is None:
        tail = dom.stderr.strip().splitlines()[-3:]
        results.append(
            (False, f"the DOM dump has body[data-figures] (exit {dom.returncode}; {tail})")
        )
    else:
        loaded, total = int(found[1]), int(found[2])
        results.append((loaded == total == expected, f"figures loaded {loaded}/{total}, "
                        f"expected {expected}/{expected}"))  # fmt: skip
    shot = study_dir / "report.png"
    shot.unlink(missing_ok=True)
    run = browse(chromium, url, f"--screenshot={shot.resolve()}", "--window-size=1280,4000")
    size = shot.stat().st_size if shot.is_file() else 0
    results.append((size > 0, f"screenshot {shot} written ({size} bytes, exit {run.returncode})"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).is_file():
        print(f"FAIL: no Chromium at {args.chromium}")
        return 2
    results = check(args.study_dir, args.chromium)
    for passed, what in results:
        print(f"{'ok  ' if passed else 'FAIL'} {what}")
    ok = all(passed for passed, _ in results)
    print("report check passed" if ok else "report check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
