"""Packed trials: many trials of one benchmark trained as one vectorised model.

``PackedTrainer(benchmark, width).run(specs)`` is ``ohgw.trial.run_trial`` for many specs at
once: the same rows, checkpoints and warm starts, one vectorised training step for the pack.
"""

from ohgw.packed.trainer import PackedTrainer

__all__ = ["PackedTrainer"]
