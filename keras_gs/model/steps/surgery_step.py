"""`SurgeryStep`: the paper's step, one gradient per domain and a surgery."""

from keras_gs.model import batchnorm_statistics
from keras_gs.model import combiner as combiner_lib
from keras_gs.model import passes
from keras_gs.model import regularization
from keras_gs.model import replicas
from keras_gs.model.steps import ending
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule
from keras_gs.model.steps.base import step_seed

# The combiner's settings that are the context's fields of the same name.
_COMBINER_SETTINGS = (
    "streaming",
    "measure_conflicts",
    "conflict_every",
    "layer_monitor",
    "surgery_state",
    "warmup_steps",
)


class SurgeryStep(StepRule):
    """One pass per domain (one joint pass for `erm`), combined by a surgery.

    The passes hand each domain's gradients to the rule's combiner
    (`keras_gs.model.combiner`, built from the first trace's context and
    anew after `forget_trace`), which sums them across replicas, checks
    that they are finite and applies the surgery; the weight-regularization
    gradients are added after it, and the step ends as every rule's does
    (`ending.apply`: the coupled L2, 1/R of the update to the optimizer,
    the BatchNorm statistics).

    Args:
        surgery: the `keras_gs.surgery.Surgery`.
    """

    def __init__(self, surgery):
        super().__init__()
        self.measures_conflicts = not surgery.joint_batch
        self._combiner = None
        self._optimizer = None

    def forget_trace(self):
        self._combiner = None

    def combiner(self, context):
        """The step's combiner, made once from `context`."""
        # Its collective removes the loss scale of the optimizer of the
        # trace (a model compiled again traces anew with its new one).
        self._optimizer = context.optimizer
        if self._combiner is None:
            self._combiner = combiner_lib.make_combiner(
                context.surgery,
                lambda grads: replicas.global_gradients(grads, self._optimizer),
                # On CPU (XLA off for the whole step) XLA fuses the
                # element-wise work; where the whole step is compiled it is
                # compiled anyway.
                jit_compile=context.jit_surgery,
                **{name: getattr(context, name) for name in _COMBINER_SETTINGS},
            )
        return self._combiner

    def step(self, context, x, y, sample_weight, step):
        model = context.model
        variables = model.trainable_variables
        combiner = self.combiner(context)
        batchnorm = batchnorm_statistics.for_step(
            context.network, context.batchnorm_update
        )
        with batchnorm.recording():
            state = combiner.start(variables)

            def fold(grads):
                nonlocal state
                state = combiner.fold(state, grads, step)
                return combiner.waiting(state)

            losses, y_pred = passes.domain_passes(model, x, y, sample_weight, fold)
            regularizers = regularization.weight_gradients(model, variables)
            combined = combiner.finish(
                state, regularizers, step_seed(context.seed, step), step
            )
        ending.apply(context, combined.update, combined.finite, batchnorm=batchnorm)
        return StepOutcome(losses, y_pred, combined.finite, combined.measures, ())
