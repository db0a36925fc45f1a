"""The paper's protocol: leave-one-domain-out runs, selection, results.

`ExperimentConfig` holds every setting (its defaults are the main job on
the embedded digits; `ExperimentConfig.paper(dataset)` the paper's);
`run_experiment(config)` trains every (trial, target, surgery) run, skipping
finished ones and resuming interrupted ones, and writes the results table;
`collect(workdir)` reads the table back at any time. `tools/train.py` is
the command-line front end.

The modules, one purpose each: `config` (settings), `protocol` (the loop
over runs), `run` (one run), `run_inputs` (a run's data and network),
`schedule` (when a run evaluates, keeps weights, backs up),
`run_callbacks` (what happens at those steps), `run_history` (what a run
records), `backup` (what an interrupted run resumes from), `run_lock`
(one process per run), `checkpoints` (weights files), `model_slot` (a
model reused across runs), `evaluation`, `selection` (the selection
rules), `files` (layout), `tensorboard`, `tables` (the results table and
reports), `progress`, `stopwatch`, `interrupts` (Ctrl-C, SIGTERM),
`seeds`, `strategy` (which `tf.distribute` strategy).
"""

from keras_gs.experiment import interrupts
from keras_gs.experiment.config import ExperimentConfig
from keras_gs.experiment.protocol import Experiment
from keras_gs.experiment.protocol import ExperimentSummary
from keras_gs.experiment.progress import Progress
from keras_gs.experiment.protocol import run_experiment
from keras_gs.experiment.run import RunSpec
from keras_gs.experiment.run import train_run
from keras_gs.experiment.selection import RULES as SELECTION_RULES
from keras_gs.experiment.selection import select
from keras_gs.experiment.tables import collect
from keras_gs.experiment.tables import write_reports

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "ExperimentSummary",
    "Progress",
    "RunSpec",
    "SELECTION_RULES",
    "collect",
    "interrupts",
    "run_experiment",
    "select",
    "train_run",
    "write_reports",
]
