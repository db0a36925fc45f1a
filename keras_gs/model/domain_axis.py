"""The domain axis of training batches: `(batch, num_domains, ...)`.

Row i of a training batch holds the i-th example of every source domain
(`keras_gs.data.zip_domains` builds such batches). The batch axis comes
first so that `tf.distribute` hands every replica `batch / R` examples of
every domain (METHOD.md §5); these functions take domains out of it and
put them back.
"""

import numpy as np
import tensorflow as tf
from keras import tree

HELP = (
    "GradSurgeryModel trains on batches laid out (batch, num_domains, ...): "
    "row i holds the i-th example of every domain (see "
    "keras_gs.data.zip_domains). evaluate, predict and validation_data take "
    "ordinary batches without the domain axis."
)


def split(x, y, sample_weight, num_domains):
    """Checks that every tensor of a training batch has the domain axis.

    Returns:
        `(x, y, sample_weight)` unchanged.

    Raises:
        ValueError: naming the tensor whose axis 1 is not `num_domains`.
    """
    if y is None:
        raise ValueError(
            "GradSurgeryModel.fit needs labels: (x, y) batches. " + HELP
        )
    for name, t in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        for leaf in tree.flatten(t) if t is not None else []:
            shape = leaf.shape
            if shape.rank is None or shape.rank < 2 or shape[1] != num_domains:
                raise ValueError(
                    f"GradSurgeryModel expects {name} of shape (batch, "
                    f"num_domains={num_domains}, ...). Received: {name} of "
                    f"shape {tuple(shape)}. " + HELP
                )
    return x, y, sample_weight


def domain(t, k):
    """Domain k's `(batch, ...)` slice of a structure (None stays None)."""
    if t is None:
        return None
    return tree.map_structure(lambda leaf: leaf[:, k], t)


def join(t):
    """(batch, K, ...) -> (batch * K, ...): one batch of every domain."""
    if t is None:
        return None
    return tree.map_structure(
        lambda leaf: tf.reshape(leaf, tf.concat([[-1], tf.shape(leaf)[2:]], 0)),
        t,
    )


def unjoin(t, num_domains):
    """The inverse of `join`: a list of K structures `(batch, ...)`."""

    def split_rows(leaf):
        shape = tf.concat([[-1, num_domains], tf.shape(leaf)[1:]], 0)
        return tf.reshape(leaf, shape)

    grouped = tree.map_structure(split_rows, t)
    return [domain(grouped, k) for k in range(num_domains)]


def concat(per_domain):
    """A list of per-domain structures -> one structure, domains stacked."""
    if per_domain[0] is None:
        return None
    return tree.map_structure(lambda *leaves: tf.concat(leaves, 0), *per_domain)


def batch_size(x):
    """Rows of a training batch (examples per domain), as a float32."""
    return tf.cast(tf.shape(tree.flatten(x)[0])[0], tf.float32)


def count(x, y):
    """The domain axis's size from a dataset's spec or arrays, else None.

    Raises:
        ValueError: an element without a domain axis, or axis 1 sizes that
            differ between `x` and `y`.
    """
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        x_spec = spec[0] if isinstance(spec, tuple) else spec
        y_spec = spec[1] if isinstance(spec, tuple) and len(spec) > 1 else None
    elif isinstance(x, (np.ndarray, tf.Tensor)):
        x_spec, y_spec = x, y
    else:
        return None
    leaves = tree.flatten(x_spec)
    if y_spec is not None:
        leaves += tree.flatten(y_spec)
    for leaf in leaves:
        if len(leaf.shape) < 2:
            raise ValueError(
                f"The training data has an element of shape "
                f"{tuple(leaf.shape)}, with no domain axis. " + HELP
            )
    sizes = {leaf.shape[1] for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"The training data's axis 1 (domains) differs between x and y "
            f"or is unknown: sizes {sorted(map(str, sizes))}. " + HELP
        )
    return int(sizes.pop())
