"""The RESULTS.md table: every treated variant of every study against its paired baseline.

A shell over :mod:`ohgw.analysis.results_table`, which holds the logic:

    python scripts/results_table.py runs/cifar10-asha runs/cifar10-dyhpo ...
"""

from ohgw.analysis.results_table import main

if __name__ == "__main__":
    raise SystemExit(main())
