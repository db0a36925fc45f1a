"""Shared machinery of the Gramian rules (MGDA, CAGrad, UPGrad, ...).

A Gramian rule reads the K domain gradients only through their K x K Gram
matrix G (`keras_gs.conflicts.gradient_gram`) and returns weights w, the
update being d = sum_k w_k g_k. K is small and known when the step is
traced, so the rules work in float64 and may enumerate all 2^K subsets of
the domains as one batch of small linear systems: that is how MGDA, CAGrad
and the dual-cone projections are solved exactly, with no iteration count
and no Python control flow on tensor values.
"""

import tensorflow as tf

# 2^K subsets are enumerated; 2^12 systems of size 13 are still cheap.
MAX_ENUMERATED_DOMAINS = 12


def num_domains(gram, rule: str) -> int:
    """K, the static size of the (K, K) Gram matrix, with a clear error."""
    shape = gram.shape
    if shape.rank != 2 or shape[0] is None or shape[0] != shape[1]:
        raise ValueError(
            f"{rule}: `gram` must be a (K, K) tensor with K known when the "
            f"step is traced. Received: shape={shape}."
        )
    if shape[0] < 1:
        raise ValueError(
            f"{rule}: K must be at least 1. Received: shape={shape}."
        )
    return int(shape[0])


def check_enumerable(k: int, rule: str) -> None:
    if k > MAX_ENUMERATED_DOMAINS:
        raise ValueError(
            f"{rule} solves its problem exactly by enumerating the 2^K "
            f"subsets of the domains; K={k} is more than "
            f"{MAX_ENUMERATED_DOMAINS}."
        )


def float64_gram(gram):
    """G in float64, made exactly symmetric, with a non-negative diagonal
    (leading axes, if any, are a batch of Gram matrices)."""
    g = tf.cast(gram, tf.float64)
    g = 0.5 * (g + tf.linalg.matrix_transpose(g))
    return tf.linalg.set_diag(g, tf.nn.relu(tf.linalg.diag_part(g)))


def relative_eps(dtype) -> float:
    """Machine epsilon of the Gram matrix's own dtype (float32: 1.2e-7).

    The rank and pseudo-inverse tolerances use it: a float32 Gram matrix
    does not resolve eigenvalues below ~1e-7 of the largest, even when the
    rule computes in float64.
    """
    name = tf.as_dtype(dtype).name
    if name not in _EPS:
        raise ValueError(
            f"A Gram matrix must be floating point. Received: {name}."
        )
    return _EPS[name]


_EPS = {
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
    "float32": 2.0**-23,
    "float64": 2.0**-52,
}


def rank_cutoff(k: int, dtype) -> float:
    """The relative eigenvalue below which a Gram (or cosine) matrix is
    treated as singular: K times float32's epsilon (2^-23), or the Gram
    dtype's own epsilon when that is coarser (float16, bfloat16).

    Not the float64 epsilon even for a float64 Gram matrix: the gradients
    of float32 training do not resolve directions below ~1e-7 of the
    largest, and a smaller cut-off lets eigenvalues that are only rounding
    (1e-13 for nearly collinear gradients) decide the answer. Aligned-MTL's
    official code and TorchJD cut at the same place (`torch.finfo().eps`,
    float32's under PyTorch's default dtype), and with it the answer does
    not depend on the precision the Gram matrix was accumulated in.
    """
    return k * max(2.0**-23, relative_eps(dtype))


def norms_and_cosines(g):
    """Gradient norms n and the cosine matrix of a float64 Gram matrix.

    A zero gradient (n_k = 0) gets a row and column of zeros except a 1 on
    the diagonal, so that it is decoupled from the others in any system
    built on the cosines. Rounding cannot push a cosine outside [-1, 1].
    """
    norms = tf.sqrt(tf.linalg.diag_part(g))
    inverse = tf.math.divide_no_nan(tf.ones_like(norms), norms)
    cosines = g * inverse[:, None] * inverse[None, :]
    cosines = tf.clip_by_value(cosines, -1.0, 1.0)
    return norms, tf.linalg.set_diag(cosines, tf.ones_like(norms))


def subset_masks(k: int, include_empty: bool = False):
    """(P, K) float64 0/1 rows: every subset of range(K), as a constant.

    P = 2^K - 1 (nonempty subsets), or 2^K with `include_empty`.
    """
    first = 0 if include_empty else 1
    rows = [[float((s >> i) & 1) for i in range(k)] for s in range(first, 2**k)]
    return tf.constant(rows, dtype=tf.float64)


def restricted_systems(g, masks):
    """For each subset S (a mask row m): G_SS on S, the identity off S.

    Shape (P, K, K). Solving it with a right-hand side that is u_i off S
    fixes the variables off S to u_i.
    """
    outer = masks[:, :, None] * masks[:, None, :]
    return outer * g[None] + tf.linalg.diag(1.0 - masks)


def simplex_kkt_systems(cosines, norms, masks):
    """The KKT systems of min w^T G w over the simplex, one per support S.

    On S the conditions are G_SS w_S = nu 1 and 1^T w_S = 1. They are
    solved in the equilibrated unknowns w'_i = |g_i| w_i, with
    r_i = 1 / |g_i| and t = r_S / max(r_S):

        [[C_SS, -t], [t^T, 0]] (w', mu) = (-tau c, 1 / max(r_S))

    (C the cosine matrix; the first block row is row i of G w = nu 1
    divided by |g_i|, and mu = nu max(r_S)). Every entry is at most 1 in
    size, so gradient norms that differ by 1e5 lose no accuracy. The
    matrix is invertible whenever the g_i of S are affinely independent.

    Args:
        cosines, norms: from `norms_and_cosines`.
        masks: (P, K) from `subset_masks`.

    Returns:
        (systems, top, usable): systems (P, K + 1, K + 1) (identity rows
        and columns off S); top (P,) = max(r_S); usable (P,) bool, False for
        supports that hold a zero gradient (which the caller handles).
    """
    p = masks.shape[0]
    nonzero = norms > 0.0
    usable = tf.reduce_all((masks == 0.0) | nonzero[None, :], axis=1)
    r = masks * tf.math.divide_no_nan(tf.ones_like(norms), norms)[None, :]
    top = tf.reduce_max(r, axis=1)
    t = tf.math.divide_no_nan(r, top[:, None])
    upper = tf.concat(
        [restricted_systems(cosines, masks), -t[:, :, None]], axis=2
    )
    lower = tf.concat([t, tf.zeros([p, 1], tf.float64)], axis=1)
    return tf.concat([upper, lower[:, None, :]], axis=1), top, usable


def check_orders(orders, k, rule):
    """`orders` as a tensor, or a ValueError unless it is (K, K - 1)."""
    orders = tf.convert_to_tensor(orders)
    if orders.shape.rank != 2 or orders.shape[0] != k:
        raise ValueError(
            f"{rule}: `orders` must be a (K, K - 1) int tensor with K={k}. "
            f"Received: shape={orders.shape}."
        )
    return orders
