"""`ModelSlot`: one compiled model, reset to the same start for each run.

Building and tracing a new `GradSurgeryModel` costs a few seconds (about
2 s of tracing for the small CNN on a CPU), as much as a whole run of the
main job. The runs of one surgery and trial share the same initial state,
so one model serves all its target domains: before each run, the network's
and the optimizer's variables are put back to their initial values and the
traced training step is reused.
"""

import keras
import numpy as np

from keras_gs import surgery as surgery_lib
from keras_gs.experiment import checkpoints
from keras_gs.model import keras_compat
from keras_gs.experiment import evaluation
from keras_gs.experiment import run_inputs
from keras_gs.experiment.schedule import Schedule
from keras_gs.model.grad_surgery_model import GradSurgeryModel


class ModelSlot:
    """A compiled `GradSurgeryModel` and its initial state.

    Args:
        config: the `ExperimentConfig`.
        surgery: str, the surgery's name.
        seed: int, the trial's seed: initial weights (set with
            `keras.utils.set_random_seed` before building), dropout and the
            surgery's draws.
        image_shape: tuple of int, the shape of one image.
        num_classes: int.
        num_domains: int, the number of source domains.
        strategy: the `tf.distribute.Strategy` to build under.
    """

    def __init__(
        self,
        config,
        surgery,
        seed,
        image_shape,
        num_classes,
        num_domains,
        strategy,
    ):
        self.key = slot_key(
            surgery, seed, image_shape, num_classes, num_domains
        )
        keras.utils.set_random_seed(seed)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(
            "mixed_float16" if config.mixed_precision else "float32"
        )
        try:
            with strategy.scope():
                network = run_inputs.build_network(
                    config, image_shape, num_classes, weights=config.weights
                )
                model = GradSurgeryModel(
                    network,
                    surgery=surgery_lib.get(
                        surgery, **config.surgery_kwargs(surgery)
                    ),
                    num_domains=num_domains,
                    coupled_l2=config.coupled_l2,
                    seed=seed,
                    warmup_steps=config.warmup_steps,
                )
                # One execution per chunk of the run's schedule (every
                # event falls on a chunk's end); one step per execution
                # with several replicas, where Keras's loop fails (see
                # keras_gs.model.keras_compat.one_step_per_execution).
                steps_per_execution = (
                    Schedule.of(config).chunk
                    if strategy.num_replicas_in_sync == 1
                    else 1
                )
                model.compile(
                    optimizer=keras.optimizers.Adam(
                        config.lr, weight_decay=config.weight_decay or None
                    ),
                    loss=keras.losses.SparseCategoricalCrossentropy(
                        from_logits=True
                    ),
                    metrics=["accuracy"],
                    steps_per_execution=steps_per_execution,
                )
                # Built now so that its variables exist to be reset and
                # restored before the first step: the optimizer's and the
                # compiled metrics' (a run resumed inside an evaluation
                # period restores their accumulators).
                model.optimizer.build(model.trainable_variables)
                keras_compat.build_compiled_metrics(
                    model,
                    np.zeros((1, *image_shape), network.input.dtype),
                    np.zeros((1,), "int32"),
                )
        finally:
            keras.config.set_dtype_policy(previous)
        self.model = model
        self.network = network
        state = checkpoints.model_state(model)
        self.initial_state = state
        # Adam's moments start at zero (Fish's inner Adam's, Fishr's moving
        # averages too): no copy of them is kept.
        self._initial_optimizer = [
            value if value.any() else None
            for value in state.pop("optimizer") + state.pop("step")
        ]
        self.count_correct = evaluation.count_correct(network)
        self.fits = 0

    def reset(self):
        """Puts the network, the optimizer, the surgery's state (GradVac,
        Nash-MTL) and the step's own variables (Fish's inner optimizer,
        Fishr's moving averages) back to their initial state."""
        for variable, value in zip(
            self.network.variables, self.initial_state["network"]
        ):
            variable.assign(value)
        self.model.reset_surgery_state()
        for variable, value in zip(
            self.model.optimizer.variables + self.model.step_variables,
            self._initial_optimizer,
        ):
            if value is None:
                value = keras.ops.zeros(variable.shape, variable.dtype)
            variable.assign(value)


def slot_key(surgery, seed, image_shape, num_classes, num_domains):
    """What a run needs of a slot: the same key means it can be reused."""
    return (surgery, seed, tuple(image_shape), num_classes, num_domains)
