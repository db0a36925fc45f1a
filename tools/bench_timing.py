"""The timed things of tools/bench.py: models stepped one compiled train
step at a time, and a surgery's combine alone beside a plain copy.

Library-style: everything takes a `Setup` and explicit arguments; only
bench.py reads flags. Each `time_*` call returns seconds and waits for the
work to finish by reading a value the work returned.
"""

import collections
import time

import numpy as np

Setup = collections.namedtuple(
    "Setup",
    [
        "backbone",
        "image_size",
        "channels",
        "classes",
        "domains",
        "batch_size",
        "jit_surgery",
    ],
)
Setup.__doc__ = "The network, the batch and GradSurgeryModel's jit setting."

PLAIN = "plain keras"
# conflict_every has no "off"; a period no run reaches measures on step 0
# only (a warm-up step), and on the timed steps costs one tf.cond.
NEVER = 2**31 - 1


def build(setup, name, conflict_every=1, streaming=False):
    """A compiled model: plain Keras (`PLAIN`) or a GradSurgeryModel."""
    import keras

    import keras_gs

    keras.utils.set_random_seed(0)
    shape = (setup.image_size, setup.image_size, setup.channels)
    network = keras_gs.backbones.get(setup.backbone, shape, setup.classes)
    if name == PLAIN:
        model = network
    else:
        model = keras_gs.GradSurgeryModel(
            network,
            surgery=name,
            seed=0,
            conflict_every=conflict_every,
            jit_surgery=setup.jit_surgery,
            streaming=streaming,
        )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def batches(setup, plain):
    """One fixed batch, repeated: (batch, K, ...) or, for plain Keras, the
    K domains concatenated into one (batch * K, ...) batch."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    size, k, b = setup.image_size, setup.domains, setup.batch_size
    x = rng.normal(size=(b, k, size, size, setup.channels)).astype("float32")
    y = rng.integers(0, setup.classes, size=(b, k)).astype("int32")
    if plain:
        x, y = x.reshape((b * k,) + x.shape[2:]), y.reshape(-1)
    return tf.data.Dataset.from_tensors((x, y)).repeat()


class Stepper:
    """A model whose compiled train function is called one step at a time.

    `fit` runs the warm-up steps (tracing, building the optimizer and the
    step's state) and leaves `model.train_function` compiled; `step` then
    calls it on the dataset's iterator, without fit's callbacks and
    progress machinery, so that the time is the step's.
    """

    def __init__(self, setup, name, conflict_every=1, streaming=False):
        self.model = build(setup, name, conflict_every, streaming)
        self.data = batches(setup, name == PLAIN)
        self.iterator = None

    def warm_up(self, steps):
        self.model.fit(
            self.data, steps_per_epoch=max(1, steps), shuffle=False, verbose=0
        )
        self.model.make_train_function()
        self.iterator = iter(self.data)

    def step(self):
        """Seconds of one train step (the loss read back to wait for it)."""
        start = time.perf_counter()
        logs = self.model.train_function(self.iterator)
        float(logs["loss"])
        return time.perf_counter() - start


def time_pairs(steppers, comparisons, pairs):
    """Per-pair (model, reference) step times for every comparison.

    Args:
        steppers: dict key -> warmed-up `Stepper`.
        comparisons: list of (model key, reference key).
        pairs: int, pairs per comparison.

    Returns:
        dict (model key, reference key) -> (model times, reference times).

    Pair i of every comparison is timed before pair i + 1 of any, so a
    slow stretch of the machine is spread over all comparisons, and within
    a pair the reference step runs right before the model's (A, B, A, B).
    """
    times = {c: ([], []) for c in comparisons}
    for _ in range(pairs):
        for model_key, reference_key in comparisons:
            reference = steppers[reference_key].step()
            model = steppers[model_key].step()
            times[(model_key, reference_key)][0].append(model)
            times[(model_key, reference_key)][1].append(reference)
    return times


def random_domain_grads(variables, num_domains, seed=0):
    """K lists of random tensors shaped like `variables`."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    return [
        [
            tf.constant(rng.normal(size=v.shape).astype(v.dtype))
            for v in variables
        ]
        for _ in range(num_domains)
    ]


class CombineAlone:
    """A surgery's combine on K gradient lists, and a copy moving the bytes
    of its bandwidth floor.

    The floor of a combine is one read of the K * P gradient values and
    one write of the P update values: (K + 1) * P * 4 bytes (float32).
    The copy (`x + zero`, zero a variable so nothing folds it away) reads
    and writes N = (K + 1) * P / 2 values: the same bytes, at the memory
    bandwidth the machine has now. Both run as `tf.function`s; the combine
    is XLA-compiled when the surgery allows it, as GradSurgeryModel's
    `jit_surgery=True` does.
    """

    def __init__(self, surgery_name, domain_grads, seed=0):
        import tensorflow as tf

        import keras_gs

        self.surgery = keras_gs.surgery.get(surgery_name)
        self.grads = domain_grads
        self.seed = tf.constant([seed, 1], tf.int64)
        self.combine = tf.function(
            lambda grads, seed: self.surgery(grads, seed),
            jit_compile=self.surgery.jit_compile,
            autograph=False,
        )
        k = len(domain_grads)
        params = sum(int(np.prod(g.shape)) for g in domain_grads[0])
        self.floor_bytes = (k + 1) * params * 4
        self.source = tf.random.normal([(k + 1) * params // 2])
        self.zero = tf.Variable(0.0)
        self.copy = tf.function(lambda x: x + self.zero, autograph=False)

    def warm_up(self, calls):
        for _ in range(max(1, calls)):
            self.time_combine()
            self.time_copy()

    def time_combine(self):
        start = time.perf_counter()
        update = self.combine(self.grads, self.seed)
        float(update[-1].numpy().flat[0])
        return time.perf_counter() - start

    def time_copy(self):
        start = time.perf_counter()
        copied = self.copy(self.source)
        float(copied.numpy().flat[0])
        return time.perf_counter() - start


def time_combine_pairs(combines, pairs):
    """dict name -> (combine times, copy times), copy first in each pair."""
    times = {name: ([], []) for name in combines}
    for _ in range(pairs):
        for name, combine in combines.items():
            floor = combine.time_copy()
            times[name][0].append(combine.time_combine())
            times[name][1].append(floor)
    return times
