"""Data sets of the benchmarks: readers, canonical downloads, splits and noise."""

from __future__ import annotations

from typing import Any


def check_data(benchmark: Any) -> None:
    """Find and check the data files a built-in benchmark will read, before a study writes.

    A :class:`ohgw.paths.DataError` names a missing or damaged file and how to get a good copy;
    benchmarks of other names (registered by users) are not checked.
    """
    name = getattr(benchmark, "name", None)
    if name == "cifar10":
        from ohgw.datasets.cifar10 import check_cifar10

        check_cifar10(root=getattr(benchmark, "data_root", None))
    elif name == "wikitext":
        from ohgw.datasets.wikitext import check_wikitext

        check_wikitext(small=benchmark.preset.small, data_dir=benchmark.data_dir)
