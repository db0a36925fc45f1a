"""The callbacks of a run, built in one place (`make_callbacks`).

`fit` runs with `steps_per_epoch = eval_every`, so a Keras "epoch" is one
evaluation period and `epoch` e ends at step `(e + 1) * eval_every`. At the
end of each period, in this order: evaluate and record (`Evaluate`), keep
the weights of that step (`KeepCheckpoints`, with `checkpoint_every`),
write what a resume needs (`Backup`, every `backup_every` steps), report
progress (`ReportProgress`).
"""

import time

import keras

from keras_gs.callbacks.conflict_monitor import ConflictMonitor
from keras_gs.experiment import interrupts


class _PeriodCallback(keras.callbacks.Callback):
    def __init__(self, state):
        super().__init__()
        self.state = state

    def step(self, epoch):
        return (epoch + 1) * self.state.eval_every

    def crossed(self, epoch, every):
        """Whether this period reached a multiple of `every` steps."""
        step = self.step(epoch)
        return step // every > (step - self.state.eval_every) // every


class Evaluate(_PeriodCallback):
    """Evaluates and appends one entry to the run's history."""

    def on_epoch_begin(self, epoch, logs=None):
        self.state.period_started()

    def on_epoch_end(self, epoch, logs=None):
        self.state.evaluate(self.step(epoch), logs or {})


class KeepCheckpoints(_PeriodCallback):
    """Keeps `checkpoints/step_<n>.weights.h5` every `every` steps (at the
    first evaluation at or after each multiple of `every`)."""

    def __init__(self, state, every):
        super().__init__(state)
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if self.crossed(epoch, self.every):
            with self.state.timed("writing"):
                self.state.save_step_weights(self.step(epoch))


class Backup(_PeriodCallback):
    """Writes the resume checkpoint every `every` steps (at the first
    evaluation at or after each multiple; not at the end, where the run
    writes its results instead)."""

    def __init__(self, state, every):
        super().__init__(state)
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        step = self.step(epoch)
        if self.crossed(epoch, self.every) and step < self.state.steps:
            with self.state.timed("writing"):
                self.state.backup(step)


class ReportProgress(_PeriodCallback):
    """Tells the experiment's `Progress` where the run is."""

    def __init__(self, state, progress):
        super().__init__(state)
        self.progress = progress

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        self.progress.period(self.step(epoch), self.state.history[-1])
        self.state.seconds["other"] += time.perf_counter() - start


def make_callbacks(state, config, progress=None) -> list:
    """The callbacks of one run, in the order they must run."""
    callbacks = [Evaluate(state)]
    if config.checkpoint_every and state.writes_files:
        callbacks.append(KeepCheckpoints(state, config.checkpoint_every))
    if config.backup_every and state.writes_files:
        callbacks.append(Backup(state, config.backup_every))
    if config.conflicts_every:
        # On every worker: its variables are created collectively; only
        # the chief writes.
        callbacks.append(
            ConflictMonitor(state.paths.root, config.conflicts_every)
        )
    if progress is not None:
        callbacks.append(ReportProgress(state, progress))
    # Last: the period's evaluation and backup are written first.
    callbacks.append(interrupts.RaiseIfInterrupted())
    return callbacks
