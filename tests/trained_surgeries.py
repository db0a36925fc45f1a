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
EVERY_BUT_AGGREGATORS = [
    n
    for n in keras_gs.surgery.names(step_method=False)
    if n not in AGGREGATORS
]
