"""Every surgery against values worked out by hand (METHOD.md §2)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_gs import surgery
from keras_gs.conflicts import gradient_gram
from keras_gs.surgery.pcgrad import projection_weights

# Three domains, two variables. Signs per component of variable a:
#   a0: + + +  agree        sum 3.5
#   a1: - + -  disagree     sum -2
#   a2: 0 + +  disagree (a zero is no agreement)   sum 3
#   a3: + + +  agree        sum 6
# variable b:
#   b0: - - -  agree        sum -6
#   b1: + - 0  disagree     sum 0
GRADS = [
    [[1.0, -2.0, 0.0, 3.0], [-1.0, 1.0]],
    [[2.0, 1.0, 1.0, 1.0], [-3.0, -1.0]],
    [[0.5, -1.0, 2.0, 2.0], [-2.0, 0.0]],
]


def run(name, grads=GRADS, seed=None, **kwargs):
    tensors = [[tf.constant(g) for g in domain] for domain in grads]
    result = surgery.get(name, **kwargs)(tensors, seed=seed)
    return [r.numpy() for r in result]


def assert_lists_close(actual, expected, atol=1e-6):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, atol=atol, rtol=1e-6)


def test_sum_and_mean():
    assert_lists_close(run("sum"), [[3.5, -2, 3, 6], [-6, 0]])
    assert_lists_close(run("mean"), [[3.5 / 3, -2 / 3, 1, 2], [-2, 0]])


def test_erm_combines_by_the_mean_by_hand():
    # Only used where a joint-batch gradient arrives split into domains;
    # GradSurgeryModel's joint pass is tested against plain Keras.
    assert_lists_close(run("erm"), [[3.5 / 3, -2 / 3, 1, 2], [-2, 0]])
    assert_lists_close(run("deep-all", grads=GRADS[:1]), GRADS[0])


def test_agr_sum_keeps_unanimous_components_summed():
    assert_lists_close(run("agr-sum"), [[3.5, 0, 0, 6], [-6, 0]])


def test_agr_rand_agreeing_components_are_the_sum():
    a, b = run("agr-rand", seed=tf.constant([1, 2]))
    np.testing.assert_allclose(a[[0, 3]], [3.5, 6])
    np.testing.assert_allclose(b[0], -6)
    # s = mean(|3.5|, |6|, |-6|) over the whole network = 15.5 / 3: the
    # three noise components are s * xi, nonzero.
    assert np.all(np.abs([a[1], a[2], b[1]]) > 0)


def test_agr_rand_noise_scale_is_one_scalar_over_the_network():
    # Variable 1: 20000 components whose two domains disagree (noise).
    # Variable 0: agreeing components with |sum| 2 and 4 -> s = 3.
    grads = [
        [np.array([1.0, 2.0]), np.ones(20000)],
        [np.array([1.0, 2.0]), -np.ones(20000)],
    ]
    agreed, noise = run("agr-rand", grads=grads, seed=tf.constant([7, 0]))
    np.testing.assert_allclose(agreed, [2.0, 4.0])
    assert abs(noise.std() - 3.0) / 3.0 < 0.03
    assert abs(noise.mean()) < 0.1


def test_agr_rand_a_zero_gradient_is_no_agreement():
    # Variable 1: 20000 components where one domain's gradient is 0 and the
    # other's 1. sign 0 + sign 1 = 1 < K = 2: no agreement, so noise of
    # scale s = 3 (from variable 0), not the sum 1.
    grads = [
        [np.array([1.0, 2.0]), np.zeros(20000)],
        [np.array([1.0, 2.0]), np.ones(20000)],
    ]
    agreed, noise = run("agr-rand", grads=grads, seed=tf.constant([3, 0]))
    np.testing.assert_allclose(agreed, [2.0, 4.0])
    assert abs(noise.std() - 3.0) / 3.0 < 0.03
    assert np.mean(noise == 1.0) < 0.01


def test_agr_rand_noise_is_standard_normal():
    # Drawn in float16 then cast: still N(0, 1) to the tails. With s = 1:
    # P(|xi| > 1) = 31.73 %, P(|xi| > 2) = 4.55 %, P(|xi| > 3) = 0.27 %.
    grads = [
        [np.array([0.5]), np.ones(200000)],
        [np.array([0.5]), -np.ones(200000)],
    ]
    agreed, noise = run("agr-rand", grads=grads, seed=tf.constant([9, 0]))
    np.testing.assert_allclose(agreed, [1.0])  # s = |0.5 + 0.5| = 1
    for k, p in ((1, 0.3173), (2, 0.0455), (3, 0.0027)):
        assert abs(np.mean(np.abs(noise) > k) - p) < 0.004, k
    assert len(np.unique(noise)) > 5000


def test_agr_rand_same_seed_same_noise_new_seed_new_noise():
    first = run("agr-rand", seed=tf.constant([5, 1]))
    again = run("agr-rand", seed=tf.constant([5, 1]))
    other = run("agr-rand", seed=tf.constant([5, 2]))
    assert_lists_close(first, again)
    assert not np.allclose(first[0][1], other[0][1])


@pytest.mark.parametrize("name", ["agr-sum", "agr-rand"])
def test_no_agreement_at_all_gives_zero_and_finite(name):
    grads = [[[1.0, -1.0]], [[-1.0, 1.0]]]
    (update,) = run(name, grads=grads, seed=tf.constant([0, 0]))
    np.testing.assert_array_equal(update, [0.0, 0.0])


@pytest.mark.parametrize("name", sorted(surgery.names(step_method=False)))
def test_all_zero_gradients_give_a_finite_zero_update(name):
    grads = [[[0.0, 0.0, 0.0], [0.0]] for _ in range(3)]
    update = run(name, grads=grads, seed=tf.constant([0, 0]))
    for u in update:
        assert np.all(np.isfinite(u))
        np.testing.assert_array_equal(u, np.zeros_like(u))


# PCGrad, 3 domains, whole-network vectors g1=[1,0], g2=[-1,1], g3=[0,-1].
# Order (0, 1, 2):
#   g1: against g2 (dot -1): [1,0] + 1/2[-1,1] = [.5,.5];
#       against g3 (dot -.5): [.5,.5] + .5[0,-1] = [.5, 0]
#   g2: against g1 (dot -1): [0,1]; against g3 (dot -1): [0,0]
#   g3: against g1 (dot 0): unchanged; against g2 (dot -1): [-.5,-.5]
#   sum: [0, -.5]
# Order (2, 1, 0):
#   g3: against g2: [-.5,-.5]; against g1 (dot -.5): [0, -.5]
#   g2: against g3 (dot -1): [-1,0]; against g1 (dot -1): [0,0]
#   g1: against g3 (dot 0): unchanged; against g2 (dot -1): [.5,.5]
#   sum: [.5, 0]
PC_GRADS = [[[1.0], [0.0]], [[-1.0], [1.0]], [[0.0], [-1.0]]]
PC_FLAT = tf.constant([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])


def project_conflicts(flat, order):
    """PCGrad's update for (K, N) gradients `flat` in a given order."""
    gram = tf.matmul(flat, flat, transpose_b=True)
    weights = projection_weights(gram, order)
    return tf.linalg.matvec(flat, weights, transpose_a=True)


def test_pcgrad_weights_on_the_original_gradients_by_hand():
    # Order (0, 1, 2), coefficients c on the originals (g_i' = g_i - c.g):
    #   i=0: c1 = -1/2; then <g0', g2> = 0 - (-1/2)(-1) = -1/2: c2 = -1/2
    #   i=1: c0 = -1;   then <g1', g2> = -1 - (-1)(0) = -1:     c2 = -1
    #   i=2: <g2, g0> = 0: none; c1 = -1/2
    # w = 1 - sum_i c = [2, 2, 2.5]; 2 g0 + 2 g1 + 2.5 g2 = [0, -0.5].
    gram = gradient_gram([[row] for row in tf.unstack(PC_FLAT)])
    np.testing.assert_allclose(
        projection_weights(gram, tf.constant([0, 1, 2])).numpy(), [2, 2, 2.5]
    )


def test_pcgrad_fixed_order_by_hand():
    np.testing.assert_allclose(
        project_conflicts(PC_FLAT, tf.constant([0, 1, 2])).numpy(), [0, -0.5]
    )
    np.testing.assert_allclose(
        project_conflicts(PC_FLAT, tf.constant([2, 1, 0])).numpy(), [0.5, 0]
    )


def test_pcgrad_draws_one_order_per_step_over_the_whole_network():
    # The vectors are split over two variables: a per-variable projection
    # would give other results. Every outcome must be one of the
    # permutations' whole-network results.
    outcomes = set()
    for step in range(30):
        update = run("pcgrad", grads=PC_GRADS, seed=tf.constant([0, step]))
        outcomes.add(
            (round(float(update[0][0]), 6), round(float(update[1][0]), 6))
        )
    by_order = {
        tuple(
            round(float(v), 6)
            for v in project_conflicts(PC_FLAT, tf.constant(order)).numpy()
        )
        for order in [
            (0, 1, 2),
            (0, 2, 1),
            (1, 0, 2),
            (1, 2, 0),
            (2, 0, 1),
            (2, 1, 0),
        ]
    }
    assert outcomes <= by_order
    assert len(outcomes) >= 2


def test_pcgrad_without_conflict_is_the_sum():
    grads = [[[1.0, 1.0]], [[2.0, 0.5]]]
    assert_lists_close(
        run("pcgrad", grads=grads, seed=tf.constant([0, 0])), [[3.0, 1.5]]
    )


def test_and_mask_tau_one_by_hand():
    # Masks: a [1,0,0,1] (density 1/2), b [1,0] (density 1/2); mean * 2.
    assert_lists_close(run("and-mask"), [[7 / 3, 0, 0, 4], [-4, 0]], atol=1e-5)


def test_and_mask_lower_tau_by_hand():
    # |mean sign|: a [1, 1/3, 2/3, 1] all >= .3 -> mask 1, density 1;
    # b [1, 0] -> mask [1, 0], density 1/2.
    assert_lists_close(
        run("and-mask", tau=0.3), [[3.5 / 3, -2 / 3, 1, 2], [-4, 0]], atol=1e-5
    )


def test_sand_mask_by_hand():
    # k = 0.1, tau = 0.5; unbiased variances and |mean sign| per component:
    #   a0: values 1, 2, .5: var 7/12, agreement 1   -> tanh(.1/(7/12)*.5)
    #   a1: agreement 1/3 < tau                       -> 0
    #   a2: values 0, 1, 2: var 1, agreement 2/3      -> tanh(.1*(1/6))
    #   a3: values 3, 1, 2: var 1, agreement 1        -> tanh(.1*.5)
    #   b0: values -1, -3, -2: var 1, agreement 1     -> tanh(.05)
    #   b1: agreement 0                               -> 0
    mask_a = np.tanh([0.1 / (7 / 12) * 0.5, -1, 0.1 / 6, 0.05]).clip(0)
    mask_b = np.tanh([0.05, -1]).clip(0)
    mean_a = np.array([3.5 / 3, -2 / 3, 1, 2])
    mean_b = np.array([-2.0, 0.0])
    expected = [
        mask_a * mean_a / (1e-10 + mask_a.mean()),
        mask_b * mean_b / (1e-10 + mask_b.mean()),
    ]
    assert_lists_close(run("sand-mask", tau=0.5, k=0.1), expected, atol=1e-5)


def test_sand_mask_default_is_not_degenerate():
    default = surgery.get("sand-mask")
    assert default.tau == 0.5 and default.k == 10.0
    a, b = run("sand-mask")
    assert abs(a[0]) > 0 and abs(b[0]) > 0
    assert math.isclose(a[1], 0.0, abs_tol=1e-6)


def test_mismatched_gradient_lists_are_rejected():
    with pytest.raises(ValueError, match="lengths"):
        surgery.get("sum")([[tf.ones(2)], [tf.ones(2), tf.ones(1)]])
    with pytest.raises(ValueError, match="shape"):
        surgery.get("sum")([[tf.ones(2)], [tf.ones(3)]])
