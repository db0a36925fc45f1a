"""Measures of how much the domain gradients disagree (METHOD.md §4).

Whole-network measures (`measures`), the network's variables grouped by
layer (`layer_groups`) and the same measures per layer (`layer_measures`).
Used by the training step (its `agreement` and `cosine` metrics), the
surgeries that need the Gram matrix, `ConflictMonitor` and the analysis.
"""

from keras_gs.conflicts.measures import agreement_fraction
from keras_gs.conflicts.measures import agreement_mask
from keras_gs.conflicts.measures import cosine_from_gram
from keras_gs.conflicts.measures import gradient_gram
from keras_gs.conflicts.measures import mean_pairwise_cosine

__all__ = [
    "agreement_fraction",
    "agreement_mask",
    "cosine_from_gram",
    "gradient_gram",
    "mean_pairwise_cosine",
]
