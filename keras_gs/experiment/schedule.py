"""`Schedule`: when a run evaluates, keeps weights, backs up and logs.

Keras's `fit` calls callbacks once per execution of `steps_per_execution`
steps, and runs "epochs" of a fixed number of steps. A run's events fall
on steps of their own: an evaluation every `eval_every` steps and at the
last step, conflicts every `conflicts_every`. So the run trains in chunks
of `chunk` steps, the greatest common divisor of those periods and of the
run's length: every event falls on a chunk's end, a Keras epoch is one
chunk, and the callbacks act on the chunk ends that are events. (The main
job, 600 steps evaluated every 20, trains in chunks of 20 steps.)
"""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The steps of a run's events.

    Args:
        steps: int, the run's length.
        eval_every: int, steps between evaluations (and one at `steps`).
        checkpoint_every: int, keep the weights at the first evaluation at
            or after each multiple (0: never).
        backup_every: int, back up at the first evaluation at or after
            each multiple, before the end (0: never).
        conflicts_every: int, per-layer conflicts every this many
            optimizer steps (0: never).
    """

    steps: int
    eval_every: int
    checkpoint_every: int = 0
    backup_every: int = 0
    conflicts_every: int = 0

    @classmethod
    def of(cls, config) -> "Schedule":
        """The schedule of an `ExperimentConfig`'s runs."""
        return cls(
            steps=config.steps,
            eval_every=config.eval_every,
            checkpoint_every=config.checkpoint_every,
            backup_every=config.backup_every,
            conflicts_every=config.conflicts_every,
        )

    @property
    def chunk(self) -> int:
        """Steps per Keras epoch: every event falls on a chunk's end."""
        periods = [self.steps, self.eval_every]
        if self.conflicts_every:
            periods.append(self.conflicts_every)
        return math.gcd(*periods)

    @property
    def num_chunks(self) -> int:
        return self.steps // self.chunk

    def chunk_end(self, epoch: int) -> int:
        """The step at which Keras epoch `epoch` ends."""
        return (epoch + 1) * self.chunk

    def evaluations(self) -> list[int]:
        """Every evaluation step: each multiple of `eval_every`, and the
        last step."""
        steps = list(range(self.eval_every, self.steps + 1, self.eval_every))
        if not steps or steps[-1] != self.steps:
            steps.append(self.steps)
        return steps

    def evaluates(self, step: int) -> bool:
        return step % self.eval_every == 0 or step == self.steps

    def previous_evaluation(self, step: int) -> int:
        """The evaluation before `step` (0 for the first)."""
        earlier = [s for s in self.evaluations() if s < step]
        return earlier[-1] if earlier else 0

    def keeps_weights(self, step: int) -> bool:
        return self.evaluates(step) and _crossed(
            step, self.previous_evaluation(step), self.checkpoint_every
        )

    def backs_up(self, step: int) -> bool:
        return (
            step < self.steps
            and self.evaluates(step)
            and _crossed(step, self.previous_evaluation(step), self.backup_every)
        )


def _crossed(step, previous, every):
    """Whether (previous, step] holds a multiple of `every`."""
    return bool(every) and step // every > previous // every
