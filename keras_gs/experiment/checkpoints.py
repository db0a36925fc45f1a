"""What an interrupted run resumes from, and the weights a run keeps.

`resume.npz` holds, in one file written atomically, everything a run needs
to go on from an evaluation step as if it had not stopped: the network's
variables (weights and dropout seed state), the optimizer's variables
(Adam's moments and step count) and the run's history so far. One file,
so that the weights and the history can never come from different steps.
"""

import json
import os

import numpy as np

from keras_gs.experiment import files


def model_state(model) -> dict:
    """The variables a run resumes from: the network's and the optimizer's."""
    return {
        "network": [v.numpy() for v in model.network.variables],
        "optimizer": [v.numpy() for v in model.optimizer.variables],
    }


def set_model_state(model, state: dict):
    """Assigns a `model_state` back (same architecture and optimizer)."""
    for group, variables in (
        ("network", model.network.variables),
        ("optimizer", model.optimizer.variables),
    ):
        values = state[group]
        if len(values) != len(variables):
            raise ValueError(
                f"The checkpoint holds {len(values)} {group} variables, the "
                f"model has {len(variables)}: it was written by a different "
                "model. Remove the run directory to start it again."
            )
        for variable, value in zip(variables, values):
            variable.assign(value)


def save_resume(path: str, state: dict, progress: dict):
    """Writes `state` (see `model_state`) and `progress` (JSON) to `path`."""
    arrays = {
        f"{group}_{i}": value
        for group in ("network", "optimizer")
        for i, value in enumerate(state[group])
    }
    arrays["progress"] = np.frombuffer(
        json.dumps(progress).encode("utf-8"), dtype=np.uint8
    )
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as f:
            np.savez(f, **arrays)


def load_resume(path: str) -> tuple[dict, dict] | None:
    """`(state, progress)` from `save_resume`, or None if there is none."""
    if not os.path.exists(path):
        return None
    with np.load(path) as archive:
        progress = json.loads(archive["progress"].tobytes().decode("utf-8"))
        state = {}
        for group in ("network", "optimizer"):
            count = sum(1 for k in archive.files if k.startswith(group + "_"))
            state[group] = [archive[f"{group}_{i}"] for i in range(count)]
    return state, progress


def save_weights(network, path: str):
    """`network.save_weights(path)`, atomically."""
    with files.atomic_path(path) as temporary:
        network.save_weights(temporary)


def save_weight_values(network, values, path: str):
    """Saves `values` (from `get_weights`) as `network`'s weights file.

    The network's own weights are put back afterwards.
    """
    current = network.get_weights()
    network.set_weights(values)
    try:
        save_weights(network, path)
    finally:
        network.set_weights(current)
