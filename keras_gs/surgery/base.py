"""The `Surgery` base class: the contract every rule follows."""

import tensorflow as tf


class Surgery:
    """Combines one gradient per source domain into one update.

    A surgery is called as `surgery(domain_grads, seed=None)`, where
    `domain_grads` is a list with one entry per domain, each a list with one
    tensor per trainable variable (all domains in the same variable order).
    It returns a list with one tensor per variable: the direction handed to
    the optimizer.

    Every surgery belongs to one of two families, which say what statistic
    of the gradients it reads and so how `GradSurgeryModel` computes it:
    - `GramWeighting` (`keras_gs/surgery/gram_weighting.py`): the update is
      a weighted sum sum_k w_k g_k whose weights depend on the gradients
      only through their K x K Gram matrix (PCGrad, MGDA, UPGrad, ...;
      sum and mean, whose weights depend on K only). Subclasses override
      `weights(gram, seed)`.
    - `ElementwiseRule` (`keras_gs/surgery/elementwise.py`): the update
      is computed component by component (Agr-Sum, AND-mask, GradDrop...).
      Subclasses override `combine(domain_grads, seed)`.

    Subclasses also set `name` (the name users type; `aliases` for others),
    register themselves with Keras serialization
    (`@keras.saving.register_keras_serializable(package="keras_gs")`), are
    listed in `keras_gs/surgery/__init__.py`'s table, and override
    `get_config()` if the constructor takes arguments.

    Class attributes:
    - `random`: whether the rule draws random numbers from `seed`, a
      shape-`(2,)` integer tensor for stateless random ops, never `None`
      inside the rule. `GradSurgeryModel` passes a seed derived from its
      own seed and the optimizer step, so every replica draws the same
      numbers and a run is reproducible.
    - `joint_batch`: whether `GradSurgeryModel` should take one gradient of
      the concatenated batch of all domains instead of one per domain
      (`erm`).
    Set by the families, not by rules:
    - `streams`: whether the rule depends on the domain gradients only
      through their running sums, so that
      `GradSurgeryModel(streaming=True)` may fold each domain's gradient in
      as soon as it is computed (`from_sums`).
    - `jit_compile`: whether the rule's element-wise work may be compiled
      with XLA when `GradSurgeryModel` fuses it on CPU.

    State. A rule that carries state from step to step (GradVac's cosine
    targets, Nash-MTL's warm start) declares it in `initial_state`; the
    rule itself stays a pure function of its inputs and the state it is
    handed, and returns the new state. `GradSurgeryModel` keeps the state
    in non-trainable variables of the model (saved with it, the same on
    every replica, unchanged by a skipped step); called directly, a
    surgery carries its state from one call to the next itself.
    - `step_method`: True for the registered methods that change the
      training step itself instead of combining gradients (Fish, Fishr,
      IGA; see `StepMethod`); they cannot be called on gradients.
    """

    name = None
    aliases = ()
    random = False
    joint_batch = False
    streams = False
    jit_compile = False
    step_method = False

    def __call__(self, domain_grads, seed=None):
        domain_grads = _validated(domain_grads, type(self).__name__)
        if self.random and seed is None:
            seed = tf.random.uniform((2,), maxval=2**31 - 1, dtype=tf.int64)
        num_domains = len(domain_grads)
        carried = getattr(self, "_carried_state", None)
        state = None
        if carried is not None and carried[0] == num_domains:
            state = carried[1]
        update, state = self.step(domain_grads, seed, state)
        # Only eager values are carried: a traced call must not keep
        # symbolic tensors (GradSurgeryModel keeps the state in variables).
        if state and tf.executing_eagerly():
            self._carried_state = (num_domains, state)
        return update

    def step(self, domain_grads, seed, state=None):
        """`(update, new_state)`: one step of the rule from `state` (a dict
        of tensors; None for `initial_state`) on validated gradients."""
        del state
        return self.combine(domain_grads, seed), {}

    def combine(self, domain_grads, seed):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `combine`."
        )

    def initial_state(self, num_domains, num_groups=1) -> dict:
        """The state before the first step: a dict of numpy arrays.

        Empty for rules without state. `num_groups` is the number of
        parameter groups the rule reads (`GramWeighting.parameter_groups`;
        1 for the whole network).
        """
        del num_domains, num_groups
        return {}

    def replaced_masks(self, domain_grads):
        """Per variable, the components this surgery zeroed or replaced.

        A list of boolean tensors, or None for surgeries that change no
        component on its own (the Gram weightings: sum, mean, PCGrad,
        MGDA... combine whole gradient vectors). `ConflictMonitor` reports
        their share per layer.
        """
        del domain_grads
        return None

    def from_sums(self, sums):
        """The update from `RunningSums` (surgeries that `streams`)."""
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
