"""`build_splits`: a `SplitPlan` of a `DomainSource` as tf.data pipelines."""

import dataclasses
import random

import tensorflow as tf

from keras_gs.data import pipeline
from keras_gs.data.domain_source import DomainSource
from keras_gs.data.domain_splits import DomainSplits
from keras_gs.data.split_plan import SplitPlan
from keras_gs.data.zip_domains import TrainingDomain


@dataclasses.dataclass(frozen=True)
class Reading:
    """How `load` reads and prepares each split's examples.

    Args:
        sizes: tuple of int, the resizes (empty: none).
        resize_filter: str, see `images.resize`.
        normalization: str, a key of `images.NORMALIZATIONS`.
        augmenter: the training splits' augmentation, or None.
        cache: bool or str, as `pipeline.resolve_cache` returns it.
        cache_identity: tuple, what names the dataset in the cache keys
            (its name, `data_dir`, `manual_dir`).
        split_seed: int, the seed of the training examples' order.
    """

    sizes: tuple[int, ...]
    resize_filter: str
    normalization: str
    augmenter: object
    cache: bool | str
    cache_identity: tuple
    split_seed: int


def build_splits(
    source: DomainSource, plan: SplitPlan, reading: Reading
) -> DomainSplits:
    """The `DomainSplits` of `plan`: each split decoded, resized, cached,
    then augmented (training only) and normalized, prefetched."""
    train_examples = [
        _examples(source, plan, reading, d, "train", True)
        for d in plan.source_domains
    ]
    channels = train_examples[0].element_spec[0].shape[-1]
    finish_training = pipeline.finishing(
        reading.normalization, reading.augmenter, channels
    )
    finish_evaluation = pipeline.finishing(reading.normalization, None, channels)
    training_domains = [
        TrainingDomain(e, finish_training) for e in train_examples
    ]
    train = [_finished(d.examples, finish_training) for d in training_domains]

    def evaluated(domains, split):
        return _concatenate(
            [
                _finished(
                    _examples(source, plan, reading, d, split, False),
                    finish_evaluation,
                )
                for d in domains
            ]
        )

    val = evaluated(plan.source_domains, "val")
    test = evaluated(plan.test_domains, "test")
    test_val = evaluated(plan.test_domains, "val")
    return DomainSplits(
        train_domains=[d.prefetch(tf.data.AUTOTUNE) for d in train],
        val=val.prefetch(tf.data.AUTOTUNE),
        test=test.prefetch(tf.data.AUTOTUNE),
        source_domains=plan.source_domains,
        test_domains=plan.test_domains,
        class_names=list(source.class_names),
        sizes=plan.counts(),
        image_shape=tuple(train[0].element_spec[0].shape),
        skipped_files=list(source.skipped_files),
        test_val=test_val.prefetch(tf.data.AUTOTUNE),
        domains=list(source.domains),
        training_domains=training_domains,
        domain_sizes=plan.domain_sizes,
    )


def _examples(source, plan, reading, domain, split, training):
    """A split of a domain, decoded, resized and cached (not finished)."""
    indices = list(plan.indices[domain][split])
    if training:
        # Folder trees list files class by class; a shuffled order keeps a
        # small shuffle buffer in zip_domains from drawing batches of a
        # single class.
        random.Random(reading.split_seed).shuffle(indices)
    sizes = reading.sizes
    dataset = source.make_dataset(domain, indices, sizes[0] if sizes else None)
    return pipeline.prepare_examples(
        dataset,
        len(indices),
        sizes,
        cache=reading.cache,
        # Everything that changes the cached images or their order.
        cache_key=repr(
            (*reading.cache_identity, domain, indices, sizes, reading.resize_filter)
        ),
        resize_filter=reading.resize_filter,
    )


def _finished(examples, finish):
    return examples.map(
        lambda x, y: (finish(x), y), num_parallel_calls=tf.data.AUTOTUNE
    ).apply(tf.data.experimental.assert_cardinality(len(examples)))


def _concatenate(datasets):
    result = datasets[0]
    for dataset in datasets[1:]:
        result = result.concatenate(dataset)
    return result
