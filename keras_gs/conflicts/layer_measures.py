"""Per-layer measures of domain-gradient conflict, computed in the step.

`ConflictMonitor` asks `GradSurgeryModel` for these every N steps. They
are computed from the global (all-reduced) domain gradients the step
already has, inside the step's compiled gradient arithmetic, and only on
the steps that log (a `tf.cond`).

For each layer:
Layers are `keras_gs.layer_groups.layer_groups(network)`: the network's
top-level layers, named as in the model.
- `agreement`: the share of its components on whose gradient sign every
  domain agrees (a zero disagrees), as Agr-Sum's mask;
- `cosine`: the mean pairwise cosine similarity between the domains'
  gradients restricted to the layer (0 for a pair with a zero gradient);
- `norm_<k>`: the norm of domain k's gradient restricted to the layer;
- `replaced`: the share of its components the surgery zeroed or replaced
  (`Surgery.replaced_masks`; 0 for surgeries that do not mask);
- a histogram, over its components, of |sum_k sign(g_k)|: K where every
  domain agrees, down to 0 or 1 where they split evenly.
"""

import tensorflow as tf

from keras_gs.conflicts import measures as conflicts


def layer_statistics(domain_grads, replaced_masks, groups):
    """The measures of every layer, as tensors stacked over layers.

    Args:
        domain_grads: K lists of per-variable gradients.
        replaced_masks: list of per-variable boolean masks, or None.
        groups: list of `keras_gs.layer_groups.LayerGroup`.

    Returns:
        A dict of float32 tensors: `agreement`, `cosine`, `replaced` of
        shape (L,), `norms` of shape (L, K), `histogram` of shape
        (L, K + 1) (counts of |sum_k sign(g_k)| = 0, 1, ..., K).
    """
    num_domains = len(domain_grads)
    sign_sums = [
        tf.abs(tf.add_n([tf.sign(tf.cast(g, tf.float32)) for g in grads]))
        for grads in zip(*domain_grads)
    ]
    rows = {k: [] for k in ("agreement", "cosine", "replaced", "norms", "histogram")}
    for group in groups:
        indices = group.indices
        size = float(group.parameters)
        histogram = tf.stack(
            [
                tf.add_n(
                    [
                        tf.reduce_sum(tf.cast(tf.equal(sign_sums[i], float(v)), tf.float32))
                        for i in indices
                    ]
                )
                for v in range(num_domains + 1)
            ]
        )
        rows["histogram"].append(histogram)
        rows["agreement"].append(histogram[num_domains] / size)
        gram = conflicts.gradient_gram(
            [[grads[i] for i in indices] for grads in domain_grads]
        )
        rows["norms"].append(tf.sqrt(tf.linalg.diag_part(gram)))
        rows["cosine"].append(
            conflicts.cosine_from_gram(gram)
            if num_domains > 1
            else tf.constant(1.0)
        )
        if replaced_masks is None:
            rows["replaced"].append(tf.constant(0.0))
        else:
            replaced = tf.add_n(
                [tf.reduce_sum(tf.cast(replaced_masks[i], tf.float32)) for i in indices]
            )
            rows["replaced"].append(replaced / size)
    return {k: tf.stack(v) for k, v in rows.items()}
