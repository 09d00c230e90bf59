"""The benchmark presets: parameters, FLOPs and seconds per unit, and what the mini presets reach.

A shell over :mod:`ohgw.measure.presets`, which holds the logic:

    python perf/presets.py [--units 10] [--seeds 3]
"""

from ohgw.measure.presets import main

if __name__ == "__main__":
    raise SystemExit(main())
