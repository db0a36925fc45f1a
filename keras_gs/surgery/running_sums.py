"""Running sums over domain gradients, for surgeries that can stream.

Sum, Mean, Agr-Sum and AND-mask depend on the K domain gradients only
through two sums per component: the total sum_k g_k and the sign sum
sum_k sign(g_k). Folding each domain's gradient into them as soon as it is
computed keeps the memory the surgery adds independent of K (two gradient-
sized buffers instead of K).
"""

import tensorflow as tf


class RunningSums:
    """Per-variable `total` (sum of gradients) and `sign_sum`, and K so far.

    Args:
        total: list of tensors, one per variable.
        sign_sum: list of tensors (same dtype as `total`: the counts are
            small integers, exact in any float type), or None when not kept.
        count: int, the number of domain gradients folded in.
    """

    def __init__(self, total, sign_sum, count):
        self.total = list(total)
        self.sign_sum = None if sign_sum is None else list(sign_sum)
        self.count = count

    @classmethod
    def zeros(cls, variables, with_signs):
        total = [tf.zeros(v.shape, v.dtype) for v in variables]
        signs = [tf.zeros(v.shape, v.dtype) for v in variables]
        return cls(total, signs if with_signs else None, 0)

    @classmethod
    def of(cls, domain_grads, with_signs=True):
        """The sums of a full list of domain gradients at once."""
        per_variable = list(zip(*domain_grads))
        total = [tf.add_n(list(grads)) for grads in per_variable]
        signs = None
        if with_signs:
            signs = [
                tf.add_n([tf.sign(g) for g in grads]) for grads in per_variable
            ]
        return cls(total, signs, len(domain_grads))

    def add(self, grads):
        """These sums plus one more domain's gradients (a new object)."""
        total = [t + tf.cast(g, t.dtype) for t, g in zip(self.total, grads)]
        signs = None
        if self.sign_sum is not None:
            signs = [
                s + tf.sign(tf.cast(g, s.dtype))
                for s, g in zip(self.sign_sum, grads)
            ]
        return RunningSums(total, signs, self.count + 1)

    def agreement_masks(self):
        """Per variable: where all `count` domains agree on the sign."""
        return [
            tf.equal(tf.abs(s), tf.cast(self.count, s.dtype))
            for s in self.sign_sum
        ]

    def tensors(self):
        """Every tensor held (for control dependencies)."""
        return self.total + (self.sign_sum or [])
