"""ohgw: One-Shot Hyper-Gradient Warm-Starts for multi-fidelity hyperparameter optimisation.

The public surface: a search space, two optimizer kinds, two hyper-gradient objectives and
``warm_start``. The names are imported on first use, so that ``import ohgw.store`` (a shard
process, ``ohgw report``) does not pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohgw._lazy import lazy_exports

if TYPE_CHECKING:
    from ohgw.augment import random_flip as random_flip
    from ohgw.augment import random_translate as random_translate
    from ohgw.hypergrad import Forward as Forward
    from ohgw.hypergrad import Lookahead as Lookahead
    from ohgw.losses import smoothed_cross_entropy as smoothed_cross_entropy
    from ohgw.optim import SGD as SGD
    from ohgw.optim import AdamW as AdamW
    from ohgw.space import Categorical as Categorical
    from ohgw.space import Continuous as Continuous
    from ohgw.space import Integer as Integer
    from ohgw.space import SearchSpace as SearchSpace
    from ohgw.warmstart import HyperGradientWarning as HyperGradientWarning
    from ohgw.warmstart import WarmStartRecord as WarmStartRecord
    from ohgw.warmstart import warm_start as warm_start

__version__ = "0.1.0"

_EXPORTS = {
    "SGD": "ohgw.optim",
    "AdamW": "ohgw.optim",
    "Categorical": "ohgw.space",
    "Continuous": "ohgw.space",
    "Forward": "ohgw.hypergrad",
    "HyperGradientWarning": "ohgw.warmstart",
    "Integer": "ohgw.space",
    "Lookahead": "ohgw.hypergrad",
    "SearchSpace": "ohgw.space",
    "WarmStartRecord": "ohgw.warmstart",
    "random_flip": "ohgw.augment",
    "random_translate": "ohgw.augment",
    "smoothed_cross_entropy": "ohgw.losses",
    "warm_start": "ohgw.warmstart",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
