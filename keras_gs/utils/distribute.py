"""Cross-replica steps of the training step (METHOD.md §5).

Keras divides every compiled loss by the number of replicas R, and the
optimizer always sums gradients across replicas. Surgery on each replica's
local gradients would therefore be a different algorithm (a mask of a sum is
not a sum of masks). `GradSurgeryModel` instead sums each domain's gradient
across replicas first (`sum_across_replicas`), so every replica holds the
same global per-domain gradients, combines them, and hands the optimizer
1/R of the result, which its own sum turns back into one copy.
"""

import tensorflow as tf
from keras import ops


def num_replicas() -> int:
    """Replicas of the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def sum_across_replicas(tensors):
    """All-reduces (SUM) a flat list of tensors in one collective."""
    context = tf.distribute.get_replica_context()
    # An empty all-reduce has no cross-device op to run (MirroredStrategy
    # fails on it).
    if not tensors or context is None or context.num_replicas_in_sync == 1:
        return list(tensors)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors))


def is_multi_worker(strategy=None) -> bool:
    """Whether `strategy` (default: the current one) spans several workers.

    A `MultiWorkerMirroredStrategy` without a cluster in `TF_CONFIG` runs
    on one worker and is treated like `MirroredStrategy`, as Keras does.
    """
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and strategy.extended._in_multi_worker_mode()


def is_chief(strategy=None) -> bool:
    """Whether this process writes the job's files (checkpoints, logs).

    True off multi-worker jobs; in one, for the task of type "chief", or for
    worker 0 when the cluster has no chief (TensorFlow's convention).
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return (
        not has_chief and resolver.task_type == "worker" and resolver.task_id == 0
    )


def all_finite(tensors):
    """A scalar bool: no tensor holds an inf or a NaN."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def apply_if(condition, optimizer, gradients, variables):
    """`optimizer.apply(gradients, variables)` only where `condition` holds.

    `condition` must be the same on every replica. A `tf.distribute`
    strategy does not allow a `cond` in a replica context whose branch calls
    `merge_call` (as `optimizer.apply` does), so under one the `cond` runs in
    the cross-replica context, as Keras's `LossScaleOptimizer` does.
    """
    if not tf.distribute.has_strategy() or (
        tf.__internal__.distribute.strategy_supports_no_merge_call()
    ):
        ops.cond(
            condition,
            lambda: optimizer.apply(gradients, variables),
            lambda: None,
        )
        return

    def in_cross_replica_context(distribution, condition, gradients):
        # Every replica computed the same condition; take the first.
        condition = distribution.experimental_local_results(condition)[0]

        def apply():
            distribution.extended.call_for_each_replica(
                optimizer.apply, args=(gradients, variables)
            )

        ops.cond(condition, apply, lambda: None)

    tf.distribute.get_replica_context().merge_call(
        in_cross_replica_context, args=(condition, gradients)
    )
