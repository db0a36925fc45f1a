"""`JobRunner`: runs a job as one run of the protocol (`keras_gs.experiment`).

A job's run is written where `tools/train.py` would write it with the
job's settings, in the work directory of its configuration
(`<workdir>/hparams_<index>/`), with its config, results, TensorBoard logs
(HParams included) and checkpoints. A run found finished is not trained
again (a job whose worker died after the run finished), and an interrupted
one resumes from its last backup.

The runner keeps the `Experiment` of its last configuration: the next job
of the same configuration (another target) reuses its traced model, which
saves as much time as a short run takes.
"""

import dataclasses
import time

from keras_gs import experiment
from keras_gs.experiment import files


class JobRunner:
    """Runs jobs; see `worker.Worker`'s `run_job`.

    Args:
        config: the `SweepConfig`.
        targets: list of str, the sweep's target domains, resolved.
        stream: a text stream for long runs' status lines, or None for
            none. Defaults to `None`.
        status_every: float, seconds between status lines of a run.
            Defaults to `60`.
    """

    def __init__(self, config, targets, stream=None, status_every=60.0):
        self.config = config
        self.targets = list(targets)
        self.stream = stream
        self.status_every = status_every
        self._key = None
        self._experiment = None

    def __call__(self, job, hparams, report) -> dict:
        """Runs `job` with settings `hparams`; returns its results.

        Args:
            job: a `jobs.Job`.
            hparams: dict of settings (`registry.draw`).
            report: callable `(step, entry)`, called at each evaluation.

        Returns:
            The run's `results.json` contents.
        """
        config = self.config.experiment_config(job, hparams)
        spec = experiment.RunSpec(job.surgery, job.target, job.trial)
        # The targets do not change a run's settings: one Experiment serves
        # every target of a configuration.
        key = dataclasses.replace(config, test_domains="all")
        if key != self._key:
            # Free the previous configuration's models first.
            self._experiment = self._key = None
            others = [t for t in self.targets if t != job.target]
            self._experiment = experiment.Experiment(
                # The job's target first: the data Experiment loads first.
                dataclasses.replace(config, test_domains=(job.target, *others)),
                runs=[
                    experiment.RunSpec(job.surgery, t, job.trial)
                    for t in self.targets
                ],
                # The fine-tuning regime: every configuration fine-tunes
                # the flagfile's stage (the "pretrained network" is fixed;
                # the sweep tunes the fine-tuning), shared by all jobs.
                stage=self.config.experiment.pretrain_stage(),
            )
            self._key = key
        progress = _JobProgress(job, config.steps, report, self)
        self._experiment.run(progress, runs=[spec])
        return files.read_json(files.RunPaths.of_run(config, spec).results)


class _JobProgress(experiment.Progress):
    """The `Progress` of a job's run: reports every evaluation to the
    trial, and prints a status line now and then for long runs."""

    def __init__(self, job, steps, report, runner):
        super().__init__(1, steps, stream=runner.stream)
        self.job = job
        self.report = report
        self.runner = runner
        self._printed = time.perf_counter()

    def print(self, text):
        pass  # "already finished: skipped" and the like: the worker says.

    def run_started(self, spec, start_step):
        if start_step and self.runner.stream is not None:
            print(
                f"{self.job.name}: resuming from step {start_step}",
                file=self.runner.stream,
                flush=True,
            )

    def period(self, step, entry):
        self.report(step, entry)
        now = time.perf_counter()
        if (
            self.runner.stream is not None
            and now - self._printed >= self.runner.status_every
        ):
            self._printed = now
            print(
                f"{self.job.name}: step {step}/{self.steps}, source val "
                f"{entry['source_val_accuracy']:.3f}",
                file=self.runner.stream,
                flush=True,
            )

    def run_finished(self, spec, results):
        pass

    def interrupted(self, backup_step, by="Ctrl-C"):
        if self.runner.stream is not None:
            print(
                f"{self.job.name}: interrupted ({by}); its checkpoint of step "
                f"{backup_step} is kept.",
                file=self.runner.stream,
                flush=True,
            )
