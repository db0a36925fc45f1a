"""`Evaluator`: accuracies of a network on a few fixed splits, quickly.

A run evaluates on three splits (source validation, target validation,
target test) every `eval_every` steps: 30 times in a run of a few seconds
on the embedded digits. Keras's `evaluate` pays for a new iterator and its
callbacks on every call, about 20 ms per split here. Instead, splits that
fit in memory are read once, concatenated and cut into batches that mix
them; one traced function returns the correct predictions of every split
at once (one call per evaluation for the digits). Larger splits are
streamed batch by batch.
"""

import numpy as np
import tensorflow as tf

# Splits whose images take at most this many bytes (all together) are kept
# in memory after the first evaluation.
MAX_CACHED_BYTES = 256 * 2**20


class Evaluator:
    """Accuracy of `network` on named unbatched `(image, label)` datasets.

    Args:
        network: a `keras.Model` mapping images to logits.
        splits: dict name -> unbatched `tf.data.Dataset` of `(x, y)`.
        batch_size: int, images per forward pass. Defaults to `512`.
        max_cached_bytes: int, keep the splits in memory when their images
            take at most this many bytes. Defaults to `MAX_CACHED_BYTES`.
        count: the function of `count_correct(network)`, to share its
            trace between evaluators of the same network. Defaults to
            `None` (a new one).

    Example:

    ```python
    evaluator = Evaluator(network, {"val": splits.val, "test": splits.test})
    evaluator()  # {"val": 0.93, "test": 0.81}
    ```
    """

    def __init__(
        self,
        network,
        splits,
        batch_size=512,
        max_cached_bytes=MAX_CACHED_BYTES,
        count=None,
    ):
        self.names = list(splits)
        self._splits = splits
        self._batch_size = batch_size
        self._max_cached_bytes = max_cached_bytes
        self._count = count or count_correct(network)
        self._batches = None  # [(x, y, split ids)] once read, if cached.
        self._totals = None

    def __call__(self) -> dict[str, float]:
        """`{name: accuracy}` (NaN for an empty split)."""
        if self._batches is None:
            self._batches = self._read_into_memory()
        if self._batches:
            correct = np.zeros(len(self.names), np.int64)
            for x, y, ids in self._batches:
                correct += self._count(x, y, ids, len(self.names)).numpy()
            totals = self._totals
        else:
            correct, totals = self._stream()
        return {
            name: float(c) / t if t else float("nan")
            for name, c, t in zip(self.names, correct, totals)
        }

    def _read_into_memory(self):
        """Mixed batches of every split, or False if they are too big."""
        xs, ys, ids, size = [], [], [], 0
        totals = [0] * len(self.names)
        for k, name in enumerate(self.names):
            for x, y in self._splits[name].batch(self._batch_size):
                x, y = x.numpy(), y.numpy()
                size += x.nbytes
                if size > self._max_cached_bytes:
                    return False
                xs.append(x)
                ys.append(y)
                ids.append(np.full(len(y), k, np.int32))
                totals[k] += len(y)
        self._totals = totals
        if not xs:
            return []
        x, y, ids = (np.concatenate(a) for a in (xs, ys, ids))
        return [
            (
                tf.constant(x[i : i + self._batch_size]),
                tf.constant(y[i : i + self._batch_size]),
                tf.constant(ids[i : i + self._batch_size]),
            )
            for i in range(0, len(y), self._batch_size)
        ]

    def _stream(self):
        correct = np.zeros(len(self.names), np.int64)
        totals = [0] * len(self.names)
        for k, name in enumerate(self.names):
            batches = self._splits[name].batch(self._batch_size)
            for x, y in batches.prefetch(tf.data.AUTOTUNE):
                ids = tf.fill(tf.shape(y)[:1], k)
                correct += self._count(x, y, ids, len(self.names)).numpy()
                totals[k] += int(tf.size(y))
        return correct, totals


def count_correct(network):
    """A `tf.function` (x, y, split ids, number of splits) -> correct
    predictions (argmax of the logits equal to y) per split."""

    @tf.function(reduce_retracing=True)
    def count(x, y, ids, num_splits):
        logits = network(x, training=False)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        hits = tf.cast(
            tf.equal(predicted, tf.cast(tf.reshape(y, [-1]), tf.int32)),
            tf.int32,
        )
        per_split = tf.one_hot(ids, num_splits, dtype=tf.int32)
        return tf.reduce_sum(per_split * hits[:, None], axis=0)

    return count
