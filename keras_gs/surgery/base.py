"""The `Surgery` base class: the contract every rule follows."""

import tensorflow as tf

class Surgery:
    """Combines one gradient per source domain into one update.

    A surgery is called as `surgery(domain_grads, seed=None)`, where
    `domain_grads` is a list with one entry per domain, each a list with one
    tensor per trainable variable (all domains in the same variable order).
    It returns a list with one tensor per variable: the direction handed to
    the optimizer.

    Subclasses set `name` (the name users type; `aliases` for others),
    register themselves with Keras serialization
    (`@keras.saving.register_keras_serializable(package="keras_gs")`), are
    listed in `keras_gs/surgery/__init__.py`'s table, and override:
    - `combine(domain_grads, seed)`: the rule itself, on validated tensors.
      `seed` is a shape-`(2,)` integer tensor for stateless random ops; it is
      never `None` inside `combine` for surgeries with `random = True`.
    - `get_config()` if the constructor takes arguments.

    Class attributes:
    - `random`: whether `combine` draws random numbers. `GradSurgeryModel`
      then passes a seed derived from its own seed and the optimizer step,
      so every replica draws the same numbers and a run is reproducible.
    - `joint_batch`: whether `GradSurgeryModel` should take one gradient of
      the concatenated batch of all domains instead of one per domain
      (`erm`).
    - `streams`: whether the surgery depends on the domain gradients only
      through their running sums (`RunningSums`: the total and the sign
      sum). Such a surgery implements `from_sums(sums)`, and
      `GradSurgeryModel(streaming=True)` folds each domain's gradient into
      the sums as soon as it is computed.
    - `jit_compile`: whether `combine` compiles with XLA, so that
      `GradSurgeryModel` may fuse it with the step's other gradient
      arithmetic. False by default: set it where every op has an XLA
      kernel and compiling measures faster.
    - `step_method`: True for the registered methods that change the
      training step itself instead of combining gradients (Fish, Fishr,
      IGA; see `StepMethod`); they cannot be called on gradients.
    """

    name = None
    aliases = ()
    random = False
    joint_batch = False
    jit_compile = False
    streams = False
    # Whether `from_sums` needs the sign sum (not only the total).
    needs_signs = False
    step_method = False

    def __call__(self, domain_grads, seed=None):
        domain_grads = _validated(domain_grads, type(self).__name__)
        if self.random and seed is None:
            seed = tf.random.uniform((2,), maxval=2**31 - 1, dtype=tf.int64)
        return self.combine(domain_grads, seed)

    def combine(self, domain_grads, seed):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `combine`."
        )

    def replaced_masks(self, domain_grads):
        """Per variable, the components this surgery zeroed or replaced.

        A list of boolean tensors, or None for surgeries that change no
        component on its own (sum, mean, PCGrad's whole-vector
        projections). `ConflictMonitor` reports their share per layer.
        """
        del domain_grads
        return None

    def from_sums(self, sums):
        """The update from `RunningSums` (surgeries with `streams`)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not stream: it needs every domain "
            "gradient, not only their running sums."
        )

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _validated(domain_grads, owner):
    if not isinstance(domain_grads, (list, tuple)) or not domain_grads:
        raise ValueError(
            f"{owner} expects a non-empty list with one list of gradients per "
            f"domain. Received: {type(domain_grads).__name__} "
            f"of length {len(domain_grads) if hasattr(domain_grads, '__len__') else '?'}."
        )
    lengths = [len(grads) for grads in domain_grads]
    if len(set(lengths)) != 1:
        raise ValueError(
            f"{owner}: every domain must give one gradient per variable; "
            f"received gradient lists of lengths {lengths}."
        )
    result = []
    for grads in domain_grads:
        result.append([tf.convert_to_tensor(g) for g in grads])
    for v, first in enumerate(result[0]):
        for k, grads in enumerate(result[1:], start=1):
            if grads[v].shape != first.shape:
                raise ValueError(
                    f"{owner}: gradient {v} of domain {k} has shape "
                    f"{grads[v].shape}, but domain 0 has {first.shape}."
                )
    return result
