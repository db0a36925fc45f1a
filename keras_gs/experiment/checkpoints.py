"""The weights files a run keeps, and a model's state in memory.

`save_weights` writes `step_<n>`, `best` and `last` weights atomically;
`model_state` copies a model's variables in memory (a `ModelSlot` puts its
model back to its initial state between runs). What an interrupted run
resumes from is `backup`.
"""

import errno
import os
import shutil

import numpy as np

from keras_gs.experiment import files


def model_state(model) -> dict:
    """The variables a run resumes from: the network's, the optimizer's and
    the training step's own (`GradSurgeryModel.step_variables`)."""
    return {
        "network": [v.numpy() for v in model.network.variables],
        "optimizer": [v.numpy() for v in model.optimizer.variables],
        "step": [v.numpy() for v in model.step_variables],
    }


def save_weights(network, path: str):
    """`network.save_weights(path)`, atomically.

    The free space is checked first: h5py crashes the process (a
    segmentation fault) when the disk fills while it writes.

    Raises:
        OSError: naming `path`, when the disk has no room for the file.
    """
    directory = os.path.dirname(path) or "."
    needed = sum(int(np.prod(v.shape)) * 4 for v in network.weights) + 2**20
    free = shutil.disk_usage(directory if os.path.isdir(directory) else ".").free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"No room for {path} ({needed // 2**20 + 1} MB needed, "
            f"{free // 2**20} MB free)",
        )
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
