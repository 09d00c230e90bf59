"""ohgw: One-Shot Hyper-Gradient Warm-Starts for multi-fidelity hyperparameter optimisation.

The public surface: a search space, two optimizer kinds, two hyper-gradient objectives and
``warm_start``.
"""

from ohgw.augment import random_flip
from ohgw.augment import random_translate
from ohgw.hypergrad import Forward
from ohgw.hypergrad import Lookahead
from ohgw.losses import smoothed_cross_entropy
from ohgw.optim import SGD
from ohgw.optim import AdamW
from ohgw.space import Categorical
from ohgw.space import Continuous
from ohgw.space import Integer
from ohgw.space import SearchSpace
from ohgw.warmstart import HyperGradientWarning
from ohgw.warmstart import WarmStartRecord
from ohgw.warmstart import warm_start

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "AdamW",
    "Categorical",
    "Continuous",
    "Forward",
    "HyperGradientWarning",
    "Integer",
    "Lookahead",
    "SearchSpace",
    "WarmStartRecord",
    "random_flip",
    "random_translate",
    "smoothed_cross_entropy",
    "warm_start",
]
