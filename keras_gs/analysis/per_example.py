"""Per-example gradients of the training loss, vectorized over examples.

The gradient of example i's loss is computed for every example of a batch
at once with `tf.vectorized_map` (TensorFlow's `pfor`: one traced
forward/backward pass on a batch of one, vectorized over the examples), not
one tape per example. Where `pfor` cannot vectorize an op of the network,
`PerExampleGradients` falls back to `tf.map_fn` (a `tf.while_loop` over
the examples, still inside one traced function) and says so with a
warning and its `method`. Measured on a 2-core CPU, 80 examples through
`small_cnn`: 0.07 s vectorized, 0.08 s with `map_fn`, 4.6 s as a batched
Jacobian (`tape.jacobian`, whose cost grows with the square of the batch)
and 2.5 s with one eager tape per example. (`pfor` itself runs a
convolution's filter gradient, `Conv2DBackpropFilter`, as an inner loop
and logs "uses a while_loop"; the rest of the pass stays vectorized.)

Memory: one float32 per example and parameter, all held at once: K·n·P·4
bytes for n examples of K domains and P parameters (5 x 16 examples of
the 106 k-parameter small CNN: 34 MB; 3 x 16 of AlexNet's 57 M: 11 GB).
Lower the batch size for large networks.

The loss is the training loss of `GradSurgeryModel` without
regularization terms: sparse categorical cross-entropy from logits. The
network runs in inference mode (`training=False`): dropout is off and
BatchNorm uses its moving statistics, so that the gradients depend only on
the weights and the examples, and the mean of the per-example gradients is
exactly the gradient of the batch's mean loss. The paper's helpers do not
say which mode they used; its training passes are in training mode.
"""

import warnings

import keras
import tensorflow as tf

VECTORIZED = "vectorized_map"
LOOP = "map_fn"


def example_loss(network, x, y):
    """The loss of each example: cross-entropy of `network(x)`'s logits.

    Args:
        network: a `keras.Model` from inputs to logits.
        x: a batch of inputs.
        y: int labels, shape `(batch,)`.

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    logits = tf.cast(network(x, training=False), tf.float32)
    return keras.losses.sparse_categorical_crossentropy(
        y, logits, from_logits=True
    )


def per_example_gradients(network, x, y, vectorize: bool = True):
    """The gradient of every example's loss w.r.t. the trainable variables.

    Args:
        network: a `keras.Model` from inputs to logits.
        x: a batch of `n` inputs.
        y: int labels, shape `(n,)`.
        vectorize: bool, `tf.vectorized_map` (without `pfor`'s own
            while-loop fallback, so that a failure raises) if True,
            `tf.map_fn` if False. Defaults to `True`.

    Returns:
        A list with one float32 tensor per trainable variable, of shape
        `(n, *variable.shape)`: row i is the gradient of example i's loss.
        Variables the loss does not depend on get zeros.
    """
    variables = network.trainable_variables

    def one(example):
        xi, yi = example
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(example_loss(network, xi[None], yi[None]))
        grads = tape.gradient(
            loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        return [tf.cast(g, tf.float32) for g in grads]

    if vectorize:
        return tf.vectorized_map(one, (x, y), fallback_to_while_loop=False)
    return tf.map_fn(
        one,
        (x, y),
        fn_output_signature=[
            tf.TensorSpec(v.shape, tf.float32) for v in variables
        ],
    )


class PerExampleGradients:
    """A traced function from `(x, y)` to a statistic of per-example gradients.

    Wraps `function(per_example_grads, *extra)` so that the gradients and
    what is computed from them run in one `tf.function`, traced once per
    input shape. The weights may change between calls (`load_weights`)
    without retracing.

    Args:
        network: a `keras.Model` from inputs to logits.
        function: callable taking the list of per-example gradients (see
            `per_example_gradients`) and returning tensors.
        vectorize: bool, try `tf.vectorized_map` first. Defaults to `True`.

    Attributes:
        method: str, `"vectorized_map"`, or `"map_fn"` after a fallback.
    """

    def __init__(self, network, function, vectorize: bool = True):
        self.network = network
        self.function = function
        self.method = VECTORIZED if vectorize else LOOP
        self._traced = self._trace(self.method == VECTORIZED)

    def _trace(self, vectorize):
        @tf.function(reduce_retracing=True)
        def traced(x, y):
            grads = per_example_gradients(self.network, x, y, vectorize)
            return self.function(grads)

        return traced

    def __call__(self, x, y):
        if self.method == VECTORIZED:
            try:
                return self._traced(x, y)
            except (ValueError, NotImplementedError, TypeError) as error:
                warnings.warn(
                    f"tf.vectorized_map cannot compute the per-example "
                    f"gradients of {self.network.name!r} ({error}); using "
                    "tf.map_fn, a loop over the examples.",
                    stacklevel=2,
                )
                self.method = LOOP
                self._traced = self._trace(False)
        return self._traced(x, y)
