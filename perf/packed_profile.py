"""Where the time of a trial unit goes, packed and unpacked, split by part, on one device.

A shell over :mod:`ohgw.measure.packed_profile`, which holds the logic:

    python perf/packed_profile.py [--widths 1 16 64] [--units 2] [--device cpu]
    python perf/packed_profile.py --before COMMIT   # COMMIT's packed trainer too, interleaved
"""

from ohgw.measure.packed_profile import main

if __name__ == "__main__":
    raise SystemExit(main())
