"""Measures of how much the domain gradients disagree (METHOD.md §4).

All functions take `domain_grads`: one list of per-variable gradient tensors
per domain. They are used both by the surgeries and by the metrics that
`GradSurgeryModel.fit` reports.
"""

import tensorflow as tf


def agreement_mask(variable_grads):
    """Components whose sign every domain agrees on, for one variable.

    `variable_grads` holds that variable's gradient from each of the K
    domains. A component agrees when |sum_k sign(g_k)| == K, so a zero
    gradient (sign 0) counts as disagreement, as in the paper's code.
    Returns a boolean tensor of the variable's shape.
    """
    num_domains = len(variable_grads)
    sign_sum = tf.add_n([tf.sign(g) for g in variable_grads])
    return tf.equal(tf.abs(sign_sum), tf.cast(num_domains, sign_sum.dtype))


def agreement_fraction(domain_grads):
    """Share of all components of the network on whose sign all domains agree."""
    agreeing = []
    total = 0
    for variable_grads in zip(*domain_grads):
        mask = agreement_mask(variable_grads)
        agreeing.append(tf.reduce_sum(tf.cast(mask, tf.float32)))
        total += int(mask.shape.num_elements())
    return tf.add_n(agreeing) / float(max(total, 1))


def gradient_gram(domain_grads):
    """The K x K matrix of dot products between whole-network gradients.

    Computed pair by pair without stacking the gradients (3x faster than a
    stacked matmul for K = 3 on CPU, and no (K, N) copy).
    """
    num_domains = len(domain_grads)
    dots = {}
    for a in range(num_domains):
        for b in range(a, num_domains):
            dots[a, b] = tf.add_n(
                [
                    tf.reduce_sum(
                        tf.cast(x, tf.float32) * tf.cast(y, tf.float32)
                    )
                    for x, y in zip(domain_grads[a], domain_grads[b])
                ]
            )
    return tf.stack(
        [
            tf.stack([dots[min(a, b), max(a, b)] for b in range(num_domains)])
            for a in range(num_domains)
        ]
    )


def mean_pairwise_cosine(domain_grads):
    """Mean cosine similarity over all pairs of domain gradients.

    A pair involving a zero gradient has cosine 0. With a single domain there
    is no pair and the result is 1 (a gradient agrees with itself).
    """
    if len(domain_grads) < 2:
        return tf.constant(1.0)
    return cosine_from_gram(gradient_gram(domain_grads))


def cosine_from_gram(gram):
    """`mean_pairwise_cosine` from the K x K Gram matrix (K >= 2)."""
    num_domains = gram.shape[0]
    norms = tf.sqrt(tf.linalg.diag_part(gram))
    denominator = norms[:, None] * norms[None, :]
    cosine = tf.math.divide_no_nan(gram, denominator)
    upper = tf.linalg.band_part(tf.ones_like(cosine), 0, -1) - tf.eye(
        num_domains
    )
    num_pairs = num_domains * (num_domains - 1) / 2
    return tf.reduce_sum(cosine * upper) / num_pairs
