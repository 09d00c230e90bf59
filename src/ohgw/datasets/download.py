"""A file fetched over HTTP and kept only if its MD5 is the published one, and that check on a
file at hand (the CIFAR-10 tarball: downloaded, cached, or given)."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ohgw.datasets.checksums import file_digest


def check_md5(path: Path, expected: str, delete: bool, name: str, advice: str) -> None:
    """Raise a ``ValueError`` naming ``name`` and both checksums (deleting ``path`` if asked)."""
    actual = file_digest(path, "md5")
    if actual != expected:
        if delete:
            path.unlink(missing_ok=True)
        raise ValueError(
            f"The MD5 checksum of {name} is {actual}, but must be {expected}. {advice}"
        )


def download(url: str, dest: Path, md5: str, progress: bool) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``; rename it only if the MD5 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        advice = (
            "The download is corrupt or incomplete and was deleted; run again, or fetch the "
            f"file by hand and place it at {dest}."
        )
        check_md5(tmp, md5, delete=True, name=f"{url} (downloaded for {dest})", advice=advice)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
