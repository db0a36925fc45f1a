"""`IGAStep`: the mean loss plus the spread of the domain gradients."""

import tensorflow as tf

from keras_gs.model import batchnorm_statistics
from keras_gs.model import domain_axis
from keras_gs.model import passes
from keras_gs.model import regularization
from keras_gs.model import replicas
from keras_gs.model.steps import ending
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule


class IGAStep(StepRule):
    """IGA's step (`keras_gs.surgery.IGA`), as DomainBed's `IGA.update`.

    One pass per domain at the same weights, each under its own tape,
    all inside an outer tape that records the gradients' computation. With
    G_k the global gradient of domain k, G the mean and D_k = G_k - G
    (constants, as DomainBed's mean gradient, taken without a graph), the
    objective's gradient is G + penalty * sum_k 2 H_k D_k. The Hessian-
    vector products come from one outer gradient of
    sum_k 2 <g_k, D_k>, with g_k the replica's own gradients: summed across
    replicas, they are the global ones (Keras divided each replica's loss
    by R, so its Hessian is its share of the global one). The weight
    regularization gradients and the coupled L2 are added after, as for
    the surgeries; BatchNorm statistics are updated as for the surgeries
    (`batchnorm_update`).
    """

    logs = ("penalty",)

    def __init__(self, method):
        super().__init__()
        self.penalty = method.penalty

    def step(self, context, x, y, sample_weight, step):
        model = context.model
        variables = model.trainable_variables
        optimizer = context.optimizer
        num_domains = context.num_domains
        batchnorm = batchnorm_statistics.for_step(
            context.network, context.batchnorm_update
        )
        with batchnorm.recording():
            with tf.GradientTape() as tape:
                passes_ = [
                    passes.forward_backward(
                        model,
                        *[domain_axis.domain(t, k) for t in (x, y, sample_weight)],
                        variables,
                    )
                    for k in range(num_domains)
                ]
                with tape.stop_recording():
                    domain_grads = _split(
                        replicas.global_gradients(
                            [tf.stop_gradient(g) for p in passes_ for g in p.grads],
                            optimizer,
                        ),
                        num_domains,
                    )
                    mean = [tf.add_n(gs) / num_domains for gs in zip(*domain_grads)]
                    spreads = [
                        [g - m for g, m in zip(grads, mean)]
                        for grads in domain_grads
                    ]
                    penalty = tf.add_n(
                        [tf.reduce_sum(tf.square(d)) for ds in spreads for d in ds]
                    )
                # Local, loss-scaled gradients against global constants.
                surrogate = 2.0 * tf.add_n(
                    [
                        tf.reduce_sum(g * tf.cast(d, g.dtype))
                        for p, ds in zip(passes_, spreads)
                        for g, d in zip(p.grads, ds)
                    ]
                )
            products = regularization.zeros_for_none(
                tape.gradient(surrogate, variables), variables
            )
            regularizers = regularization.weight_gradients(model, variables)
        products, regularizers, applied = ending.global_sum(
            products, regularizers, optimizer, checked=sum(domain_grads, [])
        )
        update = [m + self.penalty * p for m, p in zip(mean, products)]
        ending.apply(context, update, applied, regularizers, batchnorm)
        return StepOutcome(
            [p.loss for p in passes_],
            [p.pred for p in passes_],
            applied,
            (),
            (penalty,),
        )


def _split(flat, num_domains):
    size = len(flat) // num_domains
    return [flat[k * size : (k + 1) * size] for k in range(num_domains)]
