"""Every registered surgery on the degenerate cases, by hand: one domain,
exactly opposed gradients, one zero gradient. (All-zero gradients:
`test_surgery_rules.test_all_zero_gradients_give_a_finite_zero_update`.)

The gradients are whole-network vectors split into two variables; the
expected update is a multiple of a known vector, worked out below."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs import surgery

# g = (3, -4 | 12), |g| = 13; every component nonzero.
G = [np.array([3.0, -4.0]), np.array([12.0])]
NORM = 13.0
SEED = tf.constant([5, 7])


def run(name, grads):
    tensors = [[tf.constant(v, tf.float32) for v in domain] for domain in grads]
    update = surgery.get(name)(tensors, seed=SEED)
    return np.concatenate([u.numpy() for u in update])


FLAT_G = np.concatenate(G)

# K = 1: a single domain gradient g.
# - Rules that keep what agrees, or weigh convexly, return g: the sum and
#   the mean of one; every component "agrees" with itself (agr-sum,
#   agr-rand, and-mask with density 1; sand-mask: variance NaN -> 1e-17,
#   tanh(10 / 1e-17 * (1 - 0.5)) = 1); PCGrad and GradVac have no other
#   domain; MGDA's hull, UPGrad's and DualProj's dual cone {x: <x, g> >=
#   0} hold g; IMTL-G and Aligned-MTL weigh 1; ConFIG: b = g / |g|,
#   d = <g, b> b = g; GradDrop: P = 1 where g > 0 (kept since U < 1), 0
#   where g < 0 (kept since U > 0).
# - CAGrad: g0 = g, d = g0 + c |g0| g / |g| = 1.5 g.
# - Nash-MTL: alpha |g|^2 alpha = 1 -> d = g / |g|, of norm 1.
ONE_DOMAIN = {"cagrad": 1.5, "nash-mtl": 1.0 / NORM}

# K = 2, g and -g, per component:
# - sums, means and masks: 0 (the sum is 0; no sign agrees; agr-rand's
#   noise scale is the mean over agreeing components: none, so 0);
# - PCGrad / GradVac's first step (targets 0): g' = g - (-|g|^2/|g|^2)(-g)
#   = 0, likewise -g' = 0;
# - MGDA: 0 is in the hull; CAGrad: g0 = 0, so rho = 0 and d = g0 = 0;
#   UPGrad, DualProj: the dual cone is the plane <x, g> = 0, onto which
#   +-g/2 and their mean project to 0; IMTL-G: sum(pinv(G) d) = 0 gives
#   weights 0; Aligned-MTL: rank 1, B = v v^T / |g| sqrt(2) |g| with v
#   orthogonal to (1, 1): B 1/2 = 0; ConFIG: pinv(U) 1 = 0; Nash-MTL:
#   alpha_1 = alpha_2 cancels.
# - GradDrop: P = 1/2 everywhere, so each component keeps the positive or
#   the negative one: |d_j| = |g_j| (checked separately).


@pytest.mark.parametrize("name", sorted(surgery.names(step_method=False)))
def test_one_domain(name):
    expected = ONE_DOMAIN.get(name, 1.0) * FLAT_G
    np.testing.assert_allclose(run(name, [G]), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "name", sorted(n for n in surgery.names(step_method=False) if n != "graddrop")
)
def test_exactly_opposed_gradients_cancel(name):
    update = run(name, [G, [-v for v in G]])
    np.testing.assert_allclose(update, np.zeros(3), atol=1e-6)


def test_graddrop_keeps_one_of_two_opposed_gradients_per_component():
    update = run("graddrop", [G, [-v for v in G]])
    np.testing.assert_array_equal(np.abs(update), np.abs(FLAT_G))


# K = 2, g and 0:
# - the sum and PCGrad (<g, 0> = 0: no conflict), GradVac (|0| = 0: no
#   correction), IMTL-G (the zero gradient weighs 0, g weighs 1) and
#   ConFIG (the zero row ignored: d = <g, b> b = g): g;
# - the mean, UPGrad and DualProj (a zero gradient constrains nothing:
#   g/2 is in the cone), Aligned-MTL (rank 1, kept eigenvalue |g|^2,
#   B = e1 e1^T, weights (1/2, 0)), CAGrad (0 in the hull makes F* = 0;
#   the tie-break is the dual-cone projection of g0 = g/2, itself): g/2;
# - MGDA: 0 is in the hull: 0;
# - Nash-MTL: the zero gradient is left out, g alone: g / |g|;
# - agr-sum, agr-rand (s = 0), and-mask: a zero is disagreement: 0;
#   sand-mask: |mean sign| = 1/2 = tau, tanh(0) = 0: 0;
# - GradDrop: P = 1 where g > 0, 0 where g < 0: g kept (U in (0, 1)).
ONE_ZERO = {
    "sum": 1.0,
    "pcgrad": 1.0,
    "gradvac": 1.0,
    "imtl-g": 1.0,
    "config": 1.0,
    "graddrop": 1.0,
    "mean": 0.5,
    "erm": 0.5,
    "deep-all": 0.5,
    "upgrad": 0.5,
    "dualproj": 0.5,
    "aligned-mtl": 0.5,
    "cagrad": 0.5,
    "nash-mtl": 1.0 / NORM,
}


@pytest.mark.parametrize("name", sorted(surgery.names(step_method=False)))
def test_one_zero_gradient(name):
    zero = [np.zeros(2), np.zeros(1)]
    for grads in ([G, zero], [zero, G]):
        update = run(name, grads)
        np.testing.assert_allclose(
            update, ONE_ZERO.get(name, 0.0) * FLAT_G, rtol=1e-6, atol=1e-6
        )
