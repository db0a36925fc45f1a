"""keras_gs: domain generalization by gradient surgery for Keras 3.

Mansilla et al., "Domain Generalization via Gradient Surgery", ICCV 2021.
`keras_gs.experiment` (the paper's protocol) is imported on first use;
`keras_gs.analysis` and `keras_gs.sweeps` are imported by name.
"""

import importlib
import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with
# AVX-512; elsewhere (e.g. AVX2 AMD EPYC) training is ~5x slower without
# them. The variable is read when TensorFlow is imported, so it only takes
# effect if keras_gs is imported first; set it to 0 to opt out.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from keras_gs import backbones  # noqa: E402
from keras_gs import callbacks  # noqa: E402
from keras_gs import conflicts  # noqa: E402
from keras_gs import data  # noqa: E402
from keras_gs import surgery  # noqa: E402
from keras_gs.model.grad_surgery_model import GradSurgeryModel  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # The experiment layer (the protocol, its TensorBoard hparams, the
    # results tables) is imported on first use, so that what needs only
    # the model, the surgeries or the data does not load it.
    if name == "experiment":
        # (Not `from keras_gs import experiment`: its check of this
        # module's attribute would call this function again.)
        return importlib.import_module("keras_gs.experiment")
    raise AttributeError(f"module 'keras_gs' has no attribute {name!r}")


__all__ = [
    "GradSurgeryModel",
    "backbones",
    "callbacks",
    "conflicts",
    "data",
    "experiment",
    "surgery",
    "__version__",
]
