"""Throughput of packed trials against unpacked ones, in one run on one device.

A shell over :mod:`ohgw.measure.packed_throughput`, which holds the logic:

    python perf/packed_throughput.py --device cuda --train-size 10000 --amp
    python perf/packed_throughput.py --device cpu --quick      # a dry run of the script
"""

from ohgw.measure.packed_throughput import main

if __name__ == "__main__":
    raise SystemExit(main())
