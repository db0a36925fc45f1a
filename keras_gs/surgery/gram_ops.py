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
        raise ValueError(f"{rule}: K must be at least 1. Received: shape={shape}.")
    return int(shape[0])


def check_enumerable(k: int, rule: str) -> None:
    if k > MAX_ENUMERATED_DOMAINS:
        raise ValueError(
            f"{rule} solves its problem exactly by enumerating the 2^K "
            f"subsets of the domains; K={k} is more than "
            f"{MAX_ENUMERATED_DOMAINS}."
        )


def float64_gram(gram):
    """G in float64, made exactly symmetric, with a non-negative diagonal."""
    g = tf.cast(gram, tf.float64)
    g = 0.5 * (g + tf.transpose(g))
    return tf.linalg.set_diag(g, tf.nn.relu(tf.linalg.diag_part(g)))


def relative_eps(dtype) -> float:
    """Machine epsilon of the Gram matrix's own dtype (float32: 1.2e-7).

    The rank and pseudo-inverse tolerances use it: a float32 Gram matrix
    does not resolve eigenvalues below ~1e-7 of the largest, even when the
    rule computes in float64.
    """
    name = tf.as_dtype(dtype).name
    if name not in _EPS:
        raise ValueError(f"A Gram matrix must be floating point. Received: {name}.")
    return _EPS[name]


_EPS = {
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
    "float32": 2.0**-23,
    "float64": 2.0**-52,
}


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


def simplex_kkt_systems(g, masks):
    """For each support S, the bordered KKT matrix of min w^T G w on the
    simplex restricted to S, with the unknowns (w, nu):

        [[G_SS, -1_S], [1_S^T, 0]]    (identity rows and columns off S)

    Shape (P, K + 1, K + 1). Its solution with right-hand side (0, 1) is
    the min-norm point of the affine hull of {g_i : i in S}. The matrix is
    invertible whenever those g_i are affinely independent.
    """
    p = masks.shape[0]
    top = tf.concat([restricted_systems(g, masks), -masks[:, :, None]], axis=2)
    bottom = tf.concat([masks, tf.zeros([p, 1], tf.float64)], axis=1)
    return tf.concat([top, bottom[:, None, :]], axis=1)
