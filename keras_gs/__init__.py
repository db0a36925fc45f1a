"""keras_gs: domain generalization by gradient surgery for Keras 3.

Mansilla et al., "Domain Generalization via Gradient Surgery", ICCV 2021.
"""

from keras_gs import conflicts
from keras_gs import data
from keras_gs import surgery
from keras_gs.grad_surgery_model import GradSurgeryModel

__version__ = "0.1.0"

__all__ = ["GradSurgeryModel", "conflicts", "data", "surgery", "__version__"]
