"""Smoke-check every path that touches the GPU (``ohgw.study.smoke``): the GPU runbook's first
step, so that a broken CUDA path stops the run in seconds, not after minutes of the pilot.

    python scripts/gpu_smoke.py --device cuda [--options '{"train_size": 1024}']
"""

from __future__ import annotations

import sys

from ohgw.study.smoke import main

if __name__ == "__main__":
    sys.exit(main())
