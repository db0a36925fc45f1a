"""`RunEvents`: what a run does at the end of each training chunk.

`fit` runs Keras "epochs" of one chunk each (`Schedule.chunk` steps). At
the end of a chunk, in this order:

1. at an evaluation step: evaluate, append to the history, log to
   TensorBoard, keep the weights (`checkpoint_every`); otherwise keep the
   metrics' accumulators, which Keras resets at the next epoch, so that
   the period's training averages span all its chunks;
2. back up (`backup_every`, or because a stop was asked for);
3. report progress;
4. stop if Ctrl-C or SIGTERM arrived (`interrupts`).
"""

import keras

from keras_gs.experiment import interrupts


class RunEvents(keras.callbacks.Callback):
    """Drives a run's events from Keras's epoch ends.

    Args:
        run: the `run.RunState` whose parts act (history, backup, weights
            files, progress, logger).
        carried: dict or None, metric accumulators by variable path, to
            put back at the first chunk (a run resumed inside a period).
    """

    def __init__(self, run, carried=None):
        super().__init__()
        self.run = run
        self.carried = carried

    def on_epoch_begin(self, epoch, logs=None):
        if self.carried is not None:
            # Keras reset the metrics as the epoch began; the period goes
            # on from the previous chunk's accumulators.
            for variable in self.model.metrics_variables:
                if variable.path in self.carried:
                    variable.assign(self.carried[variable.path])
            self.carried = None
        self.run.chunk_started()

    def on_epoch_end(self, epoch, logs=None):
        run = self.run
        step = run.schedule.chunk_end(epoch)
        run.chunk_finished()
        entry = None
        if run.schedule.evaluates(step):
            entry = run.evaluate(step, logs or {})
        else:
            self.carried = {
                v.path: v.numpy() for v in self.model.metrics_variables
            }
        stopping = interrupts.requested() is not None
        if run.schedule.backs_up(step) or (stopping and step < run.schedule.steps):
            run.backup(step)
        if entry is not None:
            run.report(step, entry)
        if stopping:
            run.stopped_at = step
            interrupts.raise_requested()
