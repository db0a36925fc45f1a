"""Properties shared by the multi-task aggregators (keras_gs.surgery's
Gramian rules): scale, permutation invariance, non-conflict, finiteness on
edge cases, scale-equivariance, graph mode and tf.distribute."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.surgery.aligned_mtl import aligned_mtl_weights
from keras_gs.surgery.cagrad import cagrad_weights
from keras_gs.surgery.config_rule import config_weights
from keras_gs.surgery.dualproj import dualproj_weights
from keras_gs.surgery.gradvac import gradvac_weights
from keras_gs.surgery.imtl_g import imtl_g_weights
from keras_gs.surgery.mgda import mgda_weights
from keras_gs.surgery.nash_mtl import nash_mtl_weights
from keras_gs.surgery.pcgrad_orders import per_domain_projection_weights
from keras_gs.surgery.pcgrad_orders import random_orders
from keras_gs.surgery.upgrad import upgrad_weights


def _gradvac(gram):
    k = gram.shape[0]
    targets = tf.zeros([k, k], gram.dtype)
    return gradvac_weights(gram, targets, random_orders(k, [3, 4]))[0]


def _nash(gram):
    return nash_mtl_weights(gram, tf.ones([gram.shape[0]], gram.dtype))[0]


def _pcgrad(gram):
    return per_domain_projection_weights(gram, random_orders(gram.shape[0], [3, 4]))


# name -> (weights function, factor f: K identical g give f * g, or "unit").
RULES = {
    "mgda": (mgda_weights, 1.0),
    "upgrad": (upgrad_weights, 1.0),
    "dualproj": (dualproj_weights, 1.0),
    "imtl-g": (imtl_g_weights, 1.0),
    "aligned-mtl": (aligned_mtl_weights, 1.0),
    "aligned-mtl-median": (lambda g: aligned_mtl_weights(g, "median"), 1.0),
    "aligned-mtl-rmse": (lambda g: aligned_mtl_weights(g, "rmse"), 1.0),
    "cagrad": (cagrad_weights, 1.5),
    "cagrad-rescale1": (lambda g: cagrad_weights(g, rescale=1), 1.5 / 1.25),
    "cagrad-rescale2": (lambda g: cagrad_weights(g, rescale=2), 1.0),
    "config": (config_weights, "K"),
    "gradvac": (_gradvac, "K"),
    "pcgrad-orders": (_pcgrad, "K"),
    "nash-mtl": (_nash, "unit"),
}
DETERMINISTIC = [n for n in RULES if n not in ("gradvac", "pcgrad-orders")]
# One entry per code path (the other variants differ by a constant factor).
VARIANTS = ("cagrad-rescale1", "cagrad-rescale2", "aligned-mtl-rmse")
DISTINCT = [n for n in RULES if n not in VARIANTS]
NON_CONFLICTING = ["mgda", "upgrad", "dualproj"]


def update(name, jac, dtype=tf.float64):
    jac = np.asarray(jac, dtype=float)
    weights = RULES[name][0](tf.constant(jac @ jac.T, dtype)).numpy()
    return weights.astype(float), jac.T @ weights.astype(float)


def conflicting(seed, k=4, n=5):
    return np.random.default_rng(seed).normal(size=(k, n))


@pytest.mark.parametrize("name", sorted(RULES))
def test_identical_gradients(name):
    g = np.array([1.0, -2.0, 3.0])
    _, d = update(name, np.tile(g, (3, 1)))
    factor = RULES[name][1]
    expected = {"K": 3 * g, "unit": g / np.linalg.norm(g)}.get(factor)
    if expected is None:
        expected = factor * g
    np.testing.assert_allclose(d, expected, rtol=1e-9)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_permutation_invariance(name):
    jac = conflicting(0)
    _, d = update(name, jac)
    for permutation in ([3, 1, 0, 2], [1, 2, 3, 0]):
        _, other = update(name, jac[permutation])
        np.testing.assert_allclose(other, d, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NON_CONFLICTING)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dimension", [3, 8])
def test_no_conflict_with_norms_from_1e_3_to_1e2(name, seed, dimension):
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(5, dimension))
    jac *= (np.logspace(-3, 2, 5) / np.linalg.norm(jac, axis=1))[:, None]
    jac = jac[rng.permutation(5)]
    w, d = update(name, jac)
    norms = np.linalg.norm(jac, axis=1)
    # Rounding of <d, g_k> is ~eps |g_k| sum_i |w_i| |g_i|.
    assert np.all(jac @ d >= -1e-12 * norms * (np.abs(w) @ norms))


EDGE_CASES = {
    "all-zero": np.zeros((3, 4)),
    "one-zero": np.array([[1.0, 2, 0], [0, 0, 0], [0, 1, -1]]),
    "one-domain": np.array([[3.0, 4.0]]),
    "opposed": np.array([[1.0, 2.0], [-1.0, -2.0]]),
    "tiny": 1e-6 * conflicting(1, 3, 4),
    "imbalanced": conflicting(2, 5, 4) * np.logspace(-3, 2, 5)[:, None],
    "duplicated": np.array([[1.0, 0], [1.0, 0], [-1.0, 1]]),
    "more-domains-than-dimensions": conflicting(3, 5, 2),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_finite_on_edge_cases(case):
    # float32, as `gradient_gram` gives; the exact float64 answers of these
    # cases are in each rule's own tests.
    jac = EDGE_CASES[case]
    for name in DISTINCT:
        w, d = update(name, jac, tf.float32)
        assert np.all(np.isfinite(w)), (name, w)
        # No blow-up either: |d| within a small multiple of sum |g_k|.
        assert np.linalg.norm(d) <= 3 * np.linalg.norm(jac, axis=1).sum() + 1.0, name


@pytest.mark.parametrize("name", sorted(RULES))
def test_scale_equivariance(name):
    # Nash-MTL's update is normalised: the same for every scale.
    jac = conflicting(4)
    _, d = update(name, jac)
    power = 0 if RULES[name][1] == "unit" else 1
    for scale in (1e-6, 1e3):
        _, scaled = update(name, scale * jac)
        np.testing.assert_allclose(
            scaled, scale**power * d, rtol=1e-7, atol=1e-12 * scale**power
        )


@pytest.mark.parametrize("name", sorted(RULES))
def test_float32_matches_float64(name):
    jac = conflicting(5, 3, 4)
    w64, _ = update(name, jac, tf.float64)
    w32, _ = update(name, jac, tf.float32)
    np.testing.assert_allclose(w32, w64, rtol=1e-4, atol=1e-5)


def test_graph_mode_matches_eager():
    # mgda, nash-mtl and gradvac are traced in the tf.distribute test.
    gram = tf.constant(conflicting(6, 3, 4) @ conflicting(6, 3, 4).T, tf.float32)
    for name in DISTINCT:
        if name in ("mgda", "nash-mtl", "gradvac"):
            continue
        fn = RULES[name][0]
        np.testing.assert_allclose(
            tf.function(fn)(gram), fn(gram), rtol=1e-5, atol=1e-6, err_msg=name
        )


# One rule per kind of op the rules use: pinv (SVD) and gathers (mgda),
# batched einsum and gathers (upgrad), eigh (aligned-mtl), eigh, Cholesky
# and a while loop (nash-mtl), stateless draws and argsort (pcgrad-orders).
XLA_KINDS = ("mgda", "upgrad", "aligned-mtl", "nash-mtl", "pcgrad-orders")


@pytest.mark.parametrize("name", XLA_KINDS)
def test_lowers_to_xla(name):
    # Where Keras compiles the whole step with XLA (jit_compile="auto" on
    # GPU), every op of the rule needs an XLA kernel. Lowering to HLO
    # checks it in a fraction of a second; compiling and running it on CPU
    # costs 1-8 s per rule.
    gram = tf.constant(conflicting(6, 3, 4) @ conflicting(6, 3, 4).T, tf.float32)
    fn = RULES[name][0]
    compiled = tf.function(lambda g: fn(g), jit_compile=True)
    assert "ENTRY" in compiled.experimental_get_compiler_ir(gram)(stage="hlo")


def test_replicas_agree_under_tf_distribute(two_replicas):
    jac = conflicting(8, 3, 4)
    gram = tf.constant(jac @ jac.T, tf.float32)

    @tf.function
    def step(seed):
        def replica_fn():
            k = gram.shape[0]
            orders = random_orders(k, seed)
            vac, _ = gradvac_weights(gram, tf.fill([k, k], 0.3), orders)
            return tf.concat([mgda_weights(gram), _nash(gram), vac], axis=0)

        return two_replicas.run(replica_fn)

    results = two_replicas.experimental_local_results(step(tf.constant([5, 6])))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0][:3], mgda_weights(gram), rtol=1e-6)
