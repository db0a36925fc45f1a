"""keras_gs: domain generalization by gradient surgery for Keras 3.

Mansilla et al., "Domain Generalization via Gradient Surgery", ICCV 2021.
"""

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
from keras_gs import experiment  # noqa: E402  (uses the modules above)

__version__ = "0.1.0"

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
