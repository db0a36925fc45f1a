"""`ElementwiseRule`: the family of rules computed component by component.

Agr-Sum, Agr-Rand, AND-mask, SAND-mask and GradDrop decide, for each
scalar of the network, from the K domain gradients' values at that scalar
(and, for some, a few whole-network or per-tensor scalars). They read the
full gradients, not a Gram matrix.
"""

from keras_gs.surgery.base import Surgery
from keras_gs.surgery.running_sums import RunningSums


class ElementwiseRule(Surgery):
    """A rule computed component by component of the gradients.

    Subclasses override `combine(domain_grads, seed)` and, when the rule
    zeroes or replaces components, `replaced_masks(domain_grads)`.

    On CPU `GradSurgeryModel` compiles the rule with XLA, which fuses its
    passes over memory, unless it draws random numbers (`random`): a
    gradient-sized draw is 3x slower with XLA's CPU generator.
    """

    @property
    def jit_compile(self):
        return not self.random


class SignSumRule(ElementwiseRule):
    """An element-wise rule of two running sums: sum_k g_k and
    sum_k sign(g_k) (Agr-Sum, AND-mask).

    It streams: `GradSurgeryModel(streaming=True)` folds each domain's
    gradient into the sums as it comes. Subclasses override `from_sums`.
    """

    streams = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads))
