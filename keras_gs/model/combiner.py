"""The arithmetic of a training step on gradients, fused where it pays.

After the per-domain passes and the cross-replica sum, a step checks that
the gradients are finite, combines them with the surgery and, on measured
steps, computes the conflict metrics (`agreement`, `cosine`). On CPU the
surgery's element-wise work and the sign agreement are compiled together
with XLA (`jit_compile=True` on that function alone, while the
convolutions stay on oneDNN), which fuses them into a few passes over
memory and computes the sign mask once; the reductions over the whole
network stay on TensorFlow's multi-threaded kernels, faster there.
Measured on ResNet-18: see `tools/bench.py` and the README.
"""
import tensorflow as tf

from keras_gs import conflicts
from keras_gs.utils import distribute
from keras_gs.surgery.running_sums import RunningSums


# Parameters under which the step's reductions are compiled with XLA too.
SMALL_NETWORK = 1_000_000


class CombineStep:
    """Finite check, surgery and conflict metrics of one step.

    Args:
        surgery: the `keras_gs.surgery.Surgery`.
        measure_conflicts: bool, whether the step reports `agreement` and
            `cosine` at all (not for a single gradient).
        conflict_every: int, measure them on steps where
            `step % conflict_every == 0`; other steps skip the work.
        jit_compile: bool, compile the surgery (if it allows it,
            `Surgery.jit_compile`) together with `agreement` with XLA: the
            element-wise work fuses and the sign mask is computed once.
            The reductions over the whole network (finite check, the Gram
            matrix of `cosine`, the layer monitor's measures) are compiled
            only for networks under `SMALL_NETWORK` parameters: on larger
            ones TensorFlow's multi-threaded kernels reduce twice as fast
            as XLA's on CPU (ResNet-18 gradients, K = 3: cosine 28 vs 59
            ms, finite check 10 vs 17 ms).
        layer_monitor: a `LayerStatistics` (see `ConflictMonitor`) or
            None: per-layer measures on the steps it logs.
    """

    def __init__(
        self,
        surgery,
        measure_conflicts,
        conflict_every,
        jit_compile,
        layer_monitor=None,
    ):
        self.surgery = surgery
        self.measure_conflicts = measure_conflicts
        self.conflict_every = conflict_every
        self.layer_monitor = layer_monitor
        self._surgery_and_agreement = tf.function(
            self._combine,
            jit_compile=jit_compile and surgery.jit_compile,
            autograph=False,
        )
        self._jit_compile = jit_compile
        self._reductions = None

    def __call__(self, domain_grads, extra_grads, seed, step):
        """Returns `(update, finite, (agreement, cosine) or (), layers)`.

        `layers` is the dict of per-layer measures (zeros on steps the
        layer monitor does not log), or `{}` without a monitor.
        """
        update, agreement = self._surgery_and_agreement(
            domain_grads, seed, step
        )
        if self._reductions is None:
            # XLA's CPU reductions are single-threaded: slower on large
            # networks (ResNet-18), faster on small ones, where launching
            # TensorFlow's kernels one by one costs more than the work
            # (small_cnn: 3.7 ms more per step without XLA).
            size = sum(int(g.shape.num_elements()) for g in domain_grads[0])
            self._reductions = tf.function(
                self._finite_cosine_layers,
                jit_compile=self._jit_compile and size < SMALL_NETWORK,
                autograph=False,
            )
        finite, cosine, layers = self._reductions(
            domain_grads, extra_grads, step
        )
        measures = (agreement, cosine) if self.measure_conflicts else ()
        return update, finite, measures, layers

    def _measured(self, step, measure):
        """`measure()` on measured steps, 0.0 on the others (no work)."""
        if not self.measure_conflicts:
            return tf.constant(0.0)
        if self.conflict_every == 1:
            # No branch: XLA then shares the sign mask with the surgery's.
            return measure()
        return tf.cond(
            tf.equal(step % self.conflict_every, 0),
            measure,
            lambda: tf.constant(0.0),
        )

    def _combine(self, domain_grads, seed, step):
        update = self.surgery(domain_grads, seed=seed)
        agreement = self._measured(
            step, lambda: conflicts.agreement_fraction(domain_grads)
        )
        return update, agreement

    def _finite_cosine_layers(self, domain_grads, extra_grads, step):
        finite = distribute.all_finite(sum(domain_grads, []) + extra_grads)
        cosine = self._measured(
            step, lambda: conflicts.mean_pairwise_cosine(domain_grads)
        )
        layers = {}
        if self.layer_monitor is not None:
            layers = self.layer_monitor.compute(
                domain_grads, self.surgery, step
            )
        return finite, cosine, layers


class StreamingCombine:
    """The same results, folding each domain's gradient in as it comes.

    For surgeries with `streams` (sum, mean, agr-sum, and-mask): the state
    is the running sums (`RunningSums`), a finite flag and, on measured
    steps, the sum of the normalized gradients for the mean pairwise
    cosine: sum_{i<j} cos(g_i, g_j) = (|sum_k u_k|^2 - sum_k |u_k|^2) / 2
    with u_k = g_k / |g_k| (0 for a zero gradient). The memory held is a few
    gradient-sized buffers, whatever the number of domains K.

    Args: as `CombineStep`.
    """

    def __init__(self, surgery, measure_conflicts, conflict_every, jit_compile):
        self.surgery = surgery
        self.measure_conflicts = measure_conflicts
        self.conflict_every = conflict_every
        self._fold = tf.function(
            self._fold_one, jit_compile=jit_compile, autograph=False
        )
        self._finish = tf.function(
            self._finish_all, jit_compile=jit_compile, autograph=False
        )

    def start(self, variables):
        """The state before the first domain: `(sums, tensors)`."""
        with_signs = self.surgery.needs_signs or self.measure_conflicts
        sums = RunningSums.zeros(variables, with_signs)
        units = [tf.zeros(v.shape, v.dtype) for v in variables]
        return sums, (tf.constant(True), units, tf.constant(0.0))

    def fold(self, state, grads, step):
        """`state` with one more domain's (all-reduced) gradients."""
        sums, extra = state
        total, signs, extra = self._fold(
            sums.total, sums.sign_sum, extra, grads, self._measure(step)
        )
        return RunningSums(total, signs, sums.count + 1), extra

    def finish(self, state, extra_grads, step):
        """Returns `(update, finite, (agreement, cosine) or ())`."""
        sums, extra = state
        return self._finish(
            sums.total,
            sums.sign_sum,
            sums.count,
            extra,
            extra_grads,
            self._measure(step),
        )

    def _measure(self, step):
        return tf.equal(step % self.conflict_every, 0)

    def _fold_one(self, total, signs, extra, grads, measure):
        finite, units, unit_norms = extra
        finite = tf.logical_and(finite, distribute.all_finite(grads))
        if self.measure_conflicts:

            def add_unit():
                norm = tf.sqrt(
                    tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads])
                )
                inverse = tf.math.divide_no_nan(1.0, norm)
                return [u + g * inverse for u, g in zip(units, grads)], (
                    unit_norms + tf.cast(norm > 0, tf.float32)
                )

            units, unit_norms = tf.cond(
                measure, add_unit, lambda: (units, unit_norms)
            )
        sums = RunningSums(total, signs, 0).add(grads)
        return sums.total, sums.sign_sum, (finite, units, unit_norms)

    def _finish_all(self, total, signs, count, extra, extra_grads, measure):
        finite, units, unit_norms = extra
        finite = tf.logical_and(finite, distribute.all_finite(extra_grads))
        sums = RunningSums(total, signs, count)
        update = self.surgery.from_sums(sums)
        if not self.measure_conflicts:
            return update, finite, ()

        def measured():
            masks = sums.agreement_masks()
            agreeing = tf.add_n(
                [tf.reduce_sum(tf.cast(m, tf.float32)) for m in masks]
            )
            size = sum(int(m.shape.num_elements()) for m in masks)
            squared = tf.add_n([tf.reduce_sum(tf.square(u)) for u in units])
            pairs = count * (count - 1) / 2
            cosine = (squared - unit_norms) / 2 / pairs
            return agreeing / float(max(size, 1)), cosine

        return update, finite, tf.cond(
            measure, measured, lambda: (tf.constant(0.0), tf.constant(0.0))
        )
