"""Each multi-task aggregator checked against the conditions that define it.

Not a comparison with another library: for a Jacobian J (K gradients as
rows, float64), each `check_*` function runs the rule on a Gram matrix of J
and measures, in float64 on the exact G = J J^T, how far the answer is from
satisfying the rule's own definition. Every residual is dimensionless
(divided by the norms the condition involves, so 1e-5-sized and 1e2-sized
gradients count alike) and 0 for an exact answer; None means the
definition does not apply to the case (e.g. Nash-MTL's equations have no
solution when the gradients cannot all be improved at once).

`cases()` generates the shared cases: K = 2..8, norm ratios up to 1e5,
rank deficient, nearly collinear, tiny norms (1e-8), one zero gradient,
all zero, the issue's norms 3.3e-3..287. `TOLERANCES` states the largest
residual accepted per rule (tests/surgery/test_aggregator_conditions.py;
tools/aggregator_accuracy.py prints the worst residual per rule).
"""

import numpy as np
import tensorflow as tf
from scipy.optimize import linprog
from scipy.optimize import nnls

from keras_gs.surgery.aligned_mtl import aligned_mtl_weights
from keras_gs.surgery.cagrad import cagrad_weights
from keras_gs.surgery.config_rule import config_weights
from keras_gs.surgery.dual_cone import dual_cone_projection_weights
from keras_gs.surgery.dualproj import dualproj_weights
from keras_gs.surgery.graddrop import graddrop
from keras_gs.surgery.gradvac import gradvac_weights
from keras_gs.surgery.imtl_g import imtl_g_weights
from keras_gs.surgery.mgda import mgda_weights
from keras_gs.surgery.nash_mtl import nash_mtl_weights
from keras_gs.surgery.pcgrad_orders import per_domain_projection_weights
from keras_gs.surgery.upgrad import upgrad_weights

# The rank cut-off of Aligned-MTL (and of the checks of IMTL-G and ConFIG):
# eigenvalues of G below K * 2^-23 * max eigenvalue count as 0, as in the
# paper's official code and TorchJD (torch.finfo().eps, float32's).
FLOAT32_EPS = 2.0**-23


def cases(seed=0):
    """[(label, J)]: the generated Jacobians, (K, N) float64 arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(2, 9):
        out.append((f"random K={k}", rng.normal(size=(k, k + 3))))
    for k in (2, 3, 5, 8):
        scales = np.logspace(0, -5, k)[rng.permutation(k)]
        jac = rng.normal(size=(k, k + 2)) * scales[:, None]
        out.append((f"norm ratio 1e5 K={k}", jac))
    issue = rng.normal(size=(4, 6))
    norms = np.array([3.3e-3, 0.236, 2.98, 287.0])
    issue *= (norms / np.linalg.norm(issue, axis=1))[:, None]
    out.append(("norms 3.3e-3..287", issue))
    low_rank = rng.normal(size=(5, 2)) @ rng.normal(size=(2, 6))
    out.append(("rank 2, K=5", low_rank))
    duplicated = rng.normal(size=(3, 4))
    out.append(("duplicated gradient", np.vstack([duplicated, duplicated[1]])))
    base = rng.normal(size=(1, 5))
    out.append(("nearly collinear K=2", base + 1e-7 * rng.normal(size=(2, 5))))
    collinear = base * [[1.0], [2.0], [0.5]] + 1e-7 * rng.normal(size=(3, 5))
    out.append(("nearly collinear K=3", collinear))
    out.append(("tiny norms 1e-8", 1e-8 * rng.normal(size=(4, 6))))
    tiny = 1e-8 * rng.normal(size=(3, 5)) * np.array([[1.0], [1e-5], [1e-2]])
    out.append(("tiny, ratio 1e5", tiny))
    zero = rng.normal(size=(4, 6))
    zero[2] = 0.0
    out.append(("one zero gradient of 4", zero))
    out.append(("all zero", np.zeros((3, 4))))
    g = rng.normal(size=(1, 4))
    out.append(("exactly opposed", np.vstack([g, -g])))
    out.append(("conflicting K=4 in 2D", rng.normal(size=(4, 2))))
    return out


def gram_of(jac, dtype=tf.float64):
    return tf.constant(jac @ jac.T, dtype)


def _norms(jac):
    return np.linalg.norm(jac, axis=1)


def _divide(a, b):
    """a / b element-wise, 0 where b = 0."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    return np.divide(a, b, out=np.zeros(a.shape), where=b > 0)


def _ratio(a, b):
    return float(a / b) if b > 0 else (0.0 if a == 0 else float("inf"))


def _tie_tolerance(gram):
    return 1e-9 if gram.dtype == tf.float64 else 1e-4


def check_mgda(jac, gram):
    """MGDA's KKT conditions of min w^T G w over the simplex: w >= 0,
    sum w = 1, (G w)_j >= w^T G w for every j, with equality where w_j > 0
    (complementary slackness), each (G w)_j in units (|g_j| + W) W,
    W = sum_i w_i |g_i|."""
    g, n = jac @ jac.T, _norms(jac)
    w = mgda_weights(gram).numpy().astype(float)
    gw = g @ w
    value = w @ gw
    spread = np.sum(np.abs(w) * n)
    units = (n + spread) * spread
    dual = _divide(np.maximum(value - gw, 0), units)
    slack = _divide(np.abs(w) * np.abs(gw - value), units)
    primal = max(np.maximum(-w, 0).max(), abs(w.sum() - 1))
    return max(dual.max(), slack.max(), primal)


def check_cagrad(jac, gram, c=0.5):
    """CAGrad: d is in the ball |d - g0| <= c |g0| (feasibility), and its
    worst improvement t = min_k <g_k, d> equals the dual F(lam) =
    <g_lam, g0> + c |g0| |g_lam| of a lam in the simplex (weak duality
    says F(lam) >= t for every lam, so F(lam) = t proves d optimal). lam
    is read off d: nonnegative weights of the active g_k (those at the
    minimum) whose combination points along d - g0 (NNLS), or a zero
    gradient (F = 0). Units: |g0| for the ball, |d| |g_k*| (k* the worst
    domain) for the gap."""
    g, n = jac @ jac.T, _norms(jac)
    k = len(jac)
    w = cagrad_weights(gram, c).numpy().astype(float)
    d, g0 = jac.T @ w, jac.mean(axis=0)
    rho = c * np.linalg.norm(g0)
    if np.linalg.norm(g0) == 0:
        return _ratio(np.linalg.norm(d), max(n.max(), 1e-300))
    feasibility = max(np.linalg.norm(d - g0) - rho, 0) / np.linalg.norm(g0)
    improvements = jac @ d
    worst = int(np.argmin(improvements))
    t = improvements[worst]
    units = np.linalg.norm(d) * max(n[worst], n.max() * 1e-12)
    # Ties at the minimum, to the precision the Gram matrix carries.
    active = improvements <= t + _tie_tolerance(gram) * units

    def dual(lam):
        g_lam = jac.T @ lam
        return g_lam @ g0 + rho * np.linalg.norm(g_lam)

    candidates = [np.eye(k)[i] for i in range(k) if n[i] == 0]
    if np.linalg.norm(d - g0) > 0:
        lam = np.zeros(k)
        lam[active], _ = nnls(jac[active].T, d - g0)
        if lam.sum() > 0:
            candidates.append(lam / lam.sum())
    gap = min(dual(lam) for lam in candidates) - t if candidates else np.inf
    return max(feasibility, gap / units)


def _projection_kkt(jac, u, v):
    """KKT of min_v v^T G v s.t. v >= u (J^T v the projection of J^T u onto
    the dual cone): (G v)_k >= 0, v >= u, (v - u)_k (G v)_k = 0; in units of
    |J^T u| (and |g_k|)."""
    g, n = jac @ jac.T, _norms(jac)
    scale = max(np.linalg.norm(jac.T @ u), np.linalg.norm(jac.T @ v))
    if scale == 0:
        return 0.0
    gv = g @ v
    cone = _divide(np.maximum(-gv, 0), n * scale)
    feasible = np.maximum(u - v, 0) * n / scale
    slack = np.abs((v - u) * gv) / scale**2
    return max(cone.max(), feasible.max(), slack.max())


def _cone_residual(jac, w):
    """<d, g_k> >= 0 for every k, in units |g_k| max(|d|, max_i |g_i| / K)
    (a d that is 0 up to rounding has no direction to measure)."""
    d, n = jac.T @ w, _norms(jac)
    size = max(np.linalg.norm(d), n.max() / len(jac))
    return float(np.max(_divide(np.maximum(-(jac @ d), 0), size * n)))


def check_upgrad(jac, gram):
    """UPGrad: <d, g_k> >= 0; each term is the projection of g_i / K onto
    the dual cone (its KKT conditions); d is their sum."""
    k = len(jac)
    prefs = np.eye(k) / k
    v = dual_cone_projection_weights(gram, tf.constant(prefs)).numpy()
    w = upgrad_weights(gram).numpy().astype(float)
    total = jac.T @ v.sum(axis=0)
    scale = max(np.linalg.norm(total), np.linalg.norm(jac.mean(axis=0)))
    sum_error = _ratio(np.linalg.norm(jac.T @ w - total), scale)
    kkt = max(_projection_kkt(jac, prefs[i], v[i]) for i in range(k))
    return max(kkt, sum_error, _cone_residual(jac, w))


def check_dualproj(jac, gram):
    """DualProj: <d, g_k> >= 0 and d = J^T v is the projection of the mean
    onto the dual cone (the KKT conditions of the projection)."""
    k = len(jac)
    w = dualproj_weights(gram).numpy().astype(float)
    kkt = _projection_kkt(jac, np.full(k, 1.0 / k), w)
    return max(kkt, _cone_residual(jac, w))


def _equal_target_attainable(jac):
    """Whether some combination of the nonzero unit gradients has equal
    projections 1 on all of them (C x = 1 solvable on C's eigenvalues above
    the float32 rank cut-off), with nonzero total weight."""
    n = _norms(jac)
    units = jac[n > 0] / n[n > 0, None]
    if len(units) == 0:
        return False
    cosines = units @ units.T
    values, vectors = np.linalg.eigh(cosines)
    kept = values > values.max() * len(cosines) * FLOAT32_EPS
    ones = np.ones(len(cosines))
    inside = vectors[:, kept] @ (vectors[:, kept].T @ ones)
    x = vectors[:, kept] @ ((vectors[:, kept].T @ ones) / values[kept])
    weights = x / n[n > 0]
    solvable = np.linalg.norm(inside - ones) <= 1e-9 * len(cosines)
    return solvable and abs(weights.sum()) > 1e-12 * np.abs(weights).sum()


def check_imtl_g(jac, gram):
    """IMTL-G: equal projections <d, g_k / |g_k|> on every nonzero unit
    gradient (spread relative to their largest size), weights summing to
    1; where such a d exists."""
    if not _equal_target_attainable(jac):
        return None
    n = _norms(jac)
    w = imtl_g_weights(gram).numpy().astype(float)
    d = jac.T @ w
    projections = (jac[n > 0] @ d) / n[n > 0]
    spread = projections.max() - projections.min()
    return max(_ratio(spread, np.abs(projections).max()), abs(w.sum() - 1))


def check_config(jac, gram):
    """ConFIG: equal cosines of d with every nonzero g_k (spread), and the
    length rule |d|^2 = sum_k <g_k, d> (d = (sum_k <g_k, b>) b, |b| = 1),
    in units |d| sum |g_k|; where equal cosines exist."""
    if not _equal_target_attainable(jac):
        return None
    n = _norms(jac)
    w = config_weights(gram).numpy().astype(float)
    d = jac.T @ w
    size = np.linalg.norm(d)
    if size == 0:
        return 1.0
    cosines = (jac[n > 0] @ d) / (n[n > 0] * size)
    length = abs(size**2 - np.sum(jac @ d)) / (size * n.sum())
    return max(cosines.max() - cosines.min(), length)


def nash_feasible(jac):
    """Whether some d improves every nonzero g_k: max t s.t. <g_k/|g_k|, d>
    >= t, |d|_inf <= 1, with t > 1e-6."""
    n = _norms(jac)
    units = jac[n > 0] / n[n > 0, None]
    if len(units) == 0:
        return False
    dim = jac.shape[1]
    result = linprog(
        np.r_[np.zeros(dim), -1.0],
        A_ub=np.c_[-units, np.ones(len(units))],
        b_ub=np.zeros(len(units)),
        bounds=[(-1, 1)] * dim + [(None, 1)],
        method="highs",
    )
    return bool(result.success and -result.fun > 1e-6)


def check_nash_mtl(jac, gram):
    """Nash-MTL: alpha_k > 0 and alpha_k (G alpha)_k = 1 for every nonzero
    g_k, alpha_k = 0 for a zero one (documented choice: the equations
    have no solution then, the zero gradient is left out), and the update
    clipped to norm <= 1 (weights = alpha min(1, 1 / |J^T alpha|)); where
    the equations have a solution."""
    if not nash_feasible(jac):
        return None
    g, n = jac @ jac.T, _norms(jac)
    weights, alpha = nash_mtl_weights(gram, tf.ones([len(jac)], gram.dtype))
    weights, alpha = weights.numpy().astype(float), alpha.numpy().astype(float)
    live = n > 0
    equations = np.abs(alpha[live] * (g @ alpha)[live] - 1.0).max()
    positive = 0.0 if np.all(alpha[live] > 0) else 1.0
    zero = np.max(np.abs(alpha[~live]) * n[live].max(), initial=0.0)
    size = np.linalg.norm(jac.T @ alpha)
    clipped = np.linalg.norm(jac.T @ weights - jac.T @ alpha / max(1.0, size))
    return max(equations, positive, zero, clipped)


def check_aligned_mtl(jac, gram, scale_mode="min"):
    """Aligned-MTL: the balanced Gram matrix M = B G B is s times the
    projector on the r eigenvectors of G kept (condition number 1 there,
    eigenvalues above max * K * 2^-23 kept), s the smallest kept
    eigenvalue ("min"); and the weights are B p (p = 1/K). B is read
    column by column (pref_vector = e_i). Relative to s."""
    g, k = jac @ jac.T, len(jac)
    values = np.linalg.eigvalsh(g)
    if values.max() <= 0:
        return 0.0
    kept = values[values > values.max() * k * FLOAT32_EPS]
    s = {
        "min": kept.min(),
        "median": np.sort(kept)[(len(kept) - 1) // 2],
        "rmse": kept.mean(),
    }[scale_mode]
    columns = [
        aligned_mtl_weights(gram, scale_mode, np.eye(k)[i]).numpy()
        for i in range(k)
    ]
    b = np.stack(columns, axis=1).astype(float)
    balanced = np.linalg.eigvalsh(b @ g @ b)[::-1]
    target = np.r_[np.full(len(kept), s), np.zeros(k - len(kept))]
    w = aligned_mtl_weights(gram, scale_mode).numpy().astype(float)
    condition = np.abs(balanced - target).max() / s
    weights = np.abs(b.mean(axis=1) - w).max() * np.sqrt(values.max() / s)
    return max(condition, weights)


def _pairs_of_two(jac, combination_weights):
    """K = 2: the corrected g_1' = g_1 + (w_2 - 1) g_2, g_2' likewise."""
    w = combination_weights
    return jac[0] + (w[1] - 1) * jac[1], jac[1] + (w[0] - 1) * jac[0]


def check_gradvac(jac, gram, beta=0.1, seed=0):
    """GradVac with random targets phi^ and beta: every pair (i, j(i)) first
    in i's order gets the target (1 - beta) phi^ + beta cos(g_i, g_j); for
    K = 2, cos(g_i', g_j) = max(cos(g_i, g_j), phi^_ij) (the correction
    lifts the cosine to the target exactly)."""
    k, n = len(jac), _norms(jac)
    rng = np.random.default_rng(seed)
    targets = rng.uniform(-0.9, 0.9, (k, k))
    # Row i: i + 1, i + 2, ... (mod K).
    orders = np.array([np.roll(np.arange(k), -i)[1:] for i in range(k)])
    w, new = gradvac_weights(
        gram, tf.constant(targets, gram.dtype), tf.constant(orders), beta=beta
    )
    w, new = w.numpy().astype(float), new.numpy().astype(float)
    residual = 0.0
    for i in range(k):
        j = orders[i, 0]
        if n[i] > 0 and n[j] > 0:
            cos = jac[i] @ jac[j] / (n[i] * n[j])
            ema = (1 - beta) * targets[i, j] + beta * cos
            residual = max(residual, abs(new[i, j] - ema))
    if k == 2:
        for i, corrected in enumerate(_pairs_of_two(jac, w)):
            j = 1 - i
            size = np.linalg.norm(corrected)
            original = jac[i] @ jac[j] / max(n[i] * n[j], 1e-300)
            # Opposed g_i, g_j: no multiple of g_j turns g_i; not defined.
            if n[i] > 0 and n[j] > 0 and size > 0 and abs(original) < 1 - 1e-9:
                cos = corrected @ jac[j] / (size * n[j])
                lifted = max(original, targets[i, j])
                residual = max(residual, abs(cos - lifted))
    return residual


def check_pcgrad(jac, gram):
    """PCGrad, K = 2: <g_i', g_j> = max(<g_i, g_j>, 0), in units |g_i||g_j|
    (a conflicting pair is projected onto each other's normal plane)."""
    if len(jac) != 2:
        return None
    n = _norms(jac)
    if n.min() == 0:
        return 0.0
    orders = tf.constant([[1], [0]])
    w = per_domain_projection_weights(gram, orders).numpy().astype(float)
    dot = jac[0] @ jac[1]
    corrected = _pairs_of_two(jac, w)
    return max(
        abs(corrected[i] @ jac[1 - i] - max(dot, 0.0)) / (n[0] * n[1])
        for i in range(2)
    )


def check_graddrop(jac, gram, leak=(0.1, 0.4, 0.0, 0.7, 0.2, 0.5, 0.3, 0.6)):
    """GradDrop, per coordinate: with P = (1 + sum g / sum |g|) / 2 and a
    uniform u, the positive g_k are kept where P > u, the negative where
    P < u; d = sum_k (l_k + (1 - l_k) kept_k) g_k, per-domain leaks l
    (unequal, so a swap shows). In units sum_k |g_k| per coordinate."""
    del gram
    k, dim = jac.shape
    leaks = list(leak[:k])
    u = np.random.default_rng(k).uniform(size=dim)
    domains = [[tf.constant(row)] for row in jac]
    out = graddrop(domains, [tf.constant(u)], leaks)[0].numpy()
    mass = np.abs(jac).sum(axis=0)
    p = 0.5 * (1 + _divide(jac.sum(axis=0), mass))
    kept = ((p > u) & (jac > 0)) | ((p < u) & (jac < 0))
    leaks = np.array(leaks)[:, None]
    expected = np.sum((leaks + (1 - leaks) * kept) * jac, axis=0)
    return float(np.max(_divide(np.abs(out - expected), mass)))


# name -> (check, tolerance on its residual for float64 Gram matrices).
# Each is ~1e3 times the worst residual measured, so a regression of
# the kind issue 28 found (1e-3 to 1) fails and rounding does not.
CHECKS = {
    "mgda": (check_mgda, 1e-9),
    "cagrad": (check_cagrad, 1e-9),
    "upgrad": (check_upgrad, 1e-9),
    "dualproj": (check_dualproj, 1e-9),
    "imtl-g": (check_imtl_g, 1e-9),
    "config": (check_config, 1e-9),
    "nash-mtl": (check_nash_mtl, 1e-7),
    "aligned-mtl": (check_aligned_mtl, 1e-9),
    # Within the rule's own guard eps = 1e-8 (phi / (1 + eps)).
    "gradvac": (check_gradvac, 1e-7),
    "pcgrad": (check_pcgrad, 1e-9),
    "graddrop": (check_graddrop, 1e-12),
}


# The rules whose check reads the update d only (the K = 2 checks of
# PCGrad and GradVac split d into g_1', g_2', which float32 weights of
# size 1e5 cannot resolve; GradDrop reads no Gram matrix).
FLOAT32_CHECKED = (
    "mgda",
    "cagrad",
    "upgrad",
    "dualproj",
    "imtl-g",
    "config",
    "nash-mtl",
    "aligned-mtl",
)


def float32_path_gram(jac):
    """(J rounded to float32, in float64; the Gram matrix as training
    computes it: `gradient_gram` of float32 gradients)."""
    from keras_gs.conflicts import gradient_gram

    rounded = jac.astype(np.float32).astype(np.float64)
    gram = gradient_gram([[tf.constant(row, tf.float32)] for row in rounded])
    return rounded, gram


def worst_residuals(seed=0, float32_path=False):
    """{rule: (worst residual, its case label, [(label, residual)])}, on
    exact float64 Gram matrices, or with `float32_path` on float32
    gradients through `gradient_gram` (the rules of FLOAT32_CHECKED)."""
    all_cases = cases(seed)
    out = {}
    for name, (check, _) in CHECKS.items():
        if float32_path and name not in FLOAT32_CHECKED:
            continue
        results = []
        for label, jac in all_cases:
            if float32_path:
                jac, gram = float32_path_gram(jac)
            else:
                gram = gram_of(jac)
            residual = check(jac, gram)
            if residual is not None:
                results.append((label, float(residual)))
        worst = max(results, key=lambda item: item[1])
        out[name] = (worst[1], worst[0], results)
    return out
