"""Aligned-MTL: the update from the condition-number-one balanced system."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.upgrad import preference_vector
from keras_gs.utils.choices import check_choice

SCALE_MODES = ("min", "median", "rmse")


@tf.autograph.experimental.do_not_convert
def aligned_mtl_weights(gram, scale_mode="min", pref_vector=None):
    """Aligned-MTL's weights: w = B p with B = sqrt(s) V L^-1/2 V^T.

    With G = V L V^T (eigenvalues L), keep the r eigenvalues above
    max(L) * K * 2^-23 (`gram_ops.rank_cutoff`); B = sqrt(s) times
    the sum over them of v v^T / sqrt(lambda). J^T B has orthogonal rows
    of equal norm sqrt(s) (the "aligned" system with condition number 1),
    and the update is d = J^T B p (Senushkin et al., 2023, as TorchJD's
    `AlignedMTL`).

    s is the smallest kept eigenvalue ("min", the default), their lower
    median ("median", as torch.median) or their mean ("rmse", "as in the
    original implementation"). With no eigenvalue kept (all gradients
    zero), B = I.

    Scale: K identical gradients g give g with p = 1/K (LibMTL sums B,
    i.e. p = 1: K times this). Scale-equivariant. Exactly opposed
    gradients give 0. Known weakness kept from the reference: with "min",
    gradients close to collinear (smallest kept eigenvalue just above the
    cut-off, e.g. 1e-6 of the largest) shrink the update by its square
    root (AGGREGATORS.md, case 3); closer still, under the cut-off, they
    count as one direction.

    The rank cut-off is the paper's: its official code (and TorchJD 0.18)
    computes max(L) * K * torch.finfo().eps, float32's epsilon 2^-23 under
    PyTorch's default dtype, whatever the dtype of G. keras_gs uses that
    whatever the Gram matrix's dtype: with float64's epsilon, nearly
    collinear gradients (condition number 1.7e13) keep an eigenvalue that
    eigh resolves to 0.4 % only, so the "balanced" system's condition
    number is not 1, and "min" shrinks the update to ~1e-6 of the
    gradients on that rounding. Consequence of the paper's cut-off: a
    direction whose eigenvalue is under ~1e-7 of the largest (a gradient
    more than ~1e3 times smaller than another, orthogonally) is dropped
    from the balancing. The eigenvalues are computed in float64.

    Departures from TorchJD 0.18: none in the maths (TorchJD run with a
    float64 default dtype cuts at float64's epsilon instead).

    Reference: [Independent Component Alignment for Multi-Task Learning](
    https://arxiv.org/abs/2305.19000), CVPR 2023.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        scale_mode: "min", "median" or "rmse". Defaults to "min".
        pref_vector: optional (K,) preference weights p. Defaults to 1/K.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    check_choice(scale_mode, SCALE_MODES, "scale_mode", "aligned-mtl scale_mode")
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "aligned-mtl")
    p = preference_vector(pref_vector, k, "aligned-mtl")
    g = gram_ops.float64_gram(gram)
    g = tf.math.divide_no_nan(g, tf.linalg.trace(g))
    eigenvalues, vectors = tf.linalg.eigh(g)  # ascending
    tolerance = eigenvalues[-1] * gram_ops.rank_cutoff(k, gram.dtype)
    kept = eigenvalues > tolerance
    rank = tf.reduce_sum(tf.cast(kept, tf.int32))
    inverse_root = tf.where(
        kept, 1.0 / tf.sqrt(tf.where(kept, eigenvalues, 1.0)), 0.0
    )
    if scale_mode == "min":
        # The kept eigenvalues are the last `rank` ones.
        scale = tf.gather(eigenvalues, tf.minimum(k - rank, k - 1))
    elif scale_mode == "median":
        index = k - rank + tf.maximum(rank - 1, 0) // 2
        scale = tf.gather(eigenvalues, tf.minimum(index, k - 1))
    else:
        scale = tf.math.divide_no_nan(
            tf.reduce_sum(tf.where(kept, eigenvalues, 0.0)),
            tf.cast(rank, tf.float64),
        )
    balance = tf.sqrt(tf.nn.relu(scale)) * tf.matmul(
        vectors * inverse_root[None, :], vectors, transpose_b=True
    )
    balance = tf.where(rank > 0, balance, tf.eye(k, dtype=tf.float64))
    return tf.cast(tf.linalg.matvec(balance, p), gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class AlignedMTL(GramWeighting):
    """Aligned-MTL: the update of the balanced system of gradients.

    With G = V L V^T, B = sqrt(s) V L^-1/2 V^T turns the gradients into
    orthogonal ones of equal norm sqrt(s) (condition number 1), and
    d = J^T B 1/K (`aligned_mtl_weights`). `scale_mode` chooses s: the
    smallest kept eigenvalue ("min"), their median ("median"), or their
    mean ("rmse").

    Scale: K identical gradients g give g. LibMTL's `Aligned_MTL` sums B
    (K times this; it also calls `torch.symeig`, removed from PyTorch 2).
    With "min", gradients close to collinear shrink the update, as in the
    reference implementations; eigenvalues under K 2^-23 of the largest
    count as 0 (the paper's cut-off, whatever the Gram matrix's dtype).

    Departures from TorchJD 0.18 (`AlignedMTL`): none in the maths.

    Args:
        scale_mode: str, "min", "median" or "rmse". Defaults to `"min"`.

    Example:

    >>> keras_gs.surgery.get("aligned-mtl", scale_mode="median")
    AlignedMTL(scale_mode='median')

    Reference: [Independent Component Alignment for Multi-Task Learning](
    https://arxiv.org/abs/2305.19000), CVPR 2023.
    """

    name = "aligned-mtl"

    def __init__(self, scale_mode="min"):
        self.scale_mode = check_choice(
            scale_mode, SCALE_MODES, "scale_mode", "Aligned-MTL scale mode"
        )

    def weights(self, gram, seed):
        return aligned_mtl_weights(gram, self.scale_mode)

    def get_config(self):
        return {"scale_mode": self.scale_mode}
