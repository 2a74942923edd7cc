"""The seed papers' training algorithms, written once against the crossbar
layer operations of :class:`~insitu.golden.nn.CrossbarMLP` (and so against any
backend: ideal, golden, RTL, board).

Each is a step usable with ``Trainer(step=...)``:

* :class:`PGD` -- progressive gradient descent (van Doremaele et al., Sci. Adv. 2024)
* :class:`ActivityDifference` -- equilibrium propagation (Yi et al., Nat. Electron. 2023)
* :class:`ChipInTheLoop` -- host gradients from measured activations (Cramer et al., PNAS 2022)
* :class:`StochasticSGD`, :class:`WriteVerifySGD` -- baselines
"""

from .activity_difference import ActivityDifference
from .baselines import StochasticSGD, WriteVerifySGD
from .in_the_loop import ChipInTheLoop
from .pgd import PGD, pgd_step

__all__ = [
           "PGD",
           "ActivityDifference",
           "ChipInTheLoop",
           "StochasticSGD",
           "WriteVerifySGD",
           "pgd_step",
]
