"""From a step's domain gradients to its update: where gradients combine.

`make_combiner` returns the step's combiner. Its interface has three
calls, the same for every surgery: `start`, then `fold` once per domain
pass with that pass's gradients, then `finish`, which all-reduces what is
left, checks that the gradients are finite, applies the surgery (the line
where domain gradients become one update: `self.surgery(...)` /
`self.surgery.from_sums(...)`), adds the weight-regularization gradients,
and on measured steps computes the conflict metrics.

- `Gathered` keeps each domain's gradients until `finish`, sums them all
  across replicas in one collective, and calls the surgery on all of them.
  For a Gram weighting (`keras_gs.surgery.GramWeighting`: PCGrad, MGDA,
  UPGrad...) it computes the K x K Gram matrix once, with the step's
  other reductions, and hands the same matrix to the rule (whose weights
  it solves for in the step's graph, in TensorFlow ops, with the rule's
  state from `SurgeryState`) and to the `cosine` metric; the weighted sum
  of the gradients is the rule's element-wise work.
- `Streaming` (for surgeries with `streams`: sum, mean, agr-sum, and-mask)
  sums each domain's gradients across replicas as their pass ends and
  folds them into running sums, so one domain's gradients are held at a
  time: the memory the surgery adds does not grow with K.

On CPU the surgery's element-wise work and the sign agreement are compiled
together with XLA (`jit_compile=True` on that function alone, while the
convolutions stay on oneDNN), which fuses them into a few passes over
memory; the reductions over the whole network stay on TensorFlow's
multi-threaded kernels, faster there. Measured on ResNet-18: see
`tools/bench.py` and the README.
"""

import collections

import tensorflow as tf

from keras_gs import conflicts
from keras_gs.surgery import FixedWeighting
from keras_gs.surgery import GramWeighting
from keras_gs.surgery import Mean
from keras_gs.surgery import SignSumRule
from keras_gs.surgery.gram_weighting import group_grams
from keras_gs.surgery.gram_weighting import weighted_sum
from keras_gs.surgery.running_sums import RunningSums
from keras_gs.utils import distribute

# The warm-up steps' rule: Deep-All's gradient from the domain passes.
_WARMUP = Mean()

# Parameters under which the step's reductions are compiled with XLA too.
SMALL_NETWORK = 1_000_000

Combined = collections.namedtuple("Combined", ["update", "finite", "measures"])
Combined.__doc__ = """What `finish` returns.

Fields:
    update: list of tensors, one per variable: the global update (the
        surgery's result plus the weight-regularization gradients).
    finite: scalar bool, whether every gradient was finite (else the
        step is skipped).
    measures: `(agreement, cosine)` (0.0 on unmeasured steps), or `()` when
        the step measures no conflicts.
"""


def make_combiner(
    surgery,
    to_global,
    *,
    streaming,
    measure_conflicts,
    conflict_every,
    jit_compile,
    layer_monitor=None,
    surgery_state=None,
    warmup_steps=0,
):
    """The combiner of a step.

    Args:
        surgery: the `keras_gs.surgery.Surgery`.
        to_global: callable, local gradients -> global gradients (summed
            across replicas in one collective, loss scale removed).
        streaming: bool, fold each domain into running sums as it comes
            (`Streaming`) instead of gathering them (`Gathered`).
        measure_conflicts: bool, whether the step reports `agreement` and
            `cosine` at all (not for a single gradient).
        conflict_every: int, measure them on steps where `step %
            conflict_every == 0`; other steps skip the work.
        jit_compile: bool, compile the surgery (if it allows it,
            `Surgery.jit_compile`) with `agreement` with XLA. The
            reductions over the whole network (finite check, the Gram
            matrix of `cosine`, the layer monitor's measures) are compiled
            only for networks under `SMALL_NETWORK` parameters: on larger
            ones TensorFlow's multi-threaded kernels reduce twice as fast
            as XLA's on CPU (ResNet-18 gradients, K = 3: cosine 28 vs 59
            ms, finite check 10 vs 17 ms).
        layer_monitor: a `LayerStatistics` or None: per-layer measures on
            the steps it logs (`Gathered` only).
        surgery_state: the model's `SurgeryState` (parameter groups and
            state variables of a Gram weighting), or None for the whole
            network and no state.
        warmup_steps: int, steps (counted from the optimizer's step 0)
            whose update is the mean of the domain gradients, Deep-All's
            gradient (METHOD.md §2), instead of the surgery's; the rule's
            state is not written on them. Defaults to `0`.
    """
    options = dict(
        surgery=surgery,
        to_global=to_global,
        measure_conflicts=measure_conflicts,
        conflict_every=conflict_every,
        jit_compile=jit_compile,
        warmup_steps=warmup_steps,
    )
    if streaming:
        if layer_monitor is not None:
            raise ValueError(
                "ConflictMonitor needs every domain's gradient at once; "
                "this model streams them. Received: streaming=True. Use "
                "streaming=False to monitor conflicts per layer."
            )
        return Streaming(**options)
    return Gathered(
        layer_monitor=layer_monitor, surgery_state=surgery_state, **options
    )


class Combiner:
    """The interface: `start`, `fold` per domain, `waiting`, `finish`."""

    def __init__(
        self,
        surgery,
        to_global,
        measure_conflicts,
        conflict_every,
        jit_compile,
        warmup_steps=0,
    ):
        self.surgery = surgery
        self.to_global = to_global
        self.measure_conflicts = measure_conflicts
        self.conflict_every = conflict_every
        self.jit_compile = jit_compile
        self.warmup_steps = int(warmup_steps)

    def start(self, variables):
        """The state before the first domain."""
        raise NotImplementedError

    def fold(self, state, grads, step):
        """`state` with one more domain's local gradients."""
        raise NotImplementedError

    def waiting(self, state):
        """Tensors the next domain's pass must wait for."""
        return []

    def finish(self, state, extra_grads, seed, step) -> Combined:
        """The update from all domains and the local weight-regularization
        gradients `extra_grads` (added after the surgery, never masked)."""
        raise NotImplementedError

    def warming_up(self, step):
        """Whether `step` is a warm-up step (the same on every replica:
        a function of the optimizer's step alone)."""
        return tf.less(tf.cast(step, tf.int64), self.warmup_steps)

    def measured(self, step, measure):
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


class Gathered(Combiner):
    """Every domain's gradients at once: one collective, any surgery."""

    def __init__(self, layer_monitor=None, surgery_state=None, **options):
        super().__init__(**options)
        self.layer_monitor = layer_monitor
        self.state = surgery_state
        # Sum and mean weigh by K only: no Gram matrix.
        self.reads_gram = isinstance(
            self.surgery, GramWeighting
        ) and not isinstance(self.surgery, FixedWeighting)
        self.groups = surgery_state.groups if surgery_state else None
        self._surgery_and_agreement = tf.function(
            self._combine,
            jit_compile=self.jit_compile and self.surgery.jit_compile,
            autograph=False,
        )
        # The K-dimensional problem: in the step's graph (compiled with it
        # where the whole step is, as on GPU), not fused on its own.
        self._weights = tf.function(self._weights_of, autograph=False)
        self._weighted_sum_and_agreement = tf.function(
            self._weighted,
            jit_compile=self.jit_compile,
            autograph=False,
        )
        self._reductions = None

    def start(self, variables):
        return []

    def fold(self, state, grads, step):
        return state + [grads]

    def finish(self, state, extra_grads, seed, step):
        num_variables = len(state[0])
        flat = self.to_global(sum(state, []) + list(extra_grads))
        domain_grads = [
            flat[k * num_variables : (k + 1) * num_variables]
            for k in range(len(state))
        ]
        extra_grads = flat[len(state) * num_variables :]
        if self.reads_gram:
            finite, grams, cosine, layers = self._finite_cosine_layers(
                domain_grads, extra_grads, step
            )
            weights, finite, new_state = self._weights(grams, seed, finite)
            if self.warmup_steps:
                # Weights 1/K: the mean of the domain gradients.
                warm = self.warming_up(step)
                weights = tf.where(
                    warm, tf.ones_like(weights) / len(state), weights
                )
                rule_applied = finite & tf.logical_not(warm)
            else:
                rule_applied = finite
            update, agreement = self._weighted_sum_and_agreement(
                domain_grads, weights, step
            )
            if self.state is not None:
                self.state.write(new_state, rule_applied)
        else:
            update, agreement = self._surgery_and_agreement(
                domain_grads, seed, step
            )
            finite, _, cosine, layers = self._finite_cosine_layers(
                domain_grads, extra_grads, step
            )
        if self.layer_monitor is not None:
            self.layer_monitor.record(layers, step)
        return Combined(
            _added(update, extra_grads),
            finite,
            (agreement, cosine) if self.measure_conflicts else (),
        )

    def _combine(self, domain_grads, seed, step):
        if self.warmup_steps:
            update = tf.cond(
                self.warming_up(step),
                lambda: _WARMUP(domain_grads),
                lambda: self.surgery(domain_grads, seed=seed),
            )
        else:
            update = self.surgery(domain_grads, seed=seed)
        return update, self._agreement(domain_grads, step)

    def _agreement(self, domain_grads, step):
        return self.measured(
            step, lambda: conflicts.agreement_fraction(domain_grads)
        )

    def _weights_of(self, grams, seed, finite):
        """The rule's (B, K) weights and new state; `finite` and-ed with
        their finiteness (a failed solve skips the step)."""
        state = self.state.read() if self.state is not None else {}
        weights, new_state = self.surgery.group_weights(grams, seed, state)
        return weights, finite & distribute.all_finite([weights]), new_state

    def _weighted(self, domain_grads, weights, step):
        update = weighted_sum(domain_grads, weights, self.groups)
        return update, self._agreement(domain_grads, step)

    def _finite_cosine_layers(self, domain_grads, extra_grads, step):
        if self._reductions is None:
            # XLA's CPU reductions are single-threaded: slower on large
            # networks (ResNet-18), faster on small ones, where launching
            # TensorFlow's kernels one by one costs more than the work
            # (small_cnn: 3.7 ms more per step without XLA).
            size = sum(int(g.shape.num_elements()) for g in domain_grads[0])
            self._reductions = tf.function(
                self._reductions_of,
                jit_compile=self.jit_compile and size < SMALL_NETWORK,
                autograph=False,
            )
        return self._reductions(domain_grads, extra_grads, step)

    def _reductions_of(self, domain_grads, extra_grads, step):
        finite = distribute.all_finite(sum(domain_grads, []) + extra_grads)
        grams = ()
        if self.reads_gram:
            # Once per step, for the rule and the cosine. Dot products that
            # overflow skip the step, as non-finite gradients do; the rule
            # then sees zeros, which every rule maps to finite weights.
            grams = group_grams(domain_grads, self.groups)
            finite = finite & distribute.all_finite([grams])
            grams = tf.where(finite, grams, tf.zeros_like(grams))
            gram = tf.reduce_sum(grams, axis=0) if self.groups else grams[0]
            cosine = self.measured(step, lambda: _cosine(gram))
        else:
            cosine = self.measured(
                step, lambda: conflicts.mean_pairwise_cosine(domain_grads)
            )
        layers = {}
        if self.layer_monitor is not None:
            layers = self.layer_monitor.compute(
                domain_grads, self.surgery, step
            )
        return finite, grams, cosine, layers


class Streaming(Combiner):
    """The same results, folding each domain's gradient in as it comes.

    The state is the running sums (`RunningSums`), a finite flag and, on
    measured steps, the sum of the normalized gradients for the mean
    pairwise cosine: sum_{i<j} cos(g_i, g_j) = (|sum_k u_k|^2 - sum_k
    |u_k|^2) / 2 with u_k = g_k / |g_k| (0 for a zero gradient). The memory
    held is a few gradient-sized buffers, whatever the number of domains K.
    """

    def __init__(self, **options):
        super().__init__(**options)
        if not self.surgery.streams:
            raise ValueError(
                f"Surgery {self.surgery.name!r} cannot stream: it needs "
                "every domain gradient at once."
            )
        self._fold = tf.function(
            self._fold_one, jit_compile=self.jit_compile, autograph=False
        )
        self._finish = tf.function(
            self._finish_all, jit_compile=self.jit_compile, autograph=False
        )

    def start(self, variables):
        with_signs = (
            isinstance(self.surgery, SignSumRule) or self.measure_conflicts
        )
        sums = RunningSums.zeros(variables, with_signs)
        units = [tf.zeros(v.shape, v.dtype) for v in variables]
        return sums, (tf.constant(True), units, tf.constant(0.0))

    def fold(self, state, grads, step):
        sums, extra = state
        total, signs, extra = self._fold(
            sums.total,
            sums.sign_sum,
            extra,
            self.to_global(grads),
            self._measure(step),
        )
        return RunningSums(total, signs, sums.count + 1), extra

    def waiting(self, state):
        return state[0].tensors()

    def finish(self, state, extra_grads, seed, step):
        sums, extra = state
        extra_grads = self.to_global(extra_grads)
        update, finite, measures = self._finish(
            sums.total,
            sums.sign_sum,
            sums.count,
            extra,
            extra_grads,
            self._measure(step),
            self.warming_up(step),
        )
        return Combined(_added(update, extra_grads), finite, measures)

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

    def _finish_all(
        self, total, signs, count, extra, extra_grads, measure, warm
    ):
        finite, units, unit_norms = extra
        finite = tf.logical_and(finite, distribute.all_finite(extra_grads))
        sums = RunningSums(total, signs, count)
        if self.warmup_steps:
            update = tf.cond(
                warm,
                lambda: _WARMUP.from_sums(sums),
                lambda: self.surgery.from_sums(sums),
            )
        else:
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


def _cosine(gram):
    """`conflicts.mean_pairwise_cosine` from the Gram matrix."""
    if gram.shape[0] < 2:
        return tf.constant(1.0)
    return conflicts.cosine_from_gram(gram)


def _added(update, extra_grads):
    if not extra_grads:
        return update
    return [u + r for u, r in zip(update, extra_grads)]
