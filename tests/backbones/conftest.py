"""Random torchvision state dicts (as `.npz`) and their ported weights.

Built once per session: AlexNet's has 61 M parameters.
"""

import numpy as np
import pytest
import torch_reference

from keras_gs.backbones import torchvision_port

NUM_CLASSES = 1000


def _state_dict(arch):
    rng = np.random.default_rng(
        {"alexnet": 0, "resnet18": 18, "resnet50": 50}[arch]
    )
    if arch == "alexnet":
        return torch_reference.alexnet_state_dict(rng, NUM_CLASSES)
    return torch_reference.resnet_state_dict(rng, int(arch[6:]), NUM_CLASSES)


class Ported:
    """A random state dict, its .npz and its ported .weights.h5."""

    def __init__(self, arch, folder):
        self.arch = arch
        self.state_dict = _state_dict(arch)
        self.npz = folder / f"{arch}.npz"
        np.savez(self.npz, **self.state_dict)
        self.weights = torchvision_port.port(
            arch, self.npz, folder / f"{arch}.weights.h5"
        )


@pytest.fixture(scope="session")
def ported(tmp_path_factory):
    """ported(arch) -> Ported, made once per arch and session."""
    made = {}

    def get(arch):
        if arch not in made:
            made[arch] = Ported(arch, tmp_path_factory.mktemp(arch))
        return made[arch]

    return get
