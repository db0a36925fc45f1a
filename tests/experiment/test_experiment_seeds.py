"""Paired runs: a trial's seed fixes the start of every surgery's run."""

import numpy as np
import tensorflow as tf

from keras_gs import experiment
from keras_gs.data import zip_domains
from keras_gs.experiment import seeds
from keras_gs.experiment.model_slot import ModelSlot


def initial_state(surgery, trial):
    config = experiment.ExperimentConfig()
    slot = ModelSlot(
        config,
        surgery,
        seeds.trial_seed(config.seed, trial),
        (12, 12, 1),
        3,
        2,
        tf.distribute.get_strategy(),
    )
    return slot.initial_state["network"]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_trial_same_start_for_every_surgery():
    erm, pcgrad = initial_state("erm", 0), initial_state("pcgrad", 0)
    # Weights and the dropout layer's seed state.
    assert len(erm) == len(pcgrad) > 0 and same(erm, pcgrad)
    assert not same(erm, initial_state("erm", 1))


def test_same_trial_same_batches():
    domains = [
        tf.data.Dataset.from_tensor_slices(
            (np.arange(50, dtype="float32") + 100 * k, np.zeros(50, "int32"))
        )
        for k in range(2)
    ]

    def first_batches(trial):
        seed = seeds.data_seed(seeds.trial_seed(0, trial))
        stream = zip_domains(domains, 8, seed=seed)
        return [x.numpy() for x, _ in stream.take(3)]

    assert same(first_batches(0), first_batches(0))
    assert not same(first_batches(0), first_batches(1))


def test_seeds_are_stable_numbers():
    # Derived by hashing, not Python's per-process hash(): a resumed run in
    # a new process gets the same seeds.
    assert seeds.trial_seed(0, 0) == seeds.derive(0, "trial", 0) == 1725501518
    assert seeds.trial_seed(0, 0) != seeds.trial_seed(0, 1)
    assert 0 <= seeds.trial_seed(123, 7) < 2**31
    # The data order's seed is the trial's alone: a resumed run draws by
    # step from it (zip_domains' start_step), whatever its start.
    assert seeds.data_seed(5) == seeds.derive(5, "data")
    assert seeds.data_seed(5) != seeds.data_seed(6)
