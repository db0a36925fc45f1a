"""`SurgeryStep`: the paper's step, one gradient per domain and a surgery."""

from keras_gs.model import batchnorm_statistics
from keras_gs.model import passes
from keras_gs.model import regularization
from keras_gs.model import replicas
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule


class SurgeryStep(StepRule):
    """One pass per domain (one joint pass for `erm`), combined by a surgery.

    The passes hand each domain's gradients to the model's combiner
    (`keras_gs.model.combiner`), which sums them across replicas, checks
    that they are finite and applies the surgery; the weight-regularization
    gradients and the coupled L2 are added after it, and the optimizer
    gets 1/R of the update (`replicas.apply`).

    Args:
        surgery: the `keras_gs.surgery.Surgery`.
    """

    def __init__(self, surgery):
        super().__init__()
        self.measures_conflicts = not surgery.joint_batch

    def step(self, model, x, y, sample_weight, step):
        variables = model.trainable_variables
        combiner = model._step_combiner()
        batchnorm = batchnorm_statistics.for_step(
            model.network, model.batchnorm_update
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
                state, regularizers, model._step_seed(), step
            )
        update = regularization.add_coupled_l2(
            combined.update, variables, model.coupled_l2
        )
        replicas.apply(model.optimizer, update, variables, combined.finite)
        batchnorm.apply(combined.finite)
        return StepOutcome(losses, y_pred, combined.finite, combined.measures, ())
