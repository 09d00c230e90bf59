"""Ship all of CIFAR-10 to a lent GPU machine in parts of at most 40 MiB, losslessly.

A shell over :mod:`ohgw.datasets.cifar10_bundle`, which holds the logic:

    python scripts/gpu_bundle.py pack   [--out gpu_data] [--parts 4] [--images N] [--test-images M]
    python scripts/gpu_bundle.py unpack [--dir gpu_data]  # -> gpu_data/cifar10/cifar10.npz
"""

from ohgw.datasets.cifar10_bundle import main

if __name__ == "__main__":
    raise SystemExit(main())
