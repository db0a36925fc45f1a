"""The paper's gradient-conflict analysis (METHOD.md §4), per layer.

Do the domain gradients of a trained network conflict, where, and how does
that change over training? For each checkpoint of a run and each layer
(and the whole network): the share of components whose sign all domain
gradients agree on, and the cosine between per-example gradients of one
domain (intra) versus of two domains (inter), on batches of a single class
as in the paper's helpers, and on batches of all classes.
`tools/analyze_conflicts.py` is the command-line front end.

The modules, one purpose each: `per_example` (per-example gradients,
vectorized), `measures` (the measures from the gradients), `sampling`
(the batches), `analyze` (`ConflictAnalyzer`: measures of a network over
checkpoints), `run_dir` (a trained run's settings, checkpoints, data and
network), `report` (CSV, plots, summary). The variables are grouped by
layer by `keras_gs.conflicts.layer_groups`.

Example:

```python
from keras_gs import analysis

run = analysis.open_run("runs/rotated_digits/agr-sum/0/trial_0")
splits = analysis.load_splits(run.config)
network = analysis.build_network(run.config, splits)
batches = analysis.class_batches(splits.train_domains, splits.num_classes)
report = analysis.ConflictAnalyzer(network).analyze(
    batches, run.select(), splits.class_names
)
analysis.write_outputs(report, "conflicts")
```
"""

from keras_gs.analysis.analyze import ConflictAnalyzer
from keras_gs.analysis.analyze import ConflictReport
from keras_gs.conflicts.layer_groups import LayerGroup
from keras_gs.conflicts.layer_groups import layer_groups
from keras_gs.analysis.measures import MEASURES
from keras_gs.analysis.measures import conflict_measures
from keras_gs.analysis.per_example import per_example_gradients
from keras_gs.analysis.report import summary
from keras_gs.analysis.report import write_outputs
from keras_gs.analysis.run_dir import Checkpoint
from keras_gs.analysis.run_dir import build_network
from keras_gs.analysis.run_dir import load_splits
from keras_gs.analysis.run_dir import open_run
from keras_gs.analysis.sampling import class_batches

__all__ = [
    "Checkpoint",
    "ConflictAnalyzer",
    "ConflictReport",
    "LayerGroup",
    "MEASURES",
    "build_network",
    "class_batches",
    "conflict_measures",
    "layer_groups",
    "load_splits",
    "open_run",
    "per_example_gradients",
    "summary",
    "write_outputs",
]
