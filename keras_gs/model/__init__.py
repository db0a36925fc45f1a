"""The training step: `GradSurgeryModel` and its parts.

`grad_surgery_model` (the class and its `train_step`), `steps` (the
step rules `train_step` calls with a `StepContext`: the surgeries' and
Fish's, Fishr's and IGA's, and `steps.ending`, the end they share),
`passes` (one forward and backward pass per domain), `combiner`
(where the domain gradients become one update), `surgery_state` (a
stateful surgery's variables), `replicas` (cross-replica sums, loss scale),
`regularization`, `step_metrics`, `domain_axis`, `batchnorm_statistics`,
`joint_batch_losses` and `call_recorder` (what BatchNorm and activity
regularizers compute inside a pass), `layer_statistics` (what
`ConflictMonitor` reads), and `keras_compat` (every Keras internal and
workaround, in one place).
"""

from keras_gs.model.grad_surgery_model import GradSurgeryModel
from keras_gs.model.layer_statistics import LayerStatistics

__all__ = ["GradSurgeryModel", "LayerStatistics"]
