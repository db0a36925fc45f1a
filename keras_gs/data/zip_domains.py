"""`zip_domains`: one training stream drawing every domain into each step.

Two kinds of stream, with the same layout:

- From `TrainingDomain`s (what `keras_gs.data.load` returns as
  `training_domains`): each domain's examples are read once into memory
  and every batch is drawn by position, statelessly: the examples of step
  t are a function of (seed, domain, t) alone. An interrupted run that
  starts the stream again at `start_step` sees exactly the batches the
  uninterrupted run saw, with nothing to checkpoint. Each domain is
  visited in a new random order every epoch (one permutation per pass,
  `tf.random.experimental.stateless_shuffle`), as a full shuffle would.
- From plain `tf.data.Dataset`s: each domain is shuffled with a buffer and
  repeated, as tf.data does; `start_step` skips that many batches (exact
  for a seeded stream, at the cost of producing the skipped batches).
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

# Domains whose examples take at most this many bytes together are drawn
# by position from memory; larger ones stream with a shuffle buffer.
MAX_IN_MEMORY_BYTES = 4 * 2**30


@dataclasses.dataclass(frozen=True)
class TrainingDomain:
    """A source domain's training examples and what each draw goes through.

    Args:
        examples: finite, unbatched `tf.data.Dataset` of `(x, y)` that
            yields the same examples in the same order every time it is
            read (decoded and resized; no random operation).
        transform: callable or None, applied to each batch of drawn
            images (`x` of shape (batch, ...)): the augmentation, then the
            normalization. Random layers in it draw anew every batch.
    """

    examples: tf.data.Dataset
    transform: Callable | None = None


def zip_domains(
    datasets,
    batch_size: int,
    shuffle_buffer: int = 1024,
    seed: int | None = None,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Draws `batch_size` examples from every domain into each batch.

    Each domain is drawn on its own and repeated forever, so domains of
    different sizes are fine (an epoch is then a number of steps: pass
    `steps_per_epoch` to `fit`). Element i of the output is `(x, y)` with
    `x` of shape `(batch_size, num_domains, ...)`: row i holds the i-th
    example of every domain, the layout `GradSurgeryModel` trains on. The
    batch axis comes first so that `tf.distribute` gives every replica
    `batch_size / R` examples of every domain.

    Args:
        datasets: list, one entry per domain: `TrainingDomain`s (drawn by
            position from memory when they fit, see the module's doc), or
            unbatched `tf.data.Dataset`s of `(x, y)`; all with the same
            element shapes and dtypes.
        batch_size: int, examples drawn from each domain per step.
        shuffle_buffer: int, the shuffle buffer of each plain dataset; 0 or
            1 keep the order. Defaults to `1024`.
        seed: int or None, seed of the draws (domain k's stream from `seed`
            and k). Defaults to `None` (a random one).
        start_step: int, the first batch of the stream: a run resumed at
            step s passes s and gets the batches it would have drawn.
            Defaults to `0`.

    Returns:
        An infinite, prefetched `tf.data.Dataset` of `(x, y)`.

    Example:

    ```python
    splits = keras_gs.data.load("rotated_digits", test_domains="0")
    train = keras_gs.data.zip_domains(splits.training_domains, 32, seed=0)
    model.fit(train, steps_per_epoch=100)
    # Resumed at step 300: the same batches from there on.
    train = keras_gs.data.zip_domains(
        splits.training_domains, 32, seed=0, start_step=300
    )
    ```
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("zip_domains needs at least one domain dataset.")
    if int(batch_size) < 1:
        raise ValueError(
            f"zip_domains: `batch_size` must be >= 1. Received: "
            f"batch_size={batch_size}"
        )
    if int(start_step) < 0:
        raise ValueError(
            f"zip_domains: `start_step` must be >= 0. Received: "
            f"start_step={start_step}"
        )
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    examples = [
        d.examples if isinstance(d, TrainingDomain) else d for d in datasets
    ]
    first_spec = examples[0].element_spec
    for k, dataset in enumerate(examples):
        _check_domain(dataset, k, first_spec)
    by_position = all(isinstance(d, TrainingDomain) for d in datasets)
    if by_position:
        pools = _read_into_memory(examples)
        if pools is not None:
            return _drawn_by_position(
                pools, datasets, int(batch_size), int(seed), int(start_step)
            )
    return _shuffled_streams(
        datasets, examples, int(batch_size), shuffle_buffer, seed, start_step
    )


def _read_into_memory(examples):
    """Each domain's `(x, y)` as numpy arrays, or None if too large."""
    pools, size = [], 0
    for dataset in examples:
        xs, ys = [], []
        for x, y in dataset.batch(1024):
            xs.append(x.numpy())
            ys.append(y.numpy())
            size += xs[-1].nbytes + ys[-1].nbytes
            if size > MAX_IN_MEMORY_BYTES:
                return None
        pools.append((np.concatenate(xs), np.concatenate(ys)))
    return pools


def _drawn_by_position(pools, domains, batch_size, seed, start_step):
    with tf.init_scope(), tf.device("/cpu:0"):
        # Variables, not constants: the graph of a dataset holding a few GB
        # of constants would exceed protobuf's 2 GB limit.
        tensors = [
            (
                tf.Variable(x, trainable=False, name=f"domain_{k}_x"),
                tf.Variable(y, trainable=False, name=f"domain_{k}_y"),
            )
            for k, (x, y) in enumerate(pools)
        ]
    sizes = [len(y) for _, y in pools]
    transforms = [d.transform for d in domains]

    def batch_of_step(step):
        xs, ys = [], []
        for k, ((x, y), size) in enumerate(zip(tensors, sizes)):
            index = _indices(step, k, size, batch_size, seed)
            batch = tf.gather(x, index)
            if transforms[k] is not None:
                batch = transforms[k](batch)
            xs.append(batch)
            ys.append(tf.gather(y, index))
        return tf.stack(xs, axis=1), tf.stack(ys, axis=1)

    steps = tf.data.Dataset.counter(start=start_step)
    return steps.map(batch_of_step).prefetch(tf.data.AUTOTUNE)


def _indices(step, domain, size, batch_size, seed):
    """The example indices of domain `domain` at `step`: positions
    step*B .. step*B+B-1 of an endless sequence of permutations of
    range(size), one per pass, each from (seed, domain, pass)."""
    positions = step * batch_size + tf.range(batch_size, dtype=tf.int64)
    passes = positions // size
    first = passes[0]
    domain_seed = tf.constant([seed, domain], tf.int64)

    def permutation(one_pass):
        return tf.random.experimental.stateless_shuffle(
            tf.range(size, dtype=tf.int64),
            seed=tf.random.experimental.stateless_fold_in(
                domain_seed, one_pass
            ),
        )

    orders = tf.map_fn(
        permutation,
        tf.range(first, passes[-1] + 1),
        fn_output_signature=tf.int64,
    )
    return tf.gather_nd(
        orders, tf.stack([passes - first, positions % size], axis=1)
    )


def _shuffled_streams(
    domains, examples, batch_size, shuffle_buffer, seed, start_step
):
    streams = []
    for k, (domain, dataset) in enumerate(zip(domains, examples)):
        if shuffle_buffer and shuffle_buffer > 1:
            dataset = dataset.shuffle(
                shuffle_buffer, seed=seed + k, reshuffle_each_iteration=True
            )
        dataset = dataset.repeat().batch(batch_size, drop_remainder=True)
        if isinstance(domain, TrainingDomain) and domain.transform is not None:
            dataset = dataset.map(
                lambda x, y, f=domain.transform: (f(x), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        streams.append(dataset)
    zipped = tf.data.Dataset.zip(tuple(streams))
    zipped = zipped.map(_stack_domains, num_parallel_calls=tf.data.AUTOTUNE)
    if start_step:
        zipped = zipped.skip(start_step)
    return zipped.prefetch(tf.data.AUTOTUNE)


def _stack_domains(*batches):
    """K batches of (x, y) -> (x, y) with the domain axis at position 1."""
    return tuple(
        tf.nest.map_structure(lambda *parts: tf.stack(parts, axis=1), *field)
        for field in zip(*batches)
    )


def _check_domain(dataset, k, first_spec):
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(
            f"zip_domains: domain {k} must yield (x, y) pairs. Received "
            f"elements of spec {spec}."
        )
    if not _compatible(spec, first_spec):
        raise ValueError(
            f"zip_domains: domain {k} yields elements of spec {spec}, but "
            f"domain 0 yields {first_spec}. Every domain must have the same "
            "shapes and dtypes (resize images to one size)."
        )
    cardinality = int(dataset.cardinality())
    if cardinality == 0 or (
        cardinality == tf.data.UNKNOWN_CARDINALITY
        and not any(True for _ in dataset.take(1))
    ):
        raise ValueError(f"zip_domains: domain {k} is empty (no examples).")


def _compatible(spec, other):
    try:
        tf.nest.assert_same_structure(spec, other)
    except (ValueError, TypeError):
        return False
    return all(
        a.dtype == b.dtype and a.shape.is_compatible_with(b.shape)
        for a, b in zip(tf.nest.flatten(spec), tf.nest.flatten(other))
    )
