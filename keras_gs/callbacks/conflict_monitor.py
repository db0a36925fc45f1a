"""`ConflictMonitor`: where and when the domains' gradients disagree."""

import os
import warnings

import keras

from keras_gs.model import GradSurgeryModel
from keras_gs.model.layer_statistics import LayerStatistics
from keras_gs.utils import distribute
from keras_gs.utils.tensorboard_events import EventWriter


class ConflictMonitor(keras.callbacks.Callback):
    """Writes per-layer gradient conflicts to TensorBoard every N steps.

    For every layer of a `GradSurgeryModel`'s network (named as in the
    model) and every `every_n_steps` optimizer steps, from the domain
    gradients the training step already computed (no extra pass; nothing
    is computed on the other steps):
    - `conflicts/<layer>/agreement`: share of its components whose
      gradient sign all domains agree on;
    - `conflicts/<layer>/cosine`: mean pairwise cosine of the domains'
      gradients restricted to the layer;
    - `conflicts/<layer>/norm_<k>`: domain k's gradient norm there;
    - `conflicts/<layer>/replaced`: share the surgery zeroed or replaced
      (0 for sum, mean, PCGrad);
    - `conflicts/<layer>/sign_agreement` (histogram): over its components,
      |sum_k sign(g_k)|, from 0 (an even split) to K (all agree).
    The logged steps are the optimizer steps 0, N, 2N... (step 0: the
    gradients of the initial weights), each written under its step number.
    Under `tf.distribute` these are the global gradients' measures; only
    the chief writes. With `erm` (one gradient) it writes nothing, nor
    with `fish`, `fishr`, `iga` (their steps change the training itself).

    Args:
        log_dir: str, the TensorBoard directory (a `conflicts` run is
            written inside it).
        every_n_steps: int, log every this many optimizer steps. Defaults
            to `100`.

    Example:

    ```python
    model.fit(train, steps_per_epoch=500, callbacks=[
        keras.callbacks.TensorBoard("logs"),
        keras_gs.callbacks.ConflictMonitor("logs", every_n_steps=50),
    ])
    ```
    """

    def __init__(self, log_dir, every_n_steps=100):
        super().__init__()
        if int(every_n_steps) < 1:
            raise ValueError(
                "ConflictMonitor: `every_n_steps` must be >= 1. Received: "
                f"every_n_steps={every_n_steps}"
            )
        self.log_dir = os.fspath(log_dir)
        self.every_n_steps = int(every_n_steps)
        self._statistics = None
        self._writer = None
        self._written = -1

    def set_model(self, model):
        super().set_model(model)
        if not isinstance(model, GradSurgeryModel):
            raise ValueError(
                "ConflictMonitor monitors a keras_gs.GradSurgeryModel. "
                f"Received: a {type(model).__name__}."
            )
        if not model.measures_conflicts:
            warnings.warn(
                f"ConflictMonitor: {model.surgery.name!r} has no domain "
                "gradients at one point to compare (ERM takes one gradient of "
                "the joint batch; Fish, Fishr and IGA change the step "
                "itself): nothing is logged.",
                stacklevel=2,
            )
            return
        if model.num_domains is None:
            return  # No domain count yet (`fit` learns it before this).
        attached = model.layer_monitor
        if isinstance(attached, LayerStatistics) and (
            attached.every == self.every_n_steps
        ):
            # A model trained again with a new monitor (one per run) keeps
            # its traced step.
            self._statistics = attached
        else:
            self._statistics = LayerStatistics(model, self.every_n_steps)
            model.attach_layer_monitor(self._statistics)

    def on_train_begin(self, logs=None):
        if self._statistics is not None:
            # Forget a step logged by an earlier fit.
            self._statistics.step.assign(-1)

    def on_train_batch_end(self, batch, logs=None):
        if self._statistics is None:
            return
        step = int(self._statistics.step.numpy())
        if step < 0 or step == self._written:
            return
        self._written = step
        if distribute.is_chief(self.model.distribute_strategy):
            self._write(step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def _write(self, step):
        if self._writer is None:
            self._writer = EventWriter(os.path.join(self.log_dir, "conflicts"))
        values = {k: v.numpy() for k, v in self._statistics.values.items()}
        num_domains = values["norms"].shape[1]
        scalars = {}
        for i, layer in enumerate(self._statistics.names):
            for key in ("agreement", "cosine", "replaced"):
                scalars[f"conflicts/{layer}/{key}"] = values[key][i]
            for k in range(num_domains):
                scalars[f"conflicts/{layer}/norm_{k}"] = values["norms"][i, k]
        self._writer.scalars(step, scalars, as_tensors=True)
        for i, layer in enumerate(self._statistics.names):
            self._writer.histogram(
                step,
                f"conflicts/{layer}/sign_agreement",
                values["histogram"][i],
                description=(
                    "|sum over domains of sign(gradient)| per component"
                ),
            )
        self._writer.flush()
