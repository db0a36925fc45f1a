"""`zip_domains`: one training stream drawing every domain into each step."""

import tensorflow as tf


def zip_domains(
    datasets,
    batch_size: int,
    shuffle_buffer: int = 1024,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Draws `batch_size` examples from every domain into each batch.

    Each domain is shuffled and repeated forever on its own, so domains of
    different sizes are fine (an epoch is then a number of steps: pass
    `steps_per_epoch` to `fit`). Element i of the output is
    `(x, y)` with `x` of shape `(batch_size, num_domains, ...)`: row i holds
    the i-th example of every domain, the layout `GradSurgeryModel` trains
    on. The batch axis comes first so that `tf.distribute` gives every
    replica `batch_size / R` examples of every domain.

    Args:
        datasets: list of unbatched `tf.data.Dataset`s of `(x, y)`, one per
            domain, all with the same element shapes and dtypes.
        batch_size: int, examples drawn from each domain per step.
        shuffle_buffer: int, the shuffle buffer of each domain; 0 or 1 keep
            the order. Defaults to `1024`.
        seed: int or None, seed of the shuffles (domain k uses `seed + k`).
            Defaults to `None`.

    Returns:
        An infinite, prefetched `tf.data.Dataset` of `(x, y)`.

    Example:

    ```python
    train = keras_gs.data.zip_domains([photos, sketches, cartoons], 32)
    model.fit(train, steps_per_epoch=100)
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
    first_spec = datasets[0].element_spec
    streams = []
    for k, dataset in enumerate(datasets):
        _check_domain(dataset, k, first_spec)
        if shuffle_buffer and shuffle_buffer > 1:
            dataset = dataset.shuffle(
                shuffle_buffer,
                seed=None if seed is None else seed + k,
                reshuffle_each_iteration=True,
            )
        streams.append(dataset.repeat().batch(batch_size, drop_remainder=True))
    zipped = tf.data.Dataset.zip(tuple(streams))
    zipped = zipped.map(_stack_domains, num_parallel_calls=tf.data.AUTOTUNE)
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
