"""Seconds per epoch of the full ResNet-20 (width 16) on a GPU, with and without the warm start.

A shell over :mod:`ohgw.measure.gpu_epoch`, which holds the logic:

    python perf/gpu_epoch.py --device cuda --train-size 10000
"""

from ohgw.measure.gpu_epoch import main

if __name__ == "__main__":
    raise SystemExit(main())
