"""CAGrad: conflict-averse gradient descent."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.dual_cone import dual_cone_projection_weights
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.utils.choices import check_choice

RESCALES = (0, 1, 2)


@tf.autograph.experimental.do_not_convert
def cagrad_weights(gram, c=0.5, rescale=0):
    """CAGrad's weights: the best worst-domain improvement near the mean.

    With g0 the mean gradient and rho = c |g0|, CAGrad solves

        max_d min_k <g_k, d>   subject to   |d - g0| <= rho,

    through its dual: w* = argmin_{w in simplex} F(w),
    F(w) = <g_w, g0> + rho |g_w| with g_w = sum_k w_k g_k, and
    d = g0 + rho g_w* / |g_w*| (Liu et al., 2021; TorchJD's `CAGrad`).

    Solution, exact. On the support S of w*, stationarity gives
    G_SS w = tau (nu 1 - b_S), b = G 1 / K, tau = |g_w| / rho, with
    sum w = 1, so w = w0 + tau w1 is affine in tau (two bordered solves,
    shared with MGDA), and |g_w|^2 = rho^2 tau^2 is a quadratic in tau.
    Both roots of every support are candidates; the one of least F is w*.

    Degenerate case, a sensible finite answer: when 0 is in the hull and
    F* = 0 (e.g. one zero gradient), every d of the ball with
    <g_k, d> >= 0 for all k is optimal and g_w* / |g_w*| is undefined.
    Then, and whenever it is as good as the formula's d in the primal
    problem, the answer is the optimal point closest to g0: the projection
    of g0 onto the dual cone (`dualproj_weights`).

    Scale: d = g0 + c|g0| (unit vector); K identical gradients g give
    (1 + c) g, divided by (1 + c^2) with `rescale=1` (LibMTL's default) or
    by (1 + c) with `rescale=2`. Scale-equivariant. c = 0 or g0 = 0 give
    the mean.

    Departures from TorchJD 0.18 (`CAGradWeighting`, c required, cvxpy
    CLARABEL): exact instead of an interior-point solve; no cut-offs (TorchJD
    returns d = 0 when the sum of squared norms is < 1e-4, or |g_w*| < 1e-4
    after trace normalisation, e.g. with one zero gradient: a point outside
    the ball, so not CAGrad's answer). LibMTL (`CAGrad`, SLSQP, eps 1e-8
    inside square roots) agrees with `rescale=1` up to its solver's
    tolerance.

    Reference: [Conflict-Averse Gradient Descent for Multi-task Learning](
    https://arxiv.org/abs/2110.14048), NeurIPS 2021.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        c: float >= 0, the radius of the ball relative to |g0|. Defaults to
            0.5 (LibMTL's `calpha`; TorchJD has no default).
        rescale: 0 (TorchJD, the default), 1 (divide by 1 + c^2, LibMTL) or
            2 (divide by 1 + c).

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    if float(c) < 0.0:
        raise ValueError(f"cagrad: `c` must be >= 0. Received: c={c}.")
    check_choice(rescale, RESCALES, "rescale", "cagrad rescale")
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "cagrad")
    gram_ops.check_enumerable(k, "cagrad")
    g = gram_ops.float64_gram(gram)
    g = tf.math.divide_no_nan(g, tf.linalg.trace(g) / k)
    mean = tf.fill([k], tf.constant(1.0 / k, tf.float64))
    b = tf.linalg.matvec(g, mean)  # b_k = <g_k, g0>
    rho = float(c) * tf.sqrt(tf.nn.relu(tf.reduce_sum(mean * b)))

    w = _dual_solution(g, b, rho)
    norm = tf.sqrt(tf.nn.relu(_quadratic(w, g)))
    formula = mean + tf.math.divide_no_nan(rho, norm) * w

    # The degenerate tie-break: the point of the dual cone closest to g0,
    # when it is in the ball and at least as good in the primal problem.
    closest = dual_cone_projection_weights(g, mean[None, :])[0]
    offset = closest - mean
    inside = _quadratic(offset, g) <= rho * rho * (1.0 + 1e-9) + 1e-300
    tolerance = 1e-12 * rho * tf.sqrt(tf.reduce_max(tf.linalg.diag_part(g)))
    as_good = _worst_improvement(closest, g) >= (
        _worst_improvement(formula, g) - tolerance
    )
    weights = tf.where(inside & as_good, closest, formula)
    if rescale == 1:
        weights /= 1.0 + float(c) ** 2
    elif rescale == 2:
        weights /= 1.0 + float(c)
    return tf.cast(weights, gram.dtype)


def _quadratic(w, g):
    return tf.reduce_sum(w * tf.linalg.matvec(g, w))


def _worst_improvement(weights, g):
    """min_k <g_k, d> for d = J^T weights."""
    return tf.reduce_min(tf.linalg.matvec(g, weights))


def _dual_solution(g, b, rho):
    """argmin over the simplex of F(w) = b^T w + rho sqrt(w^T g w).

    Supports holding a zero gradient are left out: if F* < 0, F is
    homogeneous and a zero gradient in the support would only shrink
    g_w; if F* = 0 the caller's tie-break decides.
    """
    k = g.shape[0]
    norms, cosines = gram_ops.norms_and_cosines(g)
    masks = gram_ops.subset_masks(k)
    systems, top, usable = gram_ops.simplex_kkt_systems(cosines, norms, masks)
    inverse = tf.linalg.pinv(systems)
    # In the equilibrated unknowns w' = |g| w, the right-hand side is
    # (-tau b / |g|, 1 / top): w' = w0' + tau w1'.
    scaled_b = tf.math.divide_no_nan(b, norms)[None, :] * masks
    w0 = inverse[:, :k, k] / top[:, None]
    w1 = tf.linalg.matvec(inverse[:, :k, :k], -scaled_b)
    w0 = tf.math.divide_no_nan(w0, norms[None, :]) * masks
    w1 = tf.math.divide_no_nan(w1, norms[None, :]) * masks
    g_w0 = tf.matmul(w0, g)
    g_w1 = tf.matmul(w1, g)
    quad_a = tf.reduce_sum(w1 * g_w1, axis=1) - rho * rho
    quad_b = tf.reduce_sum(w0 * g_w1, axis=1)
    quad_c = tf.reduce_sum(w0 * g_w0, axis=1)
    # Roots of quad_a tau^2 + 2 quad_b tau + quad_c = 0, in the stable form.
    root = tf.sqrt(tf.nn.relu(quad_b * quad_b - quad_a * quad_c))
    q = -(quad_b + tf.where(quad_b >= 0.0, root, -root))
    taus = tf.stack([q / quad_a, quad_c / q], axis=1)  # (P, 2)
    valid = tf.math.is_finite(taus) & (taus > 0.0) & usable[:, None]
    taus = tf.where(valid, taus, tf.zeros_like(taus))
    w = w0[:, None, :] + taus[:, :, None] * w1[:, None, :]
    w = tf.reshape(tf.nn.relu(w), [-1, k])
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    w = tf.math.divide_no_nan(w, total)
    valid = tf.reshape(valid, [-1]) & (total[:, 0] > 0.0)
    value = tf.linalg.matvec(w, b) + rho * tf.sqrt(
        tf.nn.relu(tf.reduce_sum(w * tf.matmul(w, g), axis=1))
    )
    value = tf.where(
        valid & tf.math.is_finite(value), value, tf.constant(1e300, tf.float64)
    )
    return tf.gather(w, tf.argmin(value))


@keras.saving.register_keras_serializable(package="keras_gs")
class CAGrad(GramWeighting):
    """CAGrad: the best worst-domain improvement in a ball around the mean.

    With g0 the mean gradient, d maximises min_k <g_k, d> subject to
    |d - g0| <= c |g0|, i.e. d = g0 + c |g0| g_w / |g_w| with g_w = J^T w*
    from CAGrad's dual problem, solved exactly (`cagrad_weights`).

    Scale: K identical gradients g give (1 + c) g, as TorchJD's `CAGrad`
    (`rescale=0`); LibMTL's `CAGrad` divides by 1 + c^2 by default
    (`rescale=1`: 1.2 g at c = 0.5), or by 1 + c (`rescale=2`: g).

    Departures from TorchJD 0.18 (c required there, cvxpy CLARABEL):
    exact; no cut-off returning d = 0 when the sum of squared gradient
    norms is below 1e-4 or with one zero gradient (then d is the mean
    projected onto the dual cone, a point of the ball as good as any).

    Args:
        c: float >= 0, the ball's radius relative to |g0|. Defaults to
            `0.5` (LibMTL's `calpha`).
        rescale: int, 0 (none, TorchJD), 1 (divide by 1 + c^2, LibMTL's
            default) or 2 (divide by 1 + c). Defaults to `0`.

    Example:

    >>> keras_gs.surgery.get("cagrad", c=0.4)
    CAGrad(c=0.4, rescale=0)

    Reference: [Conflict-Averse Gradient Descent for Multi-task Learning](
    https://arxiv.org/abs/2110.14048), NeurIPS 2021.
    """

    name = "cagrad"

    def __init__(self, c=0.5, rescale=0):
        if not float(c) >= 0.0:
            raise ValueError(f"cagrad: `c` must be >= 0. Received: c={c}")
        self.c = float(c)
        self.rescale = check_choice(
            rescale, RESCALES, "rescale", "CAGrad rescale"
        )

    def weights(self, gram, seed):
        return cagrad_weights(gram, self.c, self.rescale)

    def get_config(self):
        return {"c": self.c, "rescale": self.rescale}
