"""Check a study's tau against the committed rows of its pilot.

A shell over :mod:`ohgw.analysis.pilot_check`, which holds the logic:

    python scripts/pilot_check.py docs/results/cifar10-asha-pilot --tau 0.25 --budget 15
"""

from ohgw.analysis.pilot_check import main

if __name__ == "__main__":
    raise SystemExit(main())
