"""Write ``study.json`` for a study published before it existed, from what is committed.

A shell over :mod:`ohgw.measure.published_from_report`, which holds the logic:

    python scripts/published_from_report.py docs/results/cifar10-asha ...
"""

from ohgw.measure.published_from_report import main

if __name__ == "__main__":
    raise SystemExit(main())
