"""A tiny model whose conflict measures are worked out by hand.

Model used by the hand calculation: logits = shared(u) + specific(v),
two bias-free Dense layers with zero kernels, every label 0. The logits
are 0, the softmax is (1/2, 1/2), so every example has the same
dL/dlogits = d = (-1/2, 1/2), and the gradient of a kernel fed with input
u is the outer product u d^T. Hence the cosine between two examples'
gradients of a layer is the cosine of their inputs to that layer (|d|^2
cancels), a gradient's signs are sign(u_i) * sign(d_j), and a domain's
gradient is the outer product of its mean input with d.

Inputs, (u | v), two domains of two examples:

    domain 0: (1, 0 | 1, 2), (0, 1 | 3, 1)       means (.5, .5 | 2, 1.5)
    domain 1: (1, 1 | -1, -1), (2, 0 | -2, -.5)  means (1.5, .5 | -1.5, -.75)

`shared`: the mean u of both domains is positive in both components, so
every component agrees (100 %). `specific`: the mean v flips sign between
the domains, so no component agrees (0 %). `all`: 4 of 8 (50 %).
"""

import math

import keras
import numpy as np

INPUTS = np.array(
    [
        [[1, 0, 1, 2], [0, 1, 3, 1]],
        [[1, 1, -1, -1], [2, 0, -2, -0.5]],
    ],
    "float32",
)
R2 = math.sqrt(2)
# cos of u (shared), v (specific) and (u | v) (all), worked out by hand.
EXPECTED = {
    "shared": {
        "sign_agreement": 1.0,
        # cos((.5, .5), (1.5, .5)) = 1 / (sqrt(.5) sqrt(2.5))
        "domain_cosine": 1 / math.sqrt(1.25),
        # domain 0: cos((1,0),(0,1)) = 0; domain 1: cos((1,1),(2,0)) = 1/√2
        "intra_cosine": (0 + 1 / R2) / 2,
        # (1,0)·(1,1): 1/√2, (1,0)·(2,0): 1,
        # (0,1)·(1,1): 1/√2, (0,1)·(2,0): 0
        "inter_cosine": (1 / R2 + 1 + 1 / R2 + 0) / 4,
    },
    "specific": {
        "sign_agreement": 0.0,
        # cos((2, 1.5), (-1.5, -.75)) = -4.125 / (2.5 sqrt(2.8125))
        "domain_cosine": -4.125 / (2.5 * math.sqrt(2.8125)),
        # domain 0: 5 / (√5 √10); domain 1: 2.5 / (√2 √4.25)
        "intra_cosine": (5 / math.sqrt(50) + 2.5 / math.sqrt(8.5)) / 2,
        # (1,2)·(-1,-1) = -3, (1,2)·(-2,-.5) = -3, (3,1)·(-1,-1) = -4,
        # (3,1)·(-2,-.5) = -6.5
        "inter_cosine": (
            -3 / math.sqrt(5 * 2)
            - 3 / math.sqrt(5 * 4.25)
            - 4 / math.sqrt(10 * 2)
            - 6.5 / math.sqrt(10 * 4.25)
        )
        / 4,
    },
    "all": {
        "sign_agreement": 0.5,
        # (.5,.5,2,1.5)·(1.5,.5,-1.5,-.75) = -3.125; |.|^2 = 6.75, 5.3125
        "domain_cosine": -3.125 / math.sqrt(6.75 * 5.3125),
        # domain 0: 5 / √(6 · 11); domain 1: 4.5 / √(4 · 8.25)
        "intra_cosine": (5 / math.sqrt(66) + 4.5 / math.sqrt(33)) / 2,
        # dots -2, -1, -3, -6.5 over √(6·4), √(6·8.25), √(11·4),
        # √(11·8.25)
        "inter_cosine": (
            -2 / math.sqrt(24)
            - 1 / math.sqrt(49.5)
            - 3 / math.sqrt(44)
            - 6.5 / math.sqrt(90.75)
        )
        / 4,
    },
}


def two_layer_model():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(
        2, use_bias=False, kernel_initializer="zeros", name="shared"
    )(inputs[:, :2])
    specific = keras.layers.Dense(
        2, use_bias=False, kernel_initializer="zeros", name="specific"
    )(inputs[:, 2:])
    logits = keras.layers.Add(name="logits")([shared, specific])
    return keras.Model(inputs, logits, name="two_layers")
