"""Which surgeries the tests that train a model go through.

Training a model costs 1 to 8 s per surgery on the project's CPU (tracing
the step, twice under two replicas), and the suite has a time budget. The
tests that train "every surgery" (fit/save/load, XLA fusion, two replicas,
two workers) take `EVERY_BUT_AGGREGATORS`; the multi-task aggregators,
which share one path through the step (Gram matrix -> weights -> weighted
sum, with their state), are trained once each, on two replicas and
through a `.keras` round trip, by `tests/model/test_aggregators_in_training.py`.
"""

import keras_gs

AGGREGATORS = (
    "mgda",
    "cagrad",
    "gradvac",
    "imtl-g",
    "upgrad",
    "dualproj",
    "nash-mtl",
    "aligned-mtl",
    "graddrop",
    "config",
)

# Fish, Fishr and IGA change the step itself and cannot be called on
# gradients: tests/model/test_gradient_matching_fit.py trains them.
# One name per rule (an alias trains the same class).
EVERY_BUT_AGGREGATORS = [
    cls.name
    for cls in dict.fromkeys(keras_gs.surgery.registered().values())
    if not cls.step_method and cls.name not in AGGREGATORS
]

# Two workers cost 10 to 15 s per rule here: one rule per path through the
# step (the joint batch; element-wise, with a random fill; a Gram rule with
# random orders; a Gram weighting with state).
ACROSS_WORKERS = ["erm", "agr-rand", "pcgrad", "gradvac"]
