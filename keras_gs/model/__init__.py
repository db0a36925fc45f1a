"""The training step: `GradSurgeryModel` and its parts."""

from keras_gs.model.grad_surgery_model import GradSurgeryModel

__all__ = ["GradSurgeryModel"]
