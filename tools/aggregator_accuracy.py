"""How close the Gram weightings come to scipy's solutions.

For random gradients (K = 2..6 domains, N = K..K+4 dimensions, norms spread
over three decades), solves each rule's problem with scipy (SLSQP from
several starts, or L-BFGS-B for Nash-MTL's convex objective) and with
keras_gs in float64, and prints, per rule, the largest and the median
relative difference of the updates, |d - d_scipy| / |d_scipy|, and how
often keras_gs's objective is at least as good as scipy's. The README's
table of rules quotes its output.

Then, per rule, the worst residual of the conditions that define it
(`aggregator_conditions.py`: MGDA's KKT conditions, CAGrad's ball and
duality gap, the dual-cone projections' KKT conditions, IMTL-G's equal
projections, ConFIG's equal cosines, Nash-MTL's equations, Aligned-MTL's
condition number 1, GradVac's cosine targets, ...) over the generated
cases (K = 2..8, norm ratios 1e5, rank deficient, nearly collinear, tiny,
zero), on exact float64 Gram matrices and through float32 gradients, with
the case where it is reached and the tolerance the tests hold it to.

Usage:
    python tools/aggregator_accuracy.py [--cases=200] [--seed=0]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app  # noqa: E402

import aggregator_conditions  # noqa: E402
from absl import flags  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

flags.DEFINE_integer("cases", 200, "Random cases per rule.")
flags.DEFINE_integer("seed", 0, "Seed of the cases.")
FLAGS = flags.FLAGS


def simplex_min(objective, k, rng, starts=4):
    best = None
    for _ in range(starts):
        result = minimize(
            objective,
            rng.dirichlet(np.ones(k)),
            bounds=[(0, 1)] * k,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-16, "maxiter": 1000},
        )
        if best is None or result.fun < best.fun:
            best = result
    return best.x


def mgda(jac, rng):
    gram = jac @ jac.T
    w = simplex_min(lambda w: w @ gram @ w, len(jac), rng)
    return jac.T @ w, lambda d: d @ d


def cagrad(jac, rng, c=0.5):
    gram, g0 = jac @ jac.T, jac.mean(axis=0)
    rho, b = c * np.linalg.norm(g0), jac @ jac.mean(axis=0)
    w = simplex_min(lambda w: w @ b + rho * np.sqrt(w @ gram @ w), len(jac), rng)
    g_w = jac.T @ w
    # CAGrad's primal: the worst improvement min_k <g_k, d> (maximised).
    return g0 + rho * g_w / np.linalg.norm(g_w), lambda d: -np.min(jac @ d)


def projection(jac, u):
    """min v^T G v subject to v >= u (the dual-cone projection of J^T u)."""
    gram = jac @ jac.T
    result = minimize(
        lambda v: v @ gram @ v,
        np.maximum(u, 0) + 1.0,
        jac=lambda v: 2 * gram @ v,
        bounds=[(x, None) for x in u],
        method="SLSQP",
        options={"ftol": 1e-16, "maxiter": 1000},
    )
    return result.x


def upgrad(jac, rng):
    k = len(jac)
    v = sum(projection(jac, np.eye(k)[i] / k) for i in range(k))
    return jac.T @ v, None


def dualproj(jac, rng):
    k = len(jac)
    mean = jac.mean(axis=0)
    d = jac.T @ projection(jac, np.full(k, 1.0 / k))
    return d, lambda x: np.sum((x - mean) ** 2)


def nash_mtl(jac, rng):
    gram = jac @ jac.T
    result = minimize(
        lambda a: 0.5 * a @ gram @ a - np.sum(np.log(a)),
        np.ones(len(jac)),
        jac=lambda a: gram @ a - 1.0 / a,
        bounds=[(1e-12, None)] * len(jac),
        method="L-BFGS-B",
        options={"ftol": 1e-16, "gtol": 1e-14, "maxiter": 5000},
    )
    d = jac.T @ result.x
    return d / max(1.0, np.linalg.norm(d)), None


REFERENCES = {
    "mgda": mgda,
    "cagrad": cagrad,
    "upgrad": upgrad,
    "dualproj": dualproj,
    "nash-mtl": nash_mtl,
}


def keras_gs_update(name, jac):
    import tensorflow as tf

    import keras_gs

    rule = keras_gs.surgery.get(name)
    gram = tf.constant(jac @ jac.T, tf.float64)
    state = {
        k: tf.constant(v, tf.float64)
        for k, v in rule.initial_state(len(jac)).items()
    }
    weights, _ = rule.group_weights(gram[None], tf.constant([0, 0]), state)
    return jac.T @ weights.numpy()[0]


def main(argv):
    del argv
    rng = np.random.default_rng(FLAGS.seed)
    cases = []
    for _ in range(FLAGS.cases):
        k = int(rng.integers(2, 7))
        n = int(rng.integers(k, k + 5))
        jac = rng.normal(size=(k, n)) * 10.0 ** rng.uniform(-2, 1, (k, 1))
        cases.append(jac)
    print(f"{'rule':<10} {'max rel. diff':>14} {'median':>10} "
          f"{'objective <= scipy':>20}")
    for name, reference in REFERENCES.items():
        diffs, at_least_as_good, compared = [], 0, 0
        for jac in cases:
            expected, objective = reference(jac, rng)
            actual = keras_gs_update(name, jac)
            scale = max(np.linalg.norm(expected), 1e-300)
            diffs.append(np.linalg.norm(actual - expected) / scale)
            if objective is not None:
                compared += 1
                tolerance = 1e-12 * max(abs(objective(expected)), 1e-300)
                at_least_as_good += objective(actual) <= (
                    objective(expected) + tolerance
                )
        good = f"{at_least_as_good}/{compared}" if compared else "-"
        print(f"{name:<10} {max(diffs):14.1e} {np.median(diffs):10.1e} "
              f"{good:>20}")
    print_conditions(FLAGS.seed)


def print_conditions(seed):
    exact = aggregator_conditions.worst_residuals(seed)
    rounded = aggregator_conditions.worst_residuals(seed, float32_path=True)
    print()
    print(f"{'rule':<12} {'float64 worst':>13}  {'case':<24} "
          f"{'tolerance':>9} {'float32 worst':>13}  {'case':<24}")
    for name, (worst, label, results) in exact.items():
        tolerance = aggregator_conditions.CHECKS[name][1]
        f32, f32_label = "-", ""
        if name in rounded:
            f32, f32_label = f"{rounded[name][0]:.1e}", rounded[name][1]
        print(f"{name:<12} {worst:13.1e}  {label:<24} {tolerance:9.0e} "
              f"{f32:>13}  {f32_label:<24} ({len(results)} cases)")


if __name__ == "__main__":
    app.run(main)
