"""The paper's gradient-conflict measures, per layer (METHOD.md §4).

From the per-example gradients of one batch per domain (K domains, n
examples each), for each group of variables (a layer, or the whole
network):

- `sign_agreement`: the fraction of components on whose sign the K domain
  gradients agree (the official `sign_sim`; a zero disagrees), by
  `keras_gs.conflicts.agreement_fraction`;
- `domain_cosine`: the mean cosine over pairs of domain gradients
  (`cos_sim`), by `keras_gs.conflicts.mean_pairwise_cosine`;
- `intra_cosine`: for each domain, the mean cosine over the n(n-1)/2
  pairs of its examples' gradients, then the mean over domains
  (`intra_cos_sim`);
- `inter_cosine`: the mean cosine between the gradients of two examples of
  different domains, over the n x n example pairs of **every** pair of
  domains (`inter_cos_sim`). The official helper builds its iterator of
  example pairs once, outside its loop over domain pairs, so it is spent
  on the first domain pair and only that pair is counted; here every pair
  is.

A domain's gradient is the mean of its examples' gradients: the gradient of
its batch's mean loss (exact in inference mode, see `per_example`). A
cosine involving a zero gradient is 0 (the official code divides by zero
and gets NaN). The example cosines come from one Gram matrix of the K·n
per-example gradients per variable, so a layer's Gram is the sum of its
variables' and the whole network's the sum of all.
"""

import tensorflow as tf

from keras_gs.conflicts import agreement_fraction
from keras_gs.conflicts import mean_pairwise_cosine

MEASURES = ("sign_agreement", "domain_cosine", "intra_cosine", "inter_cosine")


def conflict_measures(example_grads, num_domains: int, groups):
    """The four `MEASURES` for each group of variables.

    Args:
        example_grads: list with one tensor per trainable variable, of shape
            `(num_domains * n, *variable.shape)`, the rows domain by domain:
            rows `k * n` to `(k + 1) * n - 1` are domain k's examples (see
            `per_example.per_example_gradients`).
        num_domains: int, K >= 2.
        groups: list of `keras_gs.conflicts.layer_groups.LayerGroup`, each naming the positions of
            its variables in `example_grads`.

    Returns:
        A float32 tensor of shape `(len(groups), 4)`, columns in the order
        of `MEASURES`.
    """
    num_rows = int(example_grads[0].shape[0])
    _check_sizes(num_rows, num_domains)
    n = num_rows // num_domains
    grams = [_gram(g, num_rows) for g in example_grads]
    domain_grads = [
        [tf.reduce_mean(g[k * n : (k + 1) * n], axis=0) for g in example_grads]
        for k in range(num_domains)
    ]
    rows = []
    for group in groups:
        grads = [[d[i] for i in group.indices] for d in domain_grads]
        gram = tf.add_n([grams[i] for i in group.indices])
        intra, inter = example_cosines(gram, num_domains)
        rows.append(
            tf.stack(
                [
                    tf.cast(agreement_fraction(grads), tf.float32),
                    tf.cast(mean_pairwise_cosine(grads), tf.float32),
                    intra,
                    inter,
                ]
            )
        )
    return tf.stack(rows)


def example_cosines(gram, num_domains: int):
    """Intra- and inter-domain mean cosines from a Gram matrix.

    Args:
        gram: `(K * n, K * n)` tensor of dot products between per-example
            gradients, rows domain by domain.
        num_domains: int, K >= 2.

    Returns:
        `(intra, inter)`, float32 scalars: the mean over domains of the mean
        cosine over pairs of distinct examples of that domain, and the mean
        cosine over all pairs of examples of two different domains, every
        pair of domains counted.
    """
    num_rows = int(gram.shape[0])
    _check_sizes(num_rows, num_domains)
    n = num_rows // num_domains
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
    cosine = tf.math.divide_no_nan(gram, norms[:, None] * norms[None, :])
    # blocks[a, b] is the (n, n) block of domain a's rows, domain b's columns.
    blocks = tf.transpose(
        tf.reshape(cosine, (num_domains, n, num_domains, n)), (0, 2, 1, 3)
    )
    block_sums = tf.reduce_sum(blocks, axis=(2, 3))
    same = tf.eye(num_domains)
    # The diagonal blocks without their diagonal (an example with itself),
    # each pair counted twice (the block is symmetric).
    within = tf.reduce_sum(block_sums * same) - tf.reduce_sum(
        tf.linalg.diag_part(cosine)
    )
    intra = within / float(num_domains * n * (n - 1))
    # Every ordered pair of distinct domains: each unordered pair twice.
    between = tf.reduce_sum(block_sums * (1.0 - same))
    inter = between / float(num_domains * (num_domains - 1) * n * n)
    return intra, inter


def _gram(grad, num_rows):
    flat = tf.reshape(tf.cast(grad, tf.float32), (num_rows, -1))
    return tf.matmul(flat, flat, transpose_b=True)


def _check_sizes(num_rows, num_domains):
    if num_domains < 2:
        raise ValueError(
            "The conflict measures compare domains: they need at least 2. "
            f"Received: num_domains={num_domains}"
        )
    if num_rows % num_domains or num_rows // num_domains < 2:
        raise ValueError(
            "Every domain needs the same number n >= 2 of examples (the "
            "intra-domain cosine compares pairs of examples). Received: "
            f"{num_rows} rows for num_domains={num_domains}"
        )
